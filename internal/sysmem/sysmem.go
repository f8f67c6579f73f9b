// Package sysmem tells how much memory the host has, for the defaults
// that are a share of it (the object store, a node's memory resource).
package sysmem

import "golang.org/x/sys/unix"

// Total is the host's physical memory in bytes; 0 when it cannot be read.
func Total() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}
