// Package plasma is goray's per-node object store: large immutable values
// live once per node in a shared-memory arena, and every process of the
// node reads them in place.
package plasma
