package plasma

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Client is one process's handle on its node's store. In the store's own
// process it calls the store directly ([Store.Client]); in any other
// process of the node it talks to the store's actor over the bus and maps
// the arena once for life ([Connect]). Both behave the same.
//
// A Client is safe for concurrent use. Its holds on objects end when it is
// closed, or when its process dies.
type Client struct {
	t      transport
	arena  *Arena
	store  *Store // set in the store's own process
	closed atomic.Bool
	// unmapping is held for writing while Close unmaps the arena, and for
	// reading while a call turns a location into a slice of it.
	unmapping sync.RWMutex
}

// transport is how a client reaches the store.
type transport interface {
	create(ctx context.Context, id ObjectID, size uint64, pin bool) (Location, error)
	seal(ctx context.Context, id ObjectID) error
	abort(ctx context.Context, id ObjectID) error
	get(ctx context.Context, ids []ObjectID, timeout time.Duration) ([]Location, error)
	release(id ObjectID) error
	remove(ctx context.Context, ids []ObjectID) error
	contains(ctx context.Context, id ObjectID) (bool, error)
	pin(ctx context.Context, id ObjectID, pin bool) error
	stats(ctx context.Context, withObjects bool) (Stats, error)
	close(ctx context.Context) error
}

// Client returns a client for this process that calls the store directly.
func (s *Store) Client() (*Client, error) {
	cid, err := s.connect()
	if err != nil {
		return nil, err
	}
	return &Client{t: localTransport{s: s, cid: cid}, arena: s.arena, store: s}, nil
}

// CreateOption modifies a Create or Put.
type CreateOption func(*createOptions)

type createOptions struct{ pin bool }

// Pinned makes the object a primary copy: it is never evicted, only
// spilled to disk under pressure, until it is unpinned or deleted.
func Pinned() CreateOption { return func(o *createOptions) { o.pin = true } }

func applyCreate(opts []CreateOption) createOptions {
	var o createOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Buffer is a created object being written. Fill Data, then Seal it, or
// Abort it.
type Buffer struct {
	ID    ObjectID
	Data  []byte // writable until Seal or Abort
	c     *Client
	unmap func()
}

// Seal makes the object immutable and readable by everyone.
func (b *Buffer) Seal(ctx context.Context) error {
	b.done()
	return b.c.t.seal(ctx, b.ID)
}

// Abort frees the object unsealed.
func (b *Buffer) Abort(ctx context.Context) error {
	b.done()
	return b.c.t.abort(ctx, b.ID)
}

func (b *Buffer) done() {
	b.Data = nil
	if b.unmap != nil {
		b.unmap()
		b.unmap = nil
	}
}

// Create allocates an object of size bytes and returns its buffer to fill.
// When the store is full it evicts, spills and waits up to the grace
// period, then fails with *ObjectStoreFullError.
func (c *Client) Create(ctx context.Context, id ObjectID, size uint64, opts ...CreateOption) (*Buffer, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	o := applyCreate(opts)
	loc, err := c.t.create(ctx, id, size, o.pin)
	if err != nil {
		return nil, err
	}
	data, unmap, err := c.bytes(loc, true)
	if err != nil {
		_ = c.t.abort(ctx, id)
		return nil, err
	}
	return &Buffer{ID: id, Data: data, c: c, unmap: unmap}, nil
}

// Put stores data as a sealed object: Create, copy, Seal. From another
// process, values of up to maxInlinePut bytes travel with the request, so
// a small Put costs one round trip.
func (c *Client) Put(ctx context.Context, id ObjectID, data []byte, opts ...CreateOption) error {
	if err := c.check(); err != nil {
		return err
	}
	o := applyCreate(opts)
	if rt, ok := c.t.(*remoteTransport); ok && len(data) <= maxInlinePut {
		return rt.put(ctx, id, data, o.pin)
	}
	b, err := c.Create(ctx, id, uint64(len(data)), opts...)
	if err != nil {
		return err
	}
	copy(b.Data, data)
	return b.Seal(ctx)
}

// View is a read-only, zero-copy view of a sealed object. The object stays
// in memory, unchanged, until the view is released; release every view.
type View struct {
	ID       ObjectID
	data     []byte
	c        *Client
	unmap    func()
	released atomic.Bool
}

// Data is the object's bytes: read-only memory (writing to it faults).
// Do not use it after Release.
func (v *View) Data() []byte { return v.data }

// Release ends the view's hold on the object.
func (v *View) Release() error {
	if !v.released.CompareAndSwap(false, true) {
		return nil
	}
	v.data = nil
	if v.unmap != nil {
		v.unmap()
	}
	return v.c.t.release(v.ID)
}

// Get returns views of the objects, waiting up to timeout for those not
// yet created or sealed (forever when timeout is negative, not at all when
// zero) and restoring spilled ones. A restore may wait for room (up to the
// store's CreateGrace) whatever the timeout: the object is there. An object still missing at the end
// has a nil view. Every view returned must be released.
func (c *Client) Get(ctx context.Context, ids []ObjectID, timeout time.Duration) ([]*View, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	locs, err := c.t.get(ctx, ids, timeout)
	if err != nil {
		return nil, err
	}
	views := make([]*View, len(ids))
	for i, loc := range locs {
		if !loc.Found {
			continue
		}
		data, unmap, err := c.bytes(loc, false)
		if err != nil {
			for j := range i {
				if views[j] != nil {
					_ = views[j].Release()
				}
			}
			for j := i; j < len(ids); j++ {
				if locs[j].Found {
					_ = c.t.release(ids[j])
				}
			}
			return nil, err
		}
		views[i] = &View{ID: ids[i], data: data, c: c, unmap: unmap}
	}
	return views, nil
}

// ErrGetTimeout fails GetOne when the object was not sealed in time.
var ErrGetTimeout = errors.New("plasma: get timed out")

// GetOne is Get for one object; a missing object is ErrGetTimeout.
func (c *Client) GetOne(ctx context.Context, id ObjectID, timeout time.Duration) (*View, error) {
	views, err := c.Get(ctx, []ObjectID{id}, timeout)
	if err != nil {
		return nil, err
	}
	if views[0] == nil {
		return nil, fmt.Errorf("%w: %v after %v", ErrGetTimeout, id, timeout)
	}
	return views[0], nil
}

// Delete deletes objects: at once when no view holds them, else when the
// last view is released. Nobody can get them from now on.
func (c *Client) Delete(ctx context.Context, ids ...ObjectID) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.t.remove(ctx, ids)
}

