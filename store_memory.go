package goray

import (
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray/raylet"
)

// embeddedStoreCap bounds the default object store of a cluster inside
// one process: reserving the arena up front costs about 0.5 s per GiB on
// the machines we measured, and a program that calls Init expects to
// start at once.
const embeddedStoreCap = 1 << 30

// defaultStoreMemory is 30% of RAM (at most 1 GiB for an embedded
// cluster), capped at half of what /dev/shm has free, so that the default
// never fails on a host (or container) with a small /dev/shm; that cap is
// logged.
func defaultStoreMemory(embedded bool, log *slog.Logger) uint64 {
	size := max(raylet.PhysicalMemory()/10*3, minStoreMemory)
	if embedded {
		size = min(size, embeddedStoreCap)
	}
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil {
		free := st.Bavail * uint64(st.Bsize)
		if size > free/2 {
			log.Warn("goray: object store capped at half of /dev/shm's free space; enlarge /dev/shm (docker: --shm-size) or set the object store memory",
				"wanted", size, "size", free/2)
			size = free / 2
		}
	}
	return size / 4096 * 4096
}

// minStoreMemory is the least a default store asks for, unless /dev/shm
// has less room.
const minStoreMemory = 64 << 20
