package bus

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/fxamacker/cbor/v2"
)

// Appender is implemented by message types that encode themselves as one
// CBOR item, appended to b. It is the fast path: no reflection and no
// allocation. Such types usually implement cbor.Unmarshaler (on the
// pointer) for the way back.
type Appender interface {
	AppendCBOR(b []byte) ([]byte, error)
}

// ErrUnregisteredType fails a send whose message type was never registered
// with Register; the link and other sends are not affected.
var ErrUnregisteredType = errors.New("bus: message type is not registered")

// ErrUnknownType is the dead-letter reason of an incoming message whose
// type name is not registered on this node.
var ErrUnknownType = errors.New("bus: unknown message type")

// msgType is a registered message type.
type msgType struct {
	name   string
	typ    reflect.Type
	decode func([]byte) (any, error)
}

// types is the registry of message types, filled by Register at init time
// and read on every message: reads are a lock-free load of an immutable
// snapshot.
var types struct {
	mu     sync.Mutex // serializes Register
	byName atomic.Pointer[map[string]*msgType]
	byType atomic.Pointer[map[reflect.Type]*msgType]
}

// Register makes T a message type that can travel between nodes under
// name. Every node that sends or receives T must register it under the
// same name, usually in an init function. T is typically a struct with
// `cbor:"N,keyasint"` field tags, or a pointer to one: a pointer type
// costs one allocation less to decode. Registering the same type under the
// same name again does nothing; any other reuse of a name or a type panics,
// since it is a programming error that would mix messages up.
func Register[T any](name string) {
	t := reflect.TypeFor[T]()
	register(name, t, decoderFor[T](t))
}

func register(name string, t reflect.Type, decode func([]byte) (any, error)) {
	if name == "" {
		panic("bus: Register: empty type name")
	}
	types.mu.Lock()
	defer types.mu.Unlock()
	byName, byType := map[string]*msgType{}, map[reflect.Type]*msgType{}
	if p := types.byName.Load(); p != nil {
		byName = cloneMap(*p)
		byType = cloneMap(*types.byType.Load())
	}
	if old, ok := byName[name]; ok {
		if old.typ == t {
			return
		}
		panic(fmt.Sprintf("bus: Register: name %q is taken by %v", name, old.typ))
	}
	if old, ok := byType[t]; ok {
		panic(fmt.Sprintf("bus: Register: %v is already registered as %q", t, old.name))
	}
	m := &msgType{name: name, typ: t, decode: decode}
	byName[name], byType[t] = m, m
	types.byName.Store(&byName)
	types.byType.Store(&byType)
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func typeOf(msg any) *msgType {
	if p := types.byType.Load(); p != nil {
		return (*p)[reflect.TypeOf(msg)]
	}
	return nil
}

func typeNamed(name []byte) *msgType {
	if p := types.byName.Load(); p != nil {
		return (*p)[string(name)] // no allocation: the compiler sees the lookup
	}
	return nil
}

// decoderFor builds T's decoder once, at registration.
func decoderFor[T any](t reflect.Type) func([]byte) (any, error) {
	if t.Kind() == reflect.Pointer {
		elem := t.Elem()
		return func(b []byte) (any, error) {
			p := reflect.New(elem).Interface() // a T, the one allocation
			if u, ok := p.(cbor.Unmarshaler); ok {
				return p, u.UnmarshalCBOR(b)
			}
			return p, decMode.Unmarshal(b, p)
		}
	}
	return func(b []byte) (any, error) {
		var v T
		if u, ok := any(&v).(cbor.Unmarshaler); ok {
			err := u.UnmarshalCBOR(b)
			return v, err
		}
		err := decMode.Unmarshal(b, &v)
		return v, err
	}
}

// Decode limits: no message may nest or fan out so far that decoding it
// could exhaust memory. Byte and text strings are bounded by the size of
// the message itself (Config.MaxMessageBytes), which is checked first.
const (
	maxNesting     = 16
	maxArrayLength = 64 * 1024
	maxMapPairs    = 64 * 1024
)

// The encoding and decoding modes are built once; they are safe for
// concurrent use.
var (
	encMode = mustEncMode()
	decMode = mustDecMode()
)

func mustEncMode() cbor.UserBufferEncMode {
	em, err := cbor.EncOptions{
		Time:        cbor.TimeRFC3339Nano,
		IndefLength: cbor.IndefLengthForbidden,
	}.UserBufferEncMode()
	if err != nil {
		panic(err)
	}
	return em
}

func mustDecMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  maxNesting,
		MaxArrayElements: maxArrayLength,
		MaxMapPairs:      maxMapPairs,
		IndefLength:      cbor.IndefLengthForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}

// appendBody appends msg's CBOR encoding to b: by the type's own
// AppendCBOR or MarshalCBOR if it has one, else by reflection into b
// through scratch, which the caller keeps to reuse its memory.
func appendBody(b []byte, msg any, scratch *bytes.Buffer) ([]byte, error) {
	switch m := msg.(type) {
	case Appender:
		return m.AppendCBOR(b)
	case cbor.Marshaler:
		p, err := m.MarshalCBOR()
		return append(b, p...), err
	}
	*scratch = *bytes.NewBuffer(b)
	err := encMode.MarshalToBuffer(msg, scratch)
	out := scratch.Bytes()
	*scratch = bytes.Buffer{} // the bytes now belong to the caller
	return out, err
}

// Marshal encodes v as CBOR with the bus's encoding options. It is for
// payloads nested in messages (raw bodies, KV values), not for messages
// themselves, which travel in envelopes.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes CBOR into v with the bus's decode limits.
func Unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }
