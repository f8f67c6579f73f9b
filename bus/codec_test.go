package bus

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Message types for the codec tests. Each is registered under a name of its
// own ("codectest.*"), so the tests can run in any order and more than once.
type (
	codecIdem  struct{ N int }
	codecOwner struct{ N int }
	codecOther struct{ N int }
	codecTwice struct{ N int }
	codecByVal struct {
		N int    `cbor:"1,keyasint"`
		S string `cbor:"2,keyasint,omitempty"`
	}
	codecByPtr struct {
		N int    `cbor:"1,keyasint"`
		S string `cbor:"2,keyasint,omitempty"`
	}
	codecUnreg struct{ N int }
	codecList  []int
	codecAny   struct {
		V any `cbor:"1,keyasint"`
	}
)

// codecFast encodes and decodes itself, as one CBOR unsigned integer; the
// counters say which path was taken.
type codecFast struct{ N uint64 }

var fastAppends, fastUnmarshals, fastMarshals atomic.Int64

func (m codecFast) AppendCBOR(b []byte) ([]byte, error) {
	fastAppends.Add(1)
	return appendUint(b, m.N), nil
}

func (m codecFast) MarshalCBOR() ([]byte, error) {
	fastMarshals.Add(1)
	return appendUint(nil, m.N), nil
}

func (m *codecFast) UnmarshalCBOR(b []byte) error {
	fastUnmarshals.Add(1)
	r := reader{b: b}
	n, err := r.uint()
	if err != nil {
		return err
	}
	if !r.done() {
		return errors.New("codecFast: trailing bytes")
	}
	m.N = n
	return nil
}

// codecFastVal is codecFast registered as a value type.
type codecFastVal struct{ codecFast }

// codecMarshaler has only cbor.Marshaler.
type codecMarshaler struct{ N uint64 }

func (m codecMarshaler) MarshalCBOR() ([]byte, error) { return appendUint(nil, m.N+1000), nil }

func TestRegisterIdempotent(t *testing.T) {
	Register[codecIdem]("codectest.idem")
	Register[codecIdem]("codectest.idem")
	mt := typeNamed([]byte("codectest.idem"))
	require.NotNil(t, mt)
	assert.Equal(t, "codectest.idem", mt.name)
	assert.Equal(t, reflect.TypeFor[codecIdem](), mt.typ)
	assert.Same(t, mt, typeOf(codecIdem{}))
}

func TestRegisterPanicsOnReuse(t *testing.T) {
	Register[codecOwner]("codectest.owner")
	assert.PanicsWithValue(t,
		`bus: Register: name "codectest.owner" is taken by bus.codecOwner`,
		func() { Register[codecOther]("codectest.owner") })
	assert.Nil(t, typeOf(codecOther{}), "a refused registration must leave nothing behind")

	Register[codecTwice]("codectest.twice")
	assert.PanicsWithValue(t,
		`bus: Register: bus.codecTwice is already registered as "codectest.twice"`,
		func() { Register[codecTwice]("codectest.twice2") })
	assert.Nil(t, typeNamed([]byte("codectest.twice2")))
	assert.Equal(t, "codectest.twice", typeOf(codecTwice{}).name)

	// A type and a pointer to it are different types.
	Register[*codecTwice]("codectest.twiceptr")
	assert.Equal(t, "codectest.twiceptr", typeOf(&codecTwice{}).name)

	assert.PanicsWithValue(t, "bus: Register: empty type name", func() { Register[codecOther]("") })
}

func TestRegisterLookups(t *testing.T) {
	Register[codecByVal]("codectest.byval")
	Register[*codecByPtr]("codectest.byptr")

	assert.Equal(t, "codectest.byval", typeOf(codecByVal{N: 1}).name)
	assert.Nil(t, typeOf(&codecByVal{}), "only the value type is registered")
	assert.Equal(t, "codectest.byptr", typeOf(&codecByPtr{}).name)
	assert.Nil(t, typeOf(codecByPtr{}), "only the pointer type is registered")
	assert.Nil(t, typeOf(codecUnreg{}))
	assert.Nil(t, typeOf(nil))

	assert.Same(t, typeOf(codecByVal{}), typeNamed([]byte("codectest.byval")))
	assert.Nil(t, typeNamed(nil))
	assert.Nil(t, typeNamed([]byte("")))
	assert.Nil(t, typeNamed([]byte("codectest.nope")))
	assert.Nil(t, typeNamed([]byte("codectest.byval\x00")))

	name := []byte("codectest.byval")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = typeNamed(name) }), "typeNamed must not allocate")
}

