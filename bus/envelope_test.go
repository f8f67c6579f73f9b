package bus

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envFields is a decoded envelope with its byte slices as strings, so two
// decodings compare with ==, whatever the slices alias.
type envFields struct {
	Kind                 uint64
	TargetNode, TargetID string
	TargetReq            uint64
	SenderNode, SenderID string
	SenderReq            uint64
	Type                 string
	Signal               uint64
	PIDNode, PIDID       string
	Reason, Code         uint64
	Text                 string
	Body                 string
	HasBody              bool
}

func fieldsOf(e *inEnvelope) envFields {
	return envFields{
		Kind:       e.kind,
		TargetNode: string(e.targetNode), TargetID: string(e.targetID), TargetReq: e.targetReq,
		SenderNode: string(e.senderNode), SenderID: string(e.senderID), SenderReq: e.senderReq,
		Type:    string(e.typ),
		Signal:  e.signal,
		PIDNode: string(e.pidNode), PIDID: string(e.pidID),
		Reason: e.reason, Code: e.code,
		Text:    string(e.text),
		Body:    string(e.body),
		HasBody: e.hasBody,
	}
}

// wantFields is what decoding h (and body) should give back. The PID a
// signal is about carries no request id on the wire.
func wantFields(h *header, body []byte, withBody bool) envFields {
	f := envFields{
		Kind:       h.kind,
		TargetNode: h.target.node, TargetID: h.target.id, TargetReq: h.target.req,
		SenderNode: h.sender.node, SenderID: h.sender.id, SenderReq: h.sender.req,
		Type:    h.typ,
		Signal:  h.signal,
		PIDNode: h.pid.node, PIDID: h.pid.id,
		Reason: h.reason, Code: h.code,
		Text:    h.text,
		HasBody: withBody,
	}
	if withBody {
		f.Body = string(body)
	}
	return f
}

// headerOf turns a decoded envelope back into an outgoing header.
func headerOf(e *inEnvelope) header {
	return header{
		kind:   e.kind,
		target: wirePID{node: string(e.targetNode), id: string(e.targetID), req: e.targetReq},
		sender: wirePID{node: string(e.senderNode), id: string(e.senderID), req: e.senderReq},
		typ:    string(e.typ),
		signal: e.signal,
		pid:    wirePID{node: string(e.pidNode), id: string(e.pidID)},
		reason: e.reason,
		code:   e.code,
		text:   string(e.text),
	}
}

// encodeEnvelope appends one envelope to b the way link.append does.
func encodeTestEnvelope(b []byte, h *header, body []byte, withBody bool) []byte {
	b = appendHeader(b, h, withBody)
	if withBody {
		var start int
		b, start = beginBody(b)
		b = append(b, body...)
		endBody(b, start)
	}
	return b
}

// wantMap is the envelope as a generic CBOR decoder sees it.
func wantMap(h *header, body []byte, withBody bool) map[uint64]any {
	m := map[uint64]any{keyKind: h.kind}
	text := func(k uint64, s string) {
		if s != "" {
			m[k] = s
		}
	}
	num := func(k uint64, n uint64) {
		if n != 0 {
			m[k] = n
		}
	}
	text(keyTargetNode, h.target.node)
	text(keyTargetID, h.target.id)
	num(keyTargetReq, h.target.req)
	text(keySenderNode, h.sender.node)
	text(keySenderID, h.sender.id)
	num(keySenderReq, h.sender.req)
	text(keyType, h.typ)
	num(keySignal, h.signal)
	text(keyPIDNode, h.pid.node)
	text(keyPIDID, h.pid.id)
	num(keyReason, h.reason)
	num(keyCode, h.code)
	text(keyText, h.text)
	if withBody {
		if body == nil {
			body = []byte{}
		}
		m[keyBody] = body
	}
	return m
}

type envelopeCase struct {
	name     string
	h        header
	body     []byte
	withBody bool
}

