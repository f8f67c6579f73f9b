package plasma

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray/internal/bytesize"
)

// Arena is the shared-memory file that holds a node's objects, mapped into
// this process twice: read-write for writers filling created objects, and
// read-only for the views readers get, so that a sealed object cannot be
// changed through a view by mistake. Each process maps it once for life.
type Arena struct {
	path string
	size uint64
	file *os.File
	rw   []byte
	ro   []byte
	lock bool // this process owns the arena: it holds the flock and removes the file on Close
}

const (
	arenaPrefix = "goray-arena-"
	arenaSuffix = ".shm"
	localPrefix = "goray-store-"
	lockName    = "lock"
	// tmpGrace is how long a file being set up (created, not yet locked)
	// is left alone by sweeps.
	tmpGrace = time.Minute
)

// ErrArenaSpace means the arena's file system has no room for the
// configured arena.
var ErrArenaSpace = errors.New("plasma: not enough space for the arena")

// createArena creates, reserves, locks and maps a new arena of size bytes
// in dir. The file is created under a temporary name, locked, reserved with
// fallocate and only then renamed, so a sweep never sees an unlocked arena
// of a live node.
func createArena(dir, id string, size uint64) (_ *Arena, err error) {
	final := filepath.Join(dir, arenaPrefix+id+arenaSuffix)
	tmp := filepath.Join(dir, "."+arenaPrefix+id+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("plasma: create arena: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
			_ = os.Remove(final)
			_ = f.Close()
		}
	}()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("plasma: lock arena %s: %w", tmp, err)
	}
	if err := reserve(f, dir, size); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("plasma: create arena: %w", err)
	}
	a := &Arena{path: final, size: size, file: f, lock: true}
	if err := a.mapFile(); err != nil {
		return nil, err
	}
	return a, nil
}

// reserve allocates every page of the file now, so that a full tmpfs is an
// error here and never a SIGBUS on first write.
func reserve(f *os.File, dir string, size uint64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size))
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) {
		var st unix.Statfs_t
		free := "unknown"
		if unix.Statfs(dir, &st) == nil {
			free = bytesize.Format(st.Bavail * uint64(st.Bsize))
		}
		return fmt.Errorf("%w: %s needs %s, %s has %s free; lower the object store memory or enlarge %s (docker: --shm-size)",
			ErrArenaSpace, f.Name(), bytesize.Format(size), dir, free, dir)
	}
	return fmt.Errorf("plasma: reserve %s for the arena: %w", bytesize.Format(size), err)
}

// OpenArena maps an existing arena of size bytes, as a client process of
// the node does; it takes no lock and never removes the file.
func OpenArena(path string, size uint64) (*Arena, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("plasma: open arena: %w", err)
	}
	st, err := f.Stat()
	if err != nil || uint64(st.Size()) < size {
		_ = f.Close()
		return nil, fmt.Errorf("plasma: arena %s is smaller than %d bytes (%v)", path, size, err)
	}
	a := &Arena{path: path, size: size, file: f}
	if err := a.mapFile(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return a, nil
}

func (a *Arena) mapFile() error {
	if a.size == 0 {
		return nil
	}
	flags := unix.MAP_SHARED
	rw, err := unix.Mmap(int(a.file.Fd()), 0, int(a.size), unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		return fmt.Errorf("plasma: map arena: %w", err)
	}
	ro, err := unix.Mmap(int(a.file.Fd()), 0, int(a.size), unix.PROT_READ, flags)
	if err != nil {
		_ = unix.Munmap(rw)
		return fmt.Errorf("plasma: map arena read-only: %w", err)
	}
	a.rw, a.ro = rw, ro
	return nil
}

// prefaultChunk is how much of the arena one prefault step maps; between
// steps the prefault checks whether it should stop.
const prefaultChunk = 64 << 20