func TestRegisterConcurrentReads(t *testing.T) {
	// Lookups run lock-free while Register swaps the snapshot.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			_ = typeNamed([]byte("codectest.byval"))
			_ = typeOf(codecIdem{})
		}
	}()
	type local struct{ N int }
	Register[local]("codectest.concurrent")
	<-done
	assert.NotNil(t, typeNamed([]byte("codectest.concurrent")))
}

func TestDecodeValueAndPointerTypes(t *testing.T) {
	Register[codecByVal]("codectest.byval")
	Register[*codecByPtr]("codectest.byptr")
	body := []byte{0xa2, 0x01, 0x18, 0x2a, 0x02, 0x62, 'h', 'i'} // {1: 42, 2: "hi"}

	v, err := typeNamed([]byte("codectest.byval")).decode(body)
	require.NoError(t, err)
	assert.Equal(t, codecByVal{N: 42, S: "hi"}, v)

	p, err := typeNamed([]byte("codectest.byptr")).decode(body)
	require.NoError(t, err)
	require.IsType(t, &codecByPtr{}, p)
	assert.Equal(t, &codecByPtr{N: 42, S: "hi"}, p)

	// Each pointer decode is a new value.
	p2, err := typeNamed([]byte("codectest.byptr")).decode(body)
	require.NoError(t, err)
	assert.NotSame(t, p, p2)

	// decoderFor directly, for a type that is not registered.
	dec := decoderFor[codecUnreg](reflect.TypeFor[codecUnreg]())
	u, err := dec([]byte{0xa1, 0x61, 'N', 0x07})
	require.NoError(t, err)
	assert.Equal(t, codecUnreg{N: 7}, u)

	for _, bad := range [][]byte{nil, {0xa1}, {0x61, 'x'}, {0xa1, 0x01, 0x61, 'x'}, append(body[:len(body):len(body)], 0x00)} {
		_, err := typeNamed([]byte("codectest.byval")).decode(bad)
		assert.Error(t, err, "% x", bad)
		_, err = typeNamed([]byte("codectest.byptr")).decode(bad)
		assert.Error(t, err, "% x", bad)
	}
}

func TestCodecFastPath(t *testing.T) {
	Register[*codecFast]("codectest.fast")
	Register[codecFastVal]("codectest.fastval")
	a0, u0, m0 := fastAppends.Load(), fastUnmarshals.Load(), fastMarshals.Load()

	var scratch bytes.Buffer
	b, err := appendBody([]byte{0xaa}, &codecFast{N: 500}, &scratch)
	require.NoError(t, err)
	assert.Equal(t, append([]byte{0xaa}, appendUint(nil, 500)...), b)

	v, err := typeNamed([]byte("codectest.fast")).decode(b[1:])
	require.NoError(t, err)
	assert.Equal(t, &codecFast{N: 500}, v)

	b, err = appendBody(nil, codecFastVal{codecFast{N: 7}}, &scratch)
	require.NoError(t, err)
	v, err = typeNamed([]byte("codectest.fastval")).decode(b)
	require.NoError(t, err)
	assert.Equal(t, codecFastVal{codecFast{N: 7}}, v)

	assert.Equal(t, int64(2), fastAppends.Load()-a0, "AppendCBOR calls")
	assert.Equal(t, int64(2), fastUnmarshals.Load()-u0, "UnmarshalCBOR calls")
	assert.Zero(t, fastMarshals.Load()-m0, "MarshalCBOR must not be used when AppendCBOR is there")

	_, err = typeNamed([]byte("codectest.fast")).decode([]byte{0x61, 'x'})
	assert.Error(t, err)

	// The fast path allocates nothing to encode.
	msg := any(&codecFast{N: 1})
	buf := make([]byte, 0, 64)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = appendBody(buf[:0], msg, &scratch) }))
}

func TestCodecAppendBodyMarshaler(t *testing.T) {
	var scratch bytes.Buffer
	b, err := appendBody([]byte{1, 2}, codecMarshaler{N: 5}, &scratch)
	require.NoError(t, err)
	assert.Equal(t, append([]byte{1, 2}, appendUint(nil, 1005)...), b)
}

func TestCodecAppendBodyReflection(t *testing.T) {
	var scratch bytes.Buffer
	prefix := []byte("envelope header")

	// With no spare capacity, and with spare capacity after the prefix.
	for _, b := range [][]byte{
		append([]byte(nil), prefix...),
		append(make([]byte, 0, 4096), prefix...),
	} {
		out, err := appendBody(b, codecByVal{N: 42, S: "hi"}, &scratch)
		require.NoError(t, err)
		require.Equal(t, prefix, out[:len(prefix)], "appendBody clobbered the bytes before it")
		var got codecByVal
		require.NoError(t, Unmarshal(out[len(prefix):], &got))
		assert.Equal(t, codecByVal{N: 42, S: "hi"}, got)
		assert.Zero(t, scratch.Len(), "scratch must let go of the caller's bytes")

		// Reusing scratch does not touch the bytes handed out before.
		keep := append([]byte(nil), out...)
		out2, err := appendBody([]byte("other"), map[string]int{"a": 1}, &scratch)
		require.NoError(t, err)
		assert.Equal(t, keep, out)
		assert.Equal(t, []byte("other"), out2[:5])
	}

	// A big body grows the buffer; the prefix moves with it.
	big := codecAny{V: bytes.Repeat([]byte{7}, 100000)}
	out, err := appendBody(append([]byte(nil), prefix...), big, &scratch)
	require.NoError(t, err)
	require.Equal(t, prefix, out[:len(prefix)])
	var got codecAny
	require.NoError(t, Unmarshal(out[len(prefix):], &got))
	assert.Equal(t, big, got)

	// A failed encoding keeps the prefix, so the caller can cut back to it.
	out, err = appendBody(append([]byte(nil), prefix...), make(chan int), &scratch)
	require.Error(t, err)
	require.GreaterOrEqual(t, len(out), len(prefix))
	assert.Equal(t, prefix, out[:len(prefix)])
}

func TestCodecEncodeDecodeMessage(t *testing.T) {
	// A whole user envelope, as link.append and Node.handleUser do it.
	Register[*codecByPtr]("codectest.byptr")
	msg := &codecByPtr{N: -3, S: "x"}
	mt := typeOf(msg)
	require.NotNil(t, mt)
	h := header{kind: kindUser, typ: mt.name, target: wirePID{node: "b", id: "echo"}}
	b := appendHeader(nil, &h, true)
	b, start := beginBody(b)
	var scratch bytes.Buffer
	b, err := appendBody(b, msg, &scratch)
	require.NoError(t, err)
	endBody(b, start)

	var e inEnvelope
	require.NoError(t, decodeEnvelope(&reader{b: b}, &e))
	got := typeNamed(e.typ)
	require.Same(t, mt, got)
	v, err := got.decode(e.body)
	require.NoError(t, err)
	assert.Equal(t, msg, v)
}

// heapGrowth runs f and returns how many bytes it allocated.
func heapGrowth(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDecodeLimits(t *testing.T) {
	Register[codecList]("codectest.list")
	Register[*codecAny]("codectest.any")
	list := typeNamed([]byte("codectest.list"))
	anyT := typeNamed([]byte("codectest.any"))

	nestedArrays := func(levels int) []byte {
		return append(bytes.Repeat([]byte{0x81}, levels), 0x00)
	}
	inAny := func(v []byte) []byte { return append([]byte{0xa1, 0x01}, v...) } // {1: v}

	t.Run("nesting", func(t *testing.T) {
		var v any
		require.NoError(t, Unmarshal(nestedArrays(maxNesting), &v))
		assert.Error(t, Unmarshal(nestedArrays(maxNesting+1), &v))
		assert.Error(t, Unmarshal(nestedArrays(1000), &v))

		// The struct's own map is a level.
		_, err := anyT.decode(inAny(nestedArrays(maxNesting - 1)))
		require.NoError(t, err)
		_, err = anyT.decode(inAny(nestedArrays(maxNesting)))
		assert.Error(t, err)
		_, err = anyT.decode(inAny(nestedArrays(100000)))
		assert.Error(t, err)

		var maxErr *cbor.MaxNestedLevelError
		assert.ErrorAs(t, Unmarshal(nestedArrays(20), &v), &maxErr)
	})

	t.Run("huge array claim", func(t *testing.T) {
		claim10M := []byte{0x9a, 0x00, 0x98, 0x96, 0x80, 0x01, 0x02, 0x03}
		claimMax := []byte{0x9a, 0x00, 0x01, 0x00, 0x00, 0x01} // 65536: at the limit, but truncated
		claim2e64 := []byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}
		for _, body := range [][]byte{claim10M, claimMax, claim2e64} {
			var err1, err2, err3 error
			grown := heapGrowth(func() {
				_, err1 = list.decode(body)
				_, err2 = anyT.decode(inAny(body))
				var v any
				err3 = Unmarshal(body, &v)
			})
			assert.Error(t, err1, "% x", body)
			assert.Error(t, err2, "% x", body)
			assert.Error(t, err3, "% x", body)
			assert.Less(t, grown, uint64(1<<20), "decoding % x allocated %d bytes", body, grown)
		}

		var maxErr *cbor.MaxArrayElementsError
		assert.ErrorAs(t, Unmarshal(claim10M, new(any)), &maxErr)
	})

	t.Run("huge map claim", func(t *testing.T) {
		body := []byte{0xba, 0x00, 0x98, 0x96, 0x80, 0x01, 0x02}
		var err error
		grown := heapGrowth(func() { err = Unmarshal(body, new(map[int]int)) })
		var maxErr *cbor.MaxMapPairsError
		assert.ErrorAs(t, err, &maxErr)
		assert.Less(t, grown, uint64(1<<20))
	})

	t.Run("array at the limit", func(t *testing.T) {
		body := appendHead(nil, majorArray, maxArrayLength)
		body = append(body, bytes.Repeat([]byte{0x01}, maxArrayLength)...)
		v, err := list.decode(body)
		require.NoError(t, err)
		assert.Len(t, v, maxArrayLength)

		body = appendHead(nil, majorArray, maxArrayLength+1)
		body = append(body, bytes.Repeat([]byte{0x01}, maxArrayLength+1)...)
		_, err = list.decode(body)
		assert.Error(t, err)
	})

	t.Run("duplicate map keys", func(t *testing.T) {
		dup := []byte{0xa2, 0x01, 0x01, 0x01, 0x02} // {1: 1, 1: 2}
		var dupErr *cbor.DupMapKeyError
		assert.ErrorAs(t, Unmarshal(dup, new(map[int]int)), &dupErr)
		assert.ErrorAs(t, Unmarshal(dup, new(any)), &dupErr)
		assert.ErrorAs(t, Unmarshal(dup, new(codecByVal)), &dupErr)

		Register[codecByVal]("codectest.byval")
		_, err := typeNamed([]byte("codectest.byval")).decode(dup)
		assert.ErrorAs(t, err, &dupErr)
		_, err = anyT.decode([]byte{0xa1, 0x01, 0xa2, 0x61, 'k', 0x01, 0x61, 'k', 0x02})
		assert.ErrorAs(t, err, &dupErr)
	})

	t.Run("indefinite length", func(t *testing.T) {
		for _, b := range [][]byte{
			{0x9f, 0x01, 0xff},
			{0xbf, 0x01, 0x01, 0xff},
			{0x7f, 0x61, 'a', 0xff},
			{0x5f, 0x41, 0x00, 0xff},
		} {
			var v any
			var indefErr *cbor.IndefiniteLengthError
			assert.ErrorAs(t, Unmarshal(b, &v), &indefErr, "% x", b)
		}
		_, err := list.decode([]byte{0x9f, 0x01, 0xff})
		assert.Error(t, err)
	})
}