// envelopeCases are the envelopes the bus sends, and a few extremes.
func envelopeCases() []envelopeCase {
	ping := []byte{0xa1, 0x01, 0x18, 0x29} // {1: 41}
	big := appendBytes(nil, bytes.Repeat([]byte{0xab}, 70000))
	return []envelopeCase{
		{name: "user minimal", h: header{kind: kindUser, target: wirePID{node: "b", id: "echo"}, typ: "test.ping"}, body: ping, withBody: true},
		{name: "user from actor", h: header{kind: kindUser, target: wirePID{node: "b", id: "echo"}, sender: wirePID{node: "a", id: "$1k"}, typ: "test.ping"}, body: ping, withBody: true},
		{name: "user request", h: header{kind: kindUser, target: wirePID{node: "b", id: "echo"}, sender: wirePID{node: "a", req: 1}, typ: "test.ping"}, body: ping, withBody: true},
		{name: "user reply", h: header{kind: kindUser, target: wirePID{node: "a", req: 1<<40 + 7}, sender: wirePID{node: "b", id: "echo"}, typ: "test.pong"}, body: []byte{0xa1, 0x01, 0x18, 0x2a}, withBody: true},
		{name: "user empty body", h: header{kind: kindUser, target: wirePID{node: "b", id: "x"}, typ: "t"}, body: nil, withBody: true},
		{name: "user without body", h: header{kind: kindUser, target: wirePID{node: "b", id: "x"}, typ: "t"}},
		{name: "user big body", h: header{kind: kindUser, target: wirePID{node: "b", id: "x"}, typ: "blob"}, body: big, withBody: true},
		{name: "signal watch", h: header{kind: kindSignal, target: wirePID{node: "b", id: "w"}, signal: 1, pid: wirePID{node: "a", id: "$2"}}},
		{name: "signal terminated", h: header{kind: kindSignal, target: wirePID{node: "a", id: "$9"}, signal: 5, pid: wirePID{node: "b", id: "x"}, reason: 3}},
		{name: "signal to request", h: header{kind: kindSignal, target: wirePID{node: "a", req: 3}, signal: 3}},
		{name: "error", h: header{kind: kindError, target: wirePID{node: "a", req: 99}, sender: wirePID{node: "b"}, code: 1, text: "no actor b/x"}},
		{name: "error long text", h: header{kind: kindError, target: wirePID{node: "a", req: 300}, code: 3, text: strings.Repeat("héllo ✓ ", 40)}},
		{name: "kind only", h: header{kind: kindUser}},
		{name: "id and req", h: header{kind: kindUser, target: wirePID{node: "n", id: "i", req: 5}, sender: wirePID{node: "m", id: "j", req: 6}, typ: "t"}, body: []byte{0xf6}, withBody: true},
		{name: "max numbers", h: header{
			kind:   math.MaxUint64,
			target: wirePID{node: "n", req: math.MaxUint64},
			sender: wirePID{node: "m", req: math.MaxUint32 + 1},
			signal: math.MaxUint16 + 1, reason: math.MaxUint8 + 1, code: 24,
		}},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, c := range envelopeCases() {
		t.Run(c.name, func(t *testing.T) {
			// Encode after unrelated bytes, as in a batch.
			prefix := []byte{0xde, 0xad}
			b := encodeTestEnvelope(append([]byte(nil), prefix...), &c.h, c.body, c.withBody)
			require.Equal(t, prefix, b[:2], "appendHeader clobbered the bytes before it")
			enc := b[2:]

			r := reader{b: enc}
			var e inEnvelope
			require.NoError(t, decodeEnvelope(&r, &e))
			assert.True(t, r.done(), "decoder stopped at %d of %d", r.off, len(enc))
			assert.Equal(t, wantFields(&c.h, c.body, c.withBody), fieldsOf(&e))

			// Valid CBOR, and a generic decoder reads the same fields.
			require.NoError(t, cbor.Wellformed(enc))
			var m map[uint64]any
			require.NoError(t, cbor.Unmarshal(enc, &m))
			assert.Equal(t, wantMap(&c.h, c.body, c.withBody), m)
		})
	}
}

func TestEnvelopeDecodeResetsFields(t *testing.T) {
	cs := envelopeCases()
	full := encodeTestEnvelope(nil, &cs[1].h, cs[1].body, true)
	bare := encodeTestEnvelope(nil, &header{kind: kindSignal}, nil, false)
	var e inEnvelope
	require.NoError(t, decodeEnvelope(&reader{b: full}, &e))
	require.NoError(t, decodeEnvelope(&reader{b: bare}, &e))
	assert.Equal(t, envFields{Kind: kindSignal}, fieldsOf(&e), "fields of the previous envelope leaked")
}

// The PID a signal is about has no request-id key: a request id there is
// dropped, and the map count must still agree with what is written.
func TestEnvelopeSignalPIDRequestNotCarried(t *testing.T) {
	h := header{kind: kindSignal, target: wirePID{node: "b", id: "x"}, signal: 1, pid: wirePID{node: "a", req: 5}}
	b := encodeTestEnvelope(nil, &h, nil, false)
	require.NoError(t, cbor.Wellformed(b))
	r := reader{b: b}
	var e inEnvelope
	require.NoError(t, decodeEnvelope(&r, &e))
	assert.True(t, r.done())
	assert.Equal(t, "a", string(e.pidNode))
	assert.Empty(t, e.pidID)
}

func TestEnvelopeSequence(t *testing.T) {
	cs := envelopeCases()
	var batch []byte
	var want []envFields
	var ends []int
	for _, c := range cs {
		batch = encodeTestEnvelope(batch, &c.h, c.body, c.withBody)
		want = append(want, wantFields(&c.h, c.body, c.withBody))
		ends = append(ends, len(batch))
	}

	r := reader{b: batch}
	var e inEnvelope
	var got []envFields
	for !r.done() {
		require.NoError(t, decodeEnvelope(&r, &e))
		require.Equal(t, ends[len(got)], r.off, "envelope %d ends at the wrong byte", len(got))
		got = append(got, fieldsOf(&e))
	}
	assert.Equal(t, want, got)

	// A generic CBOR decoder reads the batch as a CBOR sequence too.
	dec := cbor.NewDecoder(bytes.NewReader(batch))
	for i, c := range cs {
		var m map[uint64]any
		require.NoError(t, dec.Decode(&m), "item %d", i)
		assert.Equal(t, wantMap(&c.h, c.body, c.withBody), m, "item %d", i)
	}
	var extra any
	assert.ErrorIs(t, dec.Decode(&extra), io.EOF)
}

func TestEnvelopeSkipsUnknownKeys(t *testing.T) {
	// {1: 1, 99: [1, -5, {2: [3, 1(4)]}, "x", h'01', 1.5, true, null, []],
	//  2: "b", 100: 55({"k": [h'', 0.0f16]}), 3: "echo", 101: [], 8: "t", 15: h'f6'}
	var b []byte
	b = appendHead(b, majorMap, 8)
	b = appendUint(appendUint(b, keyKind), kindUser)
	b = appendUint(b, 99)
	b = appendHead(b, majorArray, 9)
	b = appendUint(b, 1)
	b = appendHead(b, majorNeg, 4)
	b = appendHead(b, majorMap, 1)
	b = appendUint(b, 2)
	b = appendHead(b, majorArray, 2)
	b = appendUint(b, 3)
	b = appendHead(b, majorTag, 1)
	b = appendUint(b, 4)
	b = appendText(b, "x")
	b = appendBytes(b, []byte{1})
	b = append(b, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0) // 1.5 as float64
	b = append(b, 0xf5, 0xf6)                         // true, null
	b = appendHead(b, majorArray, 0)
	b = appendText(appendUint(b, keyTargetNode), "b")
	b = appendUint(b, 100)
	b = appendHead(b, majorTag, 55)
	b = appendHead(b, majorMap, 1)
	b = appendText(b, "k")
	b = appendHead(b, majorArray, 2)
	b = appendBytes(b, nil)
	b = append(b, 0xf9, 0, 0) // 0.0 as float16
	b = appendText(appendUint(b, keyTargetID), "echo")
	b = appendUint(b, 101)
	b = appendHead(b, majorArray, 0)
	b = appendText(appendUint(b, keyType), "t")
	b = appendBytes(appendUint(b, keyBody), []byte{0xf6})
	require.NoError(t, cbor.Wellformed(b), "the test input itself must be valid CBOR")

	r := reader{b: b}
	var e inEnvelope
	require.NoError(t, decodeEnvelope(&r, &e))
	assert.True(t, r.done())
	assert.Equal(t, envFields{Kind: kindUser, TargetNode: "b", TargetID: "echo", Type: "t", Body: "\xf6", HasBody: true}, fieldsOf(&e))
}

// malformed decodes b as one envelope and returns the error, which must be
// a *MalformedError at offset 0 that matches ErrMalformed.
func malformed(t *testing.T, b []byte) error {
	t.Helper()
	var e inEnvelope
	r := reader{b: b}
	err := decodeEnvelope(&r, &e)
	require.Error(t, err, "% x", b)
	var me *MalformedError
	require.ErrorAs(t, err, &me)
	assert.ErrorIs(t, err, ErrMalformed)
	assert.Equal(t, 0, me.Offset)
	assert.Contains(t, err.Error(), "malformed envelope at byte 0")
	return err
}

func TestEnvelopeTruncatedEveryPrefix(t *testing.T) {
	cs := envelopeCases()
	for _, c := range cs {
		if c.name == "user big body" {
			continue // 70 kB of prefixes that all end inside the body
		}
		b := encodeTestEnvelope(nil, &c.h, c.body, c.withBody)
		for n := range len(b) {
			assert.NotPanics(t, func() { malformed(t, b[:n]) }, "%s: prefix %d", c.name, n)
		}
	}

	// In a batch, the error names the offset of the broken envelope, and the
	// ones before it still decode.
	first := encodeTestEnvelope(nil, &cs[0].h, cs[0].body, true)
	second := encodeTestEnvelope(nil, &cs[7].h, nil, false)
	batch := append(append([]byte(nil), first...), second...)
	for n := len(first) + 1; n < len(batch); n++ {
		r := reader{b: batch[:n]}
		var e inEnvelope
		require.NoError(t, decodeEnvelope(&r, &e))
		err := decodeEnvelope(&r, &e)
		var me *MalformedError
		require.ErrorAs(t, err, &me, "prefix %d", n)
		assert.Equal(t, len(first), me.Offset)
		assert.ErrorIs(t, err, errTruncated)
	}
}

func TestEnvelopeMalformed(t *testing.T) {
	kind := func(b []byte) []byte { return appendUint(appendUint(b, keyKind), kindUser) }
	tests := []struct {
		name string
		b    []byte
		want error // matched with errors.Is, when not nil
	}{
		{"empty", nil, errTruncated},
		{"not a map", appendHead(nil, majorArray, 0), errBadType},
		{"uint", []byte{0x01}, errBadType},
		{"empty map: no kind", appendHead(nil, majorMap, 0), nil},
		{"kind zero", appendUint(appendUint(appendHead(nil, majorMap, 1), keyKind), 0), nil},
		{"text key", appendText(appendText(appendHead(nil, majorMap, 1), "kind"), "x"), errBadType},
		{"negative key", appendUint(appendHead(appendHead(nil, majorMap, 1), majorNeg, 0), 1), errBadType},
		{"kind as text", appendText(appendUint(appendHead(nil, majorMap, 1), keyKind), "1"), errBadType},
		{"node as bytes", appendBytes(appendUint(kind(appendHead(nil, majorMap, 2)), keyTargetNode), []byte("b")), errBadType},
		{"body as text", appendText(appendUint(kind(appendHead(nil, majorMap, 2)), keyBody), "x"), errBadType},
		{"string longer than input", append(appendUint(kind(appendHead(nil, majorMap, 2)), keyType), majorText|26, 0xff, 0xff, 0xff, 0xff, 'x'), errTruncated},
		{"string length 2^64-1", append(appendUint(kind(appendHead(nil, majorMap, 2)), keyType), majorText|27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), errTruncated},
		{"reserved info 28", []byte{majorMap | 28}, nil},
		{"reserved info 30 in key", append(appendHead(nil, majorMap, 1), 30), nil},
		{"break byte as unknown field", append(appendUint(kind(appendHead(nil, majorMap, 2)), 99), 0xff), errIndef},
		{"map count beyond input", append(appendHead(nil, majorMap, 3), 0x01, 0x01), errTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := malformed(t, tt.b)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestEnvelopeIndefiniteLengthRefused(t *testing.T) {
	kindPrefix := appendUint(appendUint(appendHead(nil, majorMap, 2), keyKind), kindUser)
	tests := map[string][]byte{
		"map":           {0xbf, 0x01, 0x01, 0xff},
		"text field":    append(appendUint(append([]byte(nil), kindPrefix...), keyType), 0x7f, 0x61, 'a', 0xff),
		"bytes body":    append(appendUint(append([]byte(nil), kindPrefix...), keyBody), 0x5f, 0x41, 0x00, 0xff),
		"unknown array": append(appendUint(append([]byte(nil), kindPrefix...), 99), 0x9f, 0x01, 0xff),
		"unknown map":   append(appendUint(append([]byte(nil), kindPrefix...), 99), 0xbf, 0xff),
		"nested unknown": append(appendUint(append([]byte(nil), kindPrefix...), 99),
			0x82, 0x01, 0xa1, 0x01, 0x5f, 0xff),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, malformed(t, b), errIndef)
		})
	}
}

func TestEnvelopeHugeCountsRefusedQuickly(t *testing.T) {
	kindPrefix := appendUint(appendUint(appendHead(nil, majorMap, 2), keyKind), kindUser)
	unknown := func(tail ...byte) []byte {
		return append(appendUint(append([]byte(nil), kindPrefix...), 99), tail...)
	}
	tests := map[string][]byte{
		"envelope map 2^64-1":  {majorMap | 27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01},
		"envelope map 2^32-1":  {majorMap | 26, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01},
		"unknown array 2^64-1": unknown(majorArray|27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00),
		"unknown map 2^63":     unknown(majorMap|27, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00),
		"unknown map 2^64-1":   unknown(majorMap|27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00),
		"unknown map 10M":      unknown(majorMap|26, 0x00, 0x98, 0x96, 0x80, 0x00, 0x00),
		"unknown bytes 2^64-1": unknown(majorBytes|27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00),
		// Exactly as many items as bytes left, but pairs need twice that.
		"unknown map, count = bytes left": unknown(majorMap|2, 0x00, 0x00, 0x00),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			assert.ErrorIs(t, malformed(t, b), errTruncated)
			assert.Less(t, time.Since(start), 100*time.Millisecond)
		})
	}
}

