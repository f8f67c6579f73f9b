package plasma

import (
	"errors"
	"fmt"

	"github.com/goray-dev/goray/internal/bytesize"
)

// Errors the store returns; match them with errors.Is.
var (
	ErrObjectExists   = errors.New("plasma: object already exists")
	ErrNoObject       = errors.New("plasma: no such object")
	ErrSealed         = errors.New("plasma: object is already sealed")
	ErrNotHeld        = errors.New("plasma: object is not held by this client")
	ErrNotCreator     = errors.New("plasma: object is being written by another client")
	ErrClosed         = errors.New("plasma: store closed")
	ErrUnknownClient  = errors.New("plasma: unknown client (not connected, or disconnected)")
	ErrObjectTooLarge = errors.New("plasma: object larger than the store")
)

// ObjectStoreFullError fails a Create when nothing could be evicted or
// spilled to make room within the grace period.
type ObjectStoreFullError struct {
	ID        ObjectID
	Requested uint64 // bytes asked for
	Capacity  uint64 // the arena's size
	Used      uint64 // bytes allocated when the create gave up
	Pinned    uint64 // bytes of pinned objects in memory
	Held      uint64 // bytes of objects held by readers
	SpillErr  string // the last spill failure, if spilling failed
}

func (e *ObjectStoreFullError) Error() string {
	msg := fmt.Sprintf("plasma: object store full: cannot create %v of %s: %s of %s used (%s pinned, %s held by readers)",
		e.ID, bytesize.Format(e.Requested), bytesize.Format(e.Used), bytesize.Format(e.Capacity), bytesize.Format(e.Pinned), bytesize.Format(e.Held))
	if e.SpillErr != "" {
		msg += "; spilling failed: " + e.SpillErr
	}
	return msg
}

// Is makes errors.Is(err, &ObjectStoreFullError{}) match any store-full
// error.
func (e *ObjectStoreFullError) Is(target error) bool {
	_, ok := target.(*ObjectStoreFullError)
	return ok
}
