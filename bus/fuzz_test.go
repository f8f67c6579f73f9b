package bus

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Message types the fuzzer's user envelopes can name, registered at init
// so that fuzz workers (which run no Test functions) have them too.
type fuzzStruct struct {
	N uint64 `cbor:"1,keyasint,omitempty"`
	I int64  `cbor:"2,keyasint,omitempty"`
	S string `cbor:"3,keyasint,omitempty"`
	B []byte `cbor:"4,keyasint,omitempty"`
	L []int  `cbor:"5,keyasint,omitempty"`
}

type fuzzList []any

// fuzzFast is a fast-path type that decodes itself with the envelope's
// reader: {1: N, 2: Name}, unknown keys skipped.
type fuzzFast struct {
	N    uint64
	Name string
}

func (m *fuzzFast) AppendCBOR(b []byte) ([]byte, error) {
	b = appendHead(b, majorMap, 2)
	b = appendUint(appendUint(b, 1), m.N)
	return appendText(appendUint(b, 2), m.Name), nil
}

func (m *fuzzFast) UnmarshalCBOR(data []byte) error {
	r := reader{b: data}
	major, n, err := r.head()
	if err != nil {
		return err
	}
	if major != majorMap {
		return errBadType
	}
	if n > uint64(len(r.b)-r.off) {
		return errTruncated
	}
	for range n {
		key, err := r.uint()
		if err != nil {
			return err
		}
		switch key {
		case 1:
			m.N, err = r.uint()
		case 2:
			var s []byte
			s, err = r.bytesOf(majorText)
			m.Name = string(s)
		default:
			err = r.skip(maxDepth)
		}
		if err != nil {
			return err
		}
	}
	if !r.done() {
		return errors.New("fuzzFast: trailing bytes")
	}
	return nil
}

const (
	fuzzStructName = "fuzztest.struct"
	fuzzListName   = "fuzztest.list"
	fuzzFastName   = "fuzztest.fast"
)

func init() {
	Register[*fuzzStruct](fuzzStructName)
	Register[fuzzList](fuzzListName)
	Register[*fuzzFast](fuzzFastName)
}

// userEnvelope encodes msg as a user envelope, as link.append does.
func userEnvelope(tb testing.TB, b []byte, target, sender wirePID, msg any) []byte {
	tb.Helper()
	mt := typeOf(msg)
	require.NotNil(tb, mt, "%T is not registered", msg)
	h := header{kind: kindUser, typ: mt.name, target: target, sender: sender}
	b = appendHeader(b, &h, true)
	b, start := beginBody(b)
	var scratch bytes.Buffer
	b, err := appendBody(b, msg, &scratch)
	require.NoError(tb, err)
	endBody(b, start)
	return b
}