func TestEnvelopeNestingDepth(t *testing.T) {
	// unknownNested is an envelope whose unknown field 99 holds a path of
	// items items deep: items-1 nested containers around a 0.
	unknownNested := func(items int, open []byte) []byte {
		b := appendUint(appendUint(appendHead(nil, majorMap, 2), keyKind), kindUser)
		b = appendUint(b, 99)
		for range items - 1 {
			b = append(b, open...)
		}
		return append(b, 0x00)
	}
	for _, c := range []struct {
		name string
		open []byte
	}{
		{"arrays", []byte{majorArray | 1}},
		{"maps", []byte{majorMap | 1, 0x00}}, // {0: next level}
		{"tags", []byte{majorTag | 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok := unknownNested(maxDepth, c.open)
			r := reader{b: ok}
			var e inEnvelope
			require.NoError(t, decodeEnvelope(&r, &e), "%d levels must be accepted", maxDepth)
			assert.True(t, r.done())
			require.NoError(t, cbor.Wellformed(ok))

			assert.ErrorIs(t, malformed(t, unknownNested(maxDepth+1, c.open)), errTooDeep)
			// Far deeper: no stack trouble, just the same error.
			assert.ErrorIs(t, malformed(t, unknownNested(100000, c.open)), errTooDeep)
		})
	}
}