func TestCodecMarshalRoundTrip(t *testing.T) {
	in := map[string]any{"a": uint64(1), "b": []any{"x", []byte{1}}, "c": map[any]any{uint64(1): true}}
	b, err := Marshal(in)
	require.NoError(t, err)
	require.NoError(t, cbor.Wellformed(b))
	var out map[string]any
	require.NoError(t, Unmarshal(b, &out))
	assert.Equal(t, in, out)
}

// codecFailing is an Appender whose error path returns a nil slice, the
// usual Go idiom (`return nil, err`).
type codecFailing struct{}

var errCodecFailing = errors.New("codecFailing: cannot encode")

func (codecFailing) AppendCBOR([]byte) ([]byte, error) { return nil, errCodecFailing }

// TestLinkAppendEncoderFailureKeepsBatch: link.append (link.go) cuts the
// batch back with `l.buf = b[:start]`, where b is what appendBody returned.
// An Appender that fails with `return nil, err` makes b nil, so as soon as
// the batch already holds an envelope (start > 0) the cut panics with
// "slice bounds out of range", while l.mu is held (it is never unlocked).
// Expected: the send fails with the Appender's error and the batch keeps
// the envelopes before it.
func TestLinkAppendEncoderFailureKeepsBatch(t *testing.T) {
	l := &link{n: &Node{cfg: Config{MaxPayload: DefaultMaxPayload, MaxMessageBytes: DefaultMaxMessageBytes, FlushBytes: DefaultFlushBytes}}}
	// One envelope is already in the open batch.
	earlier := encodeTestEnvelope(nil, &header{kind: kindSignal, target: wirePID{node: "b", id: "x"}, signal: 3}, nil, false)
	l.buf = append([]byte(nil), earlier...)
	l.count = 1

	h := header{kind: kindUser, typ: "codectest.failing", target: wirePID{node: "b", id: "x"}}
	var err error
	require.NotPanics(t, func() { err = l.append(&h, codecFailing{}, true) },
		"an Appender returning (nil, err) must fail the send, not panic")
	assert.ErrorIs(t, err, errCodecFailing)
	assert.Equal(t, earlier, l.buf, "the batch must keep the envelope before the failed one")
	assert.Equal(t, 1, l.count)
}