// prefault maps every page of the arena into this process, writable and
// read-only, so that no write or read faults later. On this kind of VM
// the first touch of fresh memory runs at well under 1 GB/s, which for a
// default arena (30% of RAM) takes tens of seconds, so the store runs it
// in the background: until it is done, a page simply faults on its first
// use. It returns the bytes done when ctx ends or an error stops it.
func (a *Arena) prefault(ctx context.Context, done *atomic.Uint64) error {
	for off := uint64(0); off < a.size; off += prefaultChunk {
		if ctx.Err() != nil {
			return nil
		}
		end := min(off+prefaultChunk, a.size)
		if err := unix.Madvise(a.rw[off:end], unix.MADV_POPULATE_WRITE); err != nil {
			return fmt.Errorf("plasma: prefault the arena: %w", err)
		}
		if err := unix.Madvise(a.ro[off:end], unix.MADV_POPULATE_READ); err != nil {
			return fmt.Errorf("plasma: prefault the arena: %w", err)
		}
		done.Store(end)
	}
	return nil
}

// Path is the arena's file.
func (a *Arena) Path() string { return a.path }

// Size is the arena's size in bytes.
func (a *Arena) Size() uint64 { return a.size }

// writable returns the writable bytes of a block.
func (a *Arena) writable(off, n uint64) []byte { return a.rw[off : off+n : off+n] }

// readable returns the read-only bytes of a block.
func (a *Arena) readable(off, n uint64) []byte { return a.ro[off : off+n : off+n] }

// Contains reports whether p points into the arena's read-only mapping: a
// view handed out by Get always does.
func (a *Arena) Contains(p []byte) bool {
	if len(p) == 0 || len(a.ro) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(a.ro)))
	q := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return q >= base && q+uintptr(len(p)) <= base+uintptr(len(a.ro))
}

// Close unmaps the arena; the owner also removes the file, which frees its
// memory once every other process has unmapped it.
func (a *Arena) Close() error {
	var errs []error
	for _, m := range [][]byte{a.rw, a.ro} {
		if m != nil {
			errs = append(errs, unix.Munmap(m))
		}
	}
	a.rw, a.ro = nil, nil
	if a.lock {
		errs = append(errs, os.Remove(a.path))
	}
	errs = append(errs, a.file.Close())
	return errors.Join(errs...)
}

// sweep removes arena files and store directories left by nodes that died:
// those whose lock nobody holds. It returns how many it removed.
func sweep(log *slog.Logger, dirs ...string) int {
	removed := 0
	seen := map[string]bool{}
	for _, dir := range dirs {
		if dir == "" || seen[dir] {
			continue
		}
		seen[dir] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if !isStale(p, e) {
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				log.Warn("plasma: cannot remove a dead node's file", "path", p, "err", err)
				continue
			}
			log.Info("plasma: removed a dead node's file", "path", p)
			removed++
		}
	}
	return removed
}

// isStale reports whether p is an arena or store directory of a node that
// is gone.
func isStale(p string, e os.DirEntry) bool {
	name := e.Name()
	switch {
	case strings.HasPrefix(name, arenaPrefix) && strings.HasSuffix(name, arenaSuffix):
		return lockFree(p)
	case strings.HasPrefix(name, localPrefix) && e.IsDir():
		lock := filepath.Join(p, lockName)
		if !exists(lock) {
			return olderThan(p, tmpGrace)
		}
		return lockFree(lock)
	case strings.HasPrefix(name, "."+arenaPrefix) && strings.HasSuffix(name, ".tmp"):
		return olderThan(p, tmpGrace) && lockFree(p)
	case strings.HasPrefix(name, "."+localPrefix) && strings.HasSuffix(name, ".tmp") && e.IsDir():
		// Being set up, or left by a store that died setting it up.
		return olderThan(p, tmpGrace) && (!exists(filepath.Join(p, lockName)) || lockFree(filepath.Join(p, lockName)))
	}
	return false
}

// lockFree reports whether nobody holds the flock of the file at p.
func lockFree(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return true
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func olderThan(p string, d time.Duration) bool {
	st, err := os.Stat(p)
	return err == nil && time.Since(st.ModTime()) > d
}