func TestWireAppendHeadSizes(t *testing.T) {
	tests := []struct {
		n    uint64
		size int
	}{
		{0, 1}, {23, 1}, {24, 2}, {math.MaxUint8, 2}, {math.MaxUint8 + 1, 3},
		{math.MaxUint16, 3}, {math.MaxUint16 + 1, 5}, {math.MaxUint32, 5},
		{math.MaxUint32 + 1, 9}, {math.MaxUint64, 9},
	}
	for _, tt := range tests {
		b := appendUint([]byte{0xee}, tt.n)
		require.Len(t, b, 1+tt.size, "n=%d", tt.n)
		assert.Equal(t, byte(0xee), b[0])
		r := reader{b: b, off: 1}
		got, err := r.uint()
		require.NoError(t, err)
		assert.Equal(t, tt.n, got)
		assert.True(t, r.done())

		var viaLib uint64
		require.NoError(t, cbor.Unmarshal(b[1:], &viaLib), "n=%d", tt.n)
		assert.Equal(t, tt.n, viaLib)

		// The same head as a negative integer and as a string length.
		neg := appendHead(nil, majorNeg, tt.n)
		assert.Equal(t, majorNeg|b[1]&0x1f, neg[0])
		assert.Equal(t, b[2:], neg[1:])
	}
}

