package goray

import "github.com/goray-dev/goray/plasma"

// embeddedStoreCap bounds the default object store of a cluster inside
// one process: reserving the arena up front costs about 0.5 s per GiB on
// the machines we measured, and a program that calls Init expects to
// start at once. Other nodes take plasma's default (30% of RAM, capped
// at half of /dev/shm's free space).
const embeddedStoreCap = 1 << 30

// storeMemory is the object store size: the one asked for, or for an
// embedded cluster plasma's default capped at embeddedStoreCap; 0 lets
// plasma choose.
func (rt *Runtime) storeMemory() uint64 {
	if rt.cfg.storeMem != 0 || rt.cfg.address != "" || rt.cfg.head {
		return rt.cfg.storeMem
	}
	size, capped := plasma.DefaultCapacity(plasma.DefaultDir)
	if capped {
		rt.log.Warn("goray: object store capped at half of /dev/shm's free space; enlarge /dev/shm (docker: --shm-size) or set the object store memory",
			"size", size)
	}
	return min(size, embeddedStoreCap)
}