// fuzzSeeds are real envelopes and batches, and the malformed shapes the
// decoder must refuse.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for _, c := range envelopeCases() {
		if c.name == "user big body" {
			continue
		}
		seeds[strings.ReplaceAll(c.name, " ", "-")] = encodeTestEnvelope(nil, &c.h, c.body, c.withBody)
	}
	target, sender := wirePID{node: "b", id: "echo"}, wirePID{node: "a", req: 77}
	seeds["user-struct"] = userEnvelope(tb, nil, target, sender, &fuzzStruct{N: 1, I: -2, S: "s", B: []byte{3}, L: []int{4, -5}})
	seeds["user-list"] = userEnvelope(tb, nil, target, sender, fuzzList{uint64(1), "x", []any{true, nil}, map[any]any{uint64(1): []byte{2}}})
	seeds["user-fast"] = userEnvelope(tb, nil, target, sender, &fuzzFast{N: 300, Name: "fast"})

	var batch []byte
	batch = userEnvelope(tb, batch, target, wirePID{node: "a", id: "$1"}, &fuzzFast{N: 1, Name: "one"})
	batch = encodeTestEnvelope(batch, &header{kind: kindSignal, target: wirePID{node: "b", id: "w"}, signal: 1, pid: wirePID{node: "a", id: "$2"}}, nil, false)
	batch = encodeTestEnvelope(batch, &header{kind: kindError, target: wirePID{node: "b", req: 9}, sender: wirePID{node: "a"}, code: 3, text: "bad"}, nil, false)
	batch = userEnvelope(tb, batch, wirePID{node: "b", req: 5}, wirePID{node: "a", id: "x"}, &fuzzStruct{S: "reply"})
	seeds["batch"] = batch

	kindPrefix := appendUint(appendUint(appendHead(nil, majorMap, 2), keyKind), kindUser)
	unknown := func(tail ...byte) []byte {
		return append(appendUint(append([]byte(nil), kindPrefix...), 99), tail...)
	}
	seeds["garbage"] = []byte("\x00\xff\x13garbage\xfe\x9f\xbf\x7f")
	seeds["truncated"] = seeds["user-struct"][:len(seeds["user-struct"])-3]
	seeds["indefinite-map"] = []byte{0xbf, 0x01, 0x01, 0xff}
	seeds["indefinite-unknown"] = unknown(0x9f, 0x01, 0xff)
	seeds["deep-nesting"] = unknown(bytes.Repeat([]byte{0x81}, 40)...)
	seeds["huge-map-claim"] = []byte{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}
	seeds["huge-array-claim"] = unknown(0x9a, 0x00, 0x98, 0x96, 0x80, 0x00)
	seeds["huge-string-claim"] = unknown(0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x')
	seeds["unknown-keys"] = unknown(0x83, 0xc1, 0x00, 0xa1, 0x01, 0x82, 0xf5, 0xf9, 0x3c, 0x00, 0x40)
	seeds["two-byte-simple"] = unknown(0xf8, 0x10)
	deep := append(bytes.Repeat([]byte{0x81}, 30), 0x00)
	h := header{kind: kindUser, typ: fuzzListName, target: target}
	seeds["body-deep"] = encodeTestEnvelope(nil, &h, deep, true)
	seeds["body-huge-claim"] = encodeTestEnvelope(nil, &h, []byte{0x9a, 0x00, 0x98, 0x96, 0x80, 0x01}, true)
	return seeds
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEnvelopes(t, data)
	})
}

// checkEnvelopes decodes data as Node.onInbox does and checks every
// envelope that decodes: progress, re-encoding, and the body's decoding.
func checkEnvelopes(t *testing.T, data []byte) {
	r := reader{b: data}
	var e inEnvelope
	for !r.done() {
		before := r.off
		if err := decodeEnvelope(&r, &e); err != nil {
			var me *MalformedError
			if !errors.As(err, &me) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v (%T) is not a *MalformedError", err, err)
			}
			if me.Offset != before {
				t.Fatalf("error at offset %d, envelope started at %d", me.Offset, before)
			}
			return
		}
		if r.off <= before || r.off > len(data) {
			t.Fatalf("decoding moved from %d to %d of %d", before, r.off, len(data))
		}
		if e.kind == 0 {
			t.Fatal("an envelope without a kind was accepted")
		}
		checkWellformed(t, data[before:r.off])
		checkReencode(t, &e)
		checkBody(t, &e)
	}
}

// checkWellformed: what the hand-written decoder accepts, a general CBOR
// decoder must accept too (it is one CBOR item).
func checkWellformed(t *testing.T, item []byte) {
	if err := cbor.Wellformed(item); err != nil {
		t.Fatalf("accepted an envelope that is not well-formed CBOR: %v\n% x", err, item)
	}
}