func TestWireBodyLengthPatched(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, 100000} {
		body := bytes.Repeat([]byte{0x00}, n) // n CBOR zeros: any bytes will do
		h := header{kind: kindUser, typ: "t"}
		b := appendHeader(nil, &h, true)
		b, start := beginBody(b)
		require.Equal(t, len(b), start)
		require.Equal(t, byte(majorBytes|26), b[start-bodyLenSize])
		b = append(b, body...)
		endBody(b, start)

		require.NoError(t, cbor.Wellformed(b), "body of %d bytes", n)
		var m map[uint64]any
		require.NoError(t, cbor.Unmarshal(b, &m))
		assert.Equal(t, body, m[keyBody])

		r := reader{b: b}
		var e inEnvelope
		require.NoError(t, decodeEnvelope(&r, &e))
		assert.Equal(t, body, e.body)
		assert.True(t, e.hasBody)
	}
}

func TestWireReaderSkipsEveryMajorType(t *testing.T) {
	items := [][]byte{
		{0x00}, {0x17}, {0x18, 0xff}, {0x19, 0x01, 0x00}, {0x1a, 0, 0, 0, 1}, {0x1b, 0, 0, 0, 0, 0, 0, 0, 1},
		{0x20}, {0x38, 0xff},
		{0x40}, {0x43, 1, 2, 3},
		{0x60}, {0x63, 'a', 'b', 'c'},
		{0x80}, {0x82, 0x01, 0x02},
		{0xa0}, {0xa1, 0x01, 0x02},
		{0xc1, 0x1a, 0, 0, 0, 0}, {0xd8, 0x20, 0x60},
		{0xf4}, {0xf5}, {0xf6}, {0xf7}, {0xf8, 0x20}, {0xf9, 0x3c, 0x00}, {0xfa, 0x3f, 0x80, 0, 0}, {0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0},
	}
	for _, it := range items {
		require.NoError(t, cbor.Wellformed(it), "% x", it)
		b := append(append([]byte(nil), it...), 0x07)
		r := reader{b: b}
		require.NoError(t, r.skip(maxDepth), "% x", it)
		assert.Equal(t, len(it), r.off, "% x", it)
		// Every strict prefix is truncated.
		for n := range len(it) {
			r := reader{b: it[:n]}
			assert.ErrorIs(t, r.skip(maxDepth), errTruncated, "% x[:%d]", it, n)
		}
	}
}

