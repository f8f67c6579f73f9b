// Package plasma is goray's per-node object store: large immutable values
// live once per node in a shared-memory arena, and every process of the
// node reads them in place; only references travel on the bus.
//
// # Arena
//
// [Open] creates one arena file per store in Config.Dir (/dev/shm): mode
// 0600, Capacity bytes (30% of RAM by default), reserved with fallocate so
// that a tmpfs too small for it fails here with [ErrArenaSpace] and never
// with a SIGBUS later, mapped MAP_SHARED and pre-faulted once. Each
// process maps it once for life, twice over: read-write for writers, read
// only for the views readers get, so writing to a sealed object through a
// view faults instead of corrupting it.
//
// The store holds an flock on its arena and on its directory under
// SpillDir. Open first sweeps the arenas and directories whose lock is
// free: those of nodes that died without cleaning up. Close removes its
// own.
//
// # Allocation
//
// The [Allocator] is the store's alone; clients ask for an offset, write,
// seal. Blocks are 64-byte aligned. Small ones (up to 64 KiB) come from
// size classes (four per power of two, at most a quarter wasted) cut from
// 1 MiB slabs. Large ones are whole 4 KiB pages, served in constant time by
// a two-level segregated fit (TLSF): a free range from the request's own
// size bin when one there fits, else from the smallest non-empty larger
// bin, so at most 1/16 longer than the best fit; freed ranges coalesce
// with their neighbours at once. Stats reports the fragmentation.
//
// # Objects
//
// An object is created with a size (Create), written by its creator,
// then sealed (Seal) and immutable from then on; Abort drops it unsealed.
// Get returns read-only, zero-copy views, waiting up to a timeout for
// objects not yet created or sealed. A view holds its object: a held
// object is never evicted, spilled away or freed, and Delete of a held
// object takes effect at the last Release. A client's holds end when the
// client closes or its process dies (the store watches the client's
// actor).
//
// Pinned objects are primary copies; the others are secondary copies,
// which the store may drop.
//
// # Memory pressure
//
// When a Create finds no room the store, in this order:
//
//  1. evicts unheld, unpinned copies (and in-memory copies of spilled
//     objects), least recently used first;
//  2. spills unheld pinned copies to files in its spill directory, least
//     recently used first, several objects per file in batches of at least
//     MinSpillingSize. Spilling also starts on its own once usage crosses
//     SpillThreshold. A spilled object is restored on Get; a spill file is
//     deleted when its last object is. A failed spill (a full disk, say)
//     is logged and counted, and its objects stay in memory;
//  3. waits up to CreateGrace for readers to release memory, then fails
//     with [*ObjectStoreFullError], or, with Config.Fallback, puts the
//     object in a file-backed mapping of its own.
//
// # Clients
//
// A [Client] is the same API wherever it runs. In the store's process
// ([Store.Client]) it calls the store directly: no message, no copy. In
// another process of the node ([Connect]) it asks the store's actor
// ([Store.Serve], named [ActorName]) over the bus and maps the arena
// itself; a Put of up to 64 KiB carries its bytes in the request, larger
// values are written into the arena by the client. Errors keep their
// identity across processes: errors.Is and errors.As work on them. A
// remote call's context bounds its wait in the store too, and a call whose
// context ends is undone there (its holds released, its object aborted),
// so giving up leaks nothing. Requests carry the client's random key, so
// one client cannot act for another by mistake; clients map the arena
// read-write, so the store trusts the processes of its node and user.
//
// This package knows nothing of tasks, owners or reference counting: the
// layers above decide when an object is created, pinned and deleted.
package plasma
