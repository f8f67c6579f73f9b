package goray

import (
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray/raylet"
)

// defaultStoreMemory is 30% of RAM, capped at half of what /dev/shm has
// free, so that the default never fails on a host (or container) with a
// small /dev/shm; the cap is logged.
func defaultStoreMemory(log *slog.Logger) uint64 {
	size := raylet.PhysicalMemory() / 10 * 3
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil {
		free := st.Bavail * uint64(st.Bsize)
		if size == 0 || size > free/2 {
			log.Warn("goray: object store capped at half of /dev/shm's free space; enlarge /dev/shm (docker: --shm-size) or set the object store memory",
				"wanted", size, "size", free/2)
			size = free / 2
		}
	}
	return max(size/4096*4096, 64<<20)
}