func TestEnvelopeRequestID(t *testing.T) {
	for _, req := range []uint64{1, 35, 36, 1 << 20, 1<<40 + 7, math.MaxUint64} {
		id := requestPIDID(req)
		assert.True(t, strings.HasPrefix(id, requestIDPrefix), id)
		got, ok := requestID(id)
		assert.True(t, ok, id)
		assert.Equal(t, req, got, id)
	}
	assert.Equal(t, "$~z", requestPIDID(35))
	assert.Equal(t, "$~10", requestPIDID(36))

	for _, id := range []string{
		"", "$", "$~", "$~0", "$~00", "$r1", "abc", "$1", "~1", "$~zz!", "$~-1", "$~+1",
		"$~1_0", " $~1", "$~1 ", "$~3w5e11264sgsg", // one past MaxUint64 in base 36
	} {
		_, ok := requestID(id)
		assert.False(t, ok, "%q", id)
	}
}

func TestEnvelopeMalformedErrorMatching(t *testing.T) {
	err := error(&MalformedError{Offset: 42, Err: errTruncated})
	assert.ErrorIs(t, err, ErrMalformed)
	assert.ErrorIs(t, err, errTruncated)
	assert.NotErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, "bus: malformed envelope at byte 42: truncated CBOR", err.Error())
	var me *MalformedError
	require.True(t, errors.As(err, &me))
	assert.Equal(t, 42, me.Offset)
}

func TestTrailingFlowMark(t *testing.T) {
	for _, off := range []uint64{1, 23, 24, 255, 256, 65535, 65536, 1 << 32, 1<<64 - 1} {
		batch := appendFlowMark(encodeTestEnvelope(nil, &header{kind: kindSignal, target: wirePID{node: "b", id: "x"}, signal: 3}, nil, false), off)
		got, ok := trailingFlowMark(batch)
		require.True(t, ok, "offset %d", off)
		assert.Equal(t, off, got)
	}
	for _, b := range [][]byte{nil, {0xa2}, []byte("garbage bytes"), appendFlowMark(nil, 7)[:4], appendFlowMark(nil, 300)[:6]} {
		_, ok := trailingFlowMark(b)
		assert.False(t, ok, "% x", b)
	}
}