func checkReencode(t *testing.T, e *inEnvelope) {
	h := headerOf(e)
	b := encodeTestEnvelope(nil, &h, e.body, e.hasBody)
	if err := cbor.Wellformed(b); err != nil {
		t.Fatalf("re-encoded envelope is not well-formed: %v\n% x", err, b)
	}
	r := reader{b: b}
	var e2 inEnvelope
	if err := decodeEnvelope(&r, &e2); err != nil {
		t.Fatalf("re-encoded envelope does not decode: %v\n% x", err, b)
	}
	if !r.done() {
		t.Fatalf("re-encoded envelope decodes to %d of %d bytes", r.off, len(b))
	}
	if want, got := fieldsOf(e), fieldsOf(&e2); want != got {
		t.Fatalf("re-encoded envelope differs:\nwant %+v\ngot  %+v", want, got)
	}
}

func checkBody(t *testing.T, e *inEnvelope) {
	if e.kind != kindUser || !e.hasBody {
		return
	}
	mt := typeNamed(e.typ)
	if mt == nil {
		return
	}
	v, err := mt.decode(e.body)
	if err != nil {
		return
	}
	if reflect.TypeOf(v) != mt.typ {
		t.Fatalf("%s decoded to %T, want %v", mt.name, v, mt.typ)
	}
	// The fuzz types with comparable contents encode back to the same value.
	switch v.(type) {
	case *fuzzStruct, *fuzzFast:
		var scratch bytes.Buffer
		b, err := appendBody(nil, v, &scratch)
		if err != nil {
			t.Fatalf("re-encode %s: %v", mt.name, err)
		}
		v2, err := mt.decode(b)
		if err != nil {
			t.Fatalf("decode re-encoded %s: %v\n% x", mt.name, err, b)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("%s changed on a round trip: %#v, then %#v", mt.name, v, v2)
		}
	}
}

func TestFuzzSeedsDecodeAsExpected(t *testing.T) {
	seeds := fuzzSeeds(t)
	decodes := func(b []byte) (n int, err error) {
		r := reader{b: b}
		var e inEnvelope
		for !r.done() {
			if err := decodeEnvelope(&r, &e); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	for name, want := range map[string]int{"batch": 4, "user-struct": 1, "user-list": 1, "user-fast": 1, "signal-watch": 1, "error": 1, "unknown-keys": 1, "body-deep": 1} {
		n, err := decodes(seeds[name])
		assert.NoError(t, err, name)
		assert.Equal(t, want, n, name)
	}
	for _, name := range []string{"garbage", "truncated", "two-byte-simple", "indefinite-map", "indefinite-unknown", "deep-nesting", "huge-map-claim", "huge-array-claim", "huge-string-claim"} {
		_, err := decodes(seeds[name])
		assert.ErrorIs(t, err, ErrMalformed, name)
	}
	for name, s := range seeds {
		t.Run(name, func(t *testing.T) { checkEnvelopes(t, s) })
	}

	// The bodies of the user seeds decode to their messages.
	var e inEnvelope
	require.NoError(t, decodeEnvelope(&reader{b: seeds["user-fast"]}, &e))
	v, err := typeNamed(e.typ).decode(e.body)
	require.NoError(t, err)
	assert.Equal(t, &fuzzFast{N: 300, Name: "fast"}, v)
	require.NoError(t, decodeEnvelope(&reader{b: seeds["body-deep"]}, &e))
	_, err = typeNamed(e.typ).decode(e.body)
	assert.Error(t, err, "a body nested 31 deep must be refused")
}

// TestSkipRefusesTwoByteSimpleBelow32: the two-byte simple values
// 0xf8 0x00..0x1f are not well-formed CBOR (RFC 8949 §3.3), even in a
// field the decoder skips.
func TestSkipRefusesTwoByteSimpleBelow32(t *testing.T) {
	b := appendUint(appendUint(appendHead(nil, majorMap, 2), keyKind), kindUser)
	b = append(appendUint(b, 99), 0xf8, 0x10)
	require.Error(t, cbor.Wellformed(b), "fxamacker/cbor refuses it")
	var e inEnvelope
	err := decodeEnvelope(&reader{b: b}, &e)
	assert.ErrorIs(t, err, ErrMalformed, "simple value 16 in its two-byte form is not well-formed CBOR")
}
