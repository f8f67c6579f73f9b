package plasma

import (
	"encoding/hex"
	"fmt"
	"time"
)

// ObjectID names an object: the 16-byte id of the task that made it and a
// 4-byte index among that task's results.
type ObjectID [20]byte

// String returns the id in hex.
func (id ObjectID) String() string { return hex.EncodeToString(id[:]) }

// ParseObjectID reads an id written by String.
func ParseObjectID(s string) (ObjectID, error) {
	var id ObjectID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("plasma: bad object id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// State is where an object is in its life.
type State uint8

// The states of an object.
const (
	StateCreated State = iota + 1 // created, being written, not yet readable
	StateSealed                   // sealed, immutable and readable
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateSealed:
		return "sealed"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// object is the store's record of one object.
type object struct {
	id       ObjectID
	size     uint64
	state    State
	block    Block
	inMemory bool          // block holds the bytes
	fallback *fallbackFile // the bytes live in a file-backed mapping instead of the arena
	spill    *spillRef     // a copy on disk
	readers  int           // holds by clients' Gets
	pinned   bool          // a primary copy: never evicted, only spilled
	deleted  bool          // deleted while held: freed at the last Release
	busy     bool          // being spilled or restored: its memory must stay put
	creator  uint64        // the client writing it, while created
	access   time.Time     // last Create, Get or Release

	list       *lruList // the list it is on, if any
	prev, next *object
}

// lruList is an intrusive list of objects, least recently used first.
type lruList struct {
	head, tail *object
	bytes      uint64
	n          int
}

func (l *lruList) pushBack(o *object) {
	o.list, o.prev, o.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = o
	} else {
		l.head = o
	}
	l.tail = o
	l.bytes += o.size
	l.n++
}

// pushFront puts o back as the least recently used.
func (l *lruList) pushFront(o *object) {
	o.list, o.prev, o.next = l, nil, l.head
	if l.head != nil {
		l.head.prev = o
	} else {
		l.tail = o
	}
	l.head = o
	l.bytes += o.size
	l.n++
}

func (l *lruList) remove(o *object) {
	if o.prev != nil {
		o.prev.next = o.next
	} else {
		l.head = o.next
	}
	if o.next != nil {
		o.next.prev = o.prev
	} else {
		l.tail = o.prev
	}
	o.list, o.prev, o.next = nil, nil, nil
	l.bytes -= o.size
	l.n--
}
