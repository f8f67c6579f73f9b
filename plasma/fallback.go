package plasma

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/goray-dev/goray/internal/bytesize"
)

// fallbackState is the store's set of fallback files: objects that found
// no room in the arena, each in a file-backed mapping of its own.
type fallbackState struct {
	files map[string]*fallbackFile
	seq   uint64
	bytes uint64
}

type fallbackFile struct {
	path   string
	file   *os.File
	rw, ro []byte
	size   uint64
}

// newFallbackFile creates, reserves and maps a file of size bytes at path.
// It takes no lock: the store calls it with its own lock released, since
// reserving a large file takes a while.
func newFallbackFile(path string, size uint64) (_ *fallbackFile, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("plasma: create fallback file: %w", err)
	}
	fb := &fallbackFile{path: path, file: f, size: size}
	defer func() {
		if err != nil {
			fb.close()
		}
	}()
	if size > 0 {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
			return nil, fmt.Errorf("plasma: reserve %s for a fallback object: %w", bytesize.Format(size), err)
		}
		if fb.rw, err = unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
			return nil, fmt.Errorf("plasma: map fallback file: %w", err)
		}
		if fb.ro, err = unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED); err != nil {
			return nil, fmt.Errorf("plasma: map fallback file: %w", err)
		}
	}
	return fb, nil
}

// nextPath names the next fallback file in dir.
func (st *fallbackState) nextPath(dir string) string {
	st.seq++
	return filepath.Join(dir, fmt.Sprintf("fallback-%d", st.seq))
}

// add records a file made by newFallbackFile.
func (st *fallbackState) add(fb *fallbackFile) {
	if st.files == nil {
		st.files = make(map[string]*fallbackFile)
	}
	st.files[fb.path] = fb
	st.bytes += fb.size
}

func (st *fallbackState) free(fb *fallbackFile) {
	delete(st.files, fb.path)
	st.bytes -= fb.size
	fb.close()
}

func (st *fallbackState) closeAll() {
	for _, fb := range st.files {
		st.free(fb)
	}
}

func (fb *fallbackFile) close() {
	for _, m := range [][]byte{fb.rw, fb.ro} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
	fb.rw, fb.ro = nil, nil
	_ = fb.file.Close()
	_ = os.Remove(fb.path)
}
