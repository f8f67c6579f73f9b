package raylet

import (
	"os"
	"runtime"

	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/internal/sysmem"
)

// DetectResources returns what this host offers when nothing is set:
// CPU = runtime.NumCPU(), memory = 70% of physical memory (as Ray leaves
// room for the object store and the system), GPU = the GPUs an NVIDIA
// driver lists in /proc/driver/nvidia/gpus, if any.
func DetectResources() gcs.Resources {
	r := gcs.Resources{gcs.CPU: float64(runtime.NumCPU())}
	if m := sysmem.Total(); m > 0 {
		r[gcs.Memory] = float64(m / 10 * 7)
	}
	if g := nvidiaGPUs(); g > 0 {
		r[gcs.GPU] = float64(g)
	}
	return r
}

func nvidiaGPUs() int {
	entries, err := os.ReadDir("/proc/driver/nvidia/gpus")
	if err != nil {
		return 0
	}
	return len(entries)
}
