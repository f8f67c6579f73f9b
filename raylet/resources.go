package raylet

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/goray-dev/goray/gcs"
)

// DetectResources returns what this host offers when nothing is set:
// CPU = runtime.NumCPU(), memory = 70% of physical memory (as Ray leaves
// room for the object store and the system), GPU = the GPUs an NVIDIA
// driver lists in /proc/driver/nvidia/gpus, if any.
func DetectResources() gcs.Resources {
	r := gcs.Resources{gcs.CPU: float64(runtime.NumCPU())}
	if m := PhysicalMemory(); m > 0 {
		r[gcs.Memory] = float64(m / 10 * 7)
	}
	if g := nvidiaGPUs(); g > 0 {
		r[gcs.GPU] = float64(g)
	}
	return r
}

// PhysicalMemory is the host's RAM in bytes (0 when unknown).
func PhysicalMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(fields[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func nvidiaGPUs() int {
	entries, err := os.ReadDir("/proc/driver/nvidia/gpus")
	if err != nil {
		return 0
	}
	return len(entries)
}