// Contains reports whether a sealed object is in the store, in memory or
// spilled.
func (c *Client) Contains(ctx context.Context, id ObjectID) (bool, error) {
	if err := c.check(); err != nil {
		return false, err
	}
	return c.t.contains(ctx, id)
}

// Pin makes an object a primary copy: never evicted, only spilled.
func (c *Client) Pin(ctx context.Context, id ObjectID) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.t.pin(ctx, id, true)
}

// Unpin makes an object an evictable copy again.
func (c *Client) Unpin(ctx context.Context, id ObjectID) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.t.pin(ctx, id, false)
}

// Stats returns the store's statistics, with the list of objects when
// withObjects is set.
func (c *Client) Stats(ctx context.Context, withObjects bool) (Stats, error) {
	if err := c.check(); err != nil {
		return Stats{}, err
	}
	return c.t.stats(ctx, withObjects)
}

// Arena is the client's mapping of the node's arena.
func (c *Client) Arena() *Arena { return c.arena }

// Close ends every hold of the client and unmaps the arena (in another
// process than the store's). Views must not be used afterwards.
func (c *Client) Close(ctx context.Context) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := c.t.close(ctx)
	if c.store == nil && c.arena != nil {
		c.unmapping.Lock()
		err = errors.Join(err, c.arena.Close())
		c.unmapping.Unlock()
	}
	return err
}

func (c *Client) check() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

// bytes returns the memory of a location: a slice of the arena, or of a
// fallback file, which a client in another process maps for the view's
// life.
func (c *Client) bytes(loc Location, writable bool) ([]byte, func(), error) {
	if c.store == nil { // only a remote client unmaps the arena on Close
		c.unmapping.RLock()
		defer c.unmapping.RUnlock()
	}
	if c.closed.Load() {
		return nil, nil, ErrClosed
	}
	if loc.File == "" {
		if loc.Off+loc.Size > c.arena.Size() {
			return nil, nil, fmt.Errorf("plasma: location [%d,+%d) outside the arena", loc.Off, loc.Size)
		}
		if writable {
			return c.arena.writable(loc.Off, loc.Size), nil, nil
		}
		return c.arena.readable(loc.Off, loc.Size), nil, nil
	}
	if c.store != nil {
		return c.store.fallbackBytes(loc.File, writable)
	}
	return mapFallback(loc, writable)
}

func (s *Store) fallbackBytes(path string, writable bool) ([]byte, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fb := s.fallback.files[path]
	if fb == nil {
		return nil, nil, fmt.Errorf("%w: fallback file %s", ErrNoObject, path)
	}
	if writable {
		return fb.rw, nil, nil
	}
	return fb.ro, nil, nil
}

// mapFallback maps a fallback object's file in a process other than the
// store's.
func mapFallback(loc Location, writable bool) ([]byte, func(), error) {
	if loc.Size == 0 {
		return []byte{}, nil, nil
	}
	flags, prot := unix.O_RDONLY, unix.PROT_READ
	if writable {
		flags, prot = unix.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	}
	fd, err := unix.Open(loc.File, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("plasma: open fallback file: %w", err)
	}
	defer unix.Close(fd)
	m, err := unix.Mmap(fd, 0, int(loc.Size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("plasma: map fallback file: %w", err)
	}
	return m, func() { _ = unix.Munmap(m) }, nil
}

// localTransport calls the store directly, in its own process.
type localTransport struct {
	s   *Store
	cid uint64
}

func (t localTransport) create(ctx context.Context, id ObjectID, size uint64, pin bool) (Location, error) {
	return t.s.create(ctx, t.cid, id, size, pin, true)
}

func (t localTransport) seal(_ context.Context, id ObjectID) error { return t.s.seal(t.cid, id) }

func (t localTransport) abort(_ context.Context, id ObjectID) error { return t.s.abort(t.cid, id) }

func (t localTransport) get(ctx context.Context, ids []ObjectID, timeout time.Duration) ([]Location, error) {
	return t.s.get(ctx, t.cid, ids, timeout, true)
}

func (t localTransport) release(id ObjectID) error { return t.s.release(t.cid, id) }

func (t localTransport) remove(_ context.Context, ids []ObjectID) error {
	return t.s.remove(ids)
}

func (t localTransport) contains(_ context.Context, id ObjectID) (bool, error) {
	return t.s.contains(id)
}

func (t localTransport) pin(_ context.Context, id ObjectID, pin bool) error {
	return t.s.setPinned(id, pin)
}

func (t localTransport) stats(_ context.Context, withObjects bool) (Stats, error) {
	limit := 0
	if withObjects {
		limit = -1
	}
	return t.s.stats(limit)
}

func (t localTransport) close(context.Context) error {
	t.s.disconnect(t.cid)
	return nil
}
