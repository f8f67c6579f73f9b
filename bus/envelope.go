package bus

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// envelope kinds.
const (
	kindUser   = 1 // a user message: type name and body
	kindSignal = 2 // watch, unwatch, stop, poison, terminated
	kindError  = 3 // a request failed on the far side: code and text
	kindFlow   = 4 // ends a batch: the sending link's byte offset (flow control)
)

// Envelope keys. The envelope is a CBOR map with integer keys so that a
// newer peer may add keys an older one skips. The body always comes last,
// so its length can be patched in after the body is encoded in place.
const (
	keyKind       = 1
	keyTargetNode = 2
	keyTargetID   = 3
	keyTargetReq  = 4 // the target is the future of this request id
	keySenderNode = 5
	keySenderID   = 6
	keySenderReq  = 7 // the sender is the future of this request id
	keyType       = 8
	keySignal     = 9
	keyPIDNode    = 10
	keyPIDID      = 11
	keyReason     = 12
	keyCode       = 13
	keyText       = 14
	keyBody       = 15
)

// maxDepth bounds the nesting of unknown envelope fields that are skipped.
const maxDepth = 16

// wirePID is a PID as the envelope carries it: a node and either an actor
// id or, for a request's future, the request id.
type wirePID struct {
	node string
	id   string
	req  uint64
}

// header is an outgoing envelope without its body.
type header struct {
	kind   uint64
	target wirePID
	sender wirePID
	typ    string
	signal uint64
	pid    wirePID // the PID a signal is about
	reason uint64
	code   uint64
	text   string
}

// bodyLenSize is the size of the body's byte-string head, always written
// in its 4-byte form so the body can be encoded in place and its length
// patched in afterwards (valid CBOR, if not the shortest form).
const bodyLenSize = 5

// appendHeader appends an envelope's map head and fields; withBody says
// that a body field follows, to be written by beginBody and endBody. The
// map head is one byte (an envelope has fewer than 24 fields), so it is
// written first and its count patched in at the end.
func appendHeader(b []byte, h *header, withBody bool) []byte {
	head := len(b)
	b = append(b, majorMap)
	b = appendUint(appendUint(b, keyKind), h.kind)
	n := 1
	b, n = appendPID(b, n, h.target, keyTargetNode, keyTargetID, keyTargetReq)
	b, n = appendPID(b, n, h.sender, keySenderNode, keySenderID, keySenderReq)
	if h.typ != "" {
		b, n = appendText(appendUint(b, keyType), h.typ), n+1
	}
	if h.signal != 0 {
		b, n = appendUint(appendUint(b, keySignal), h.signal), n+1
	}
	b, n = appendPID(b, n, h.pid, keyPIDNode, keyPIDID, 0)
	if h.reason != 0 {
		b, n = appendUint(appendUint(b, keyReason), h.reason), n+1
	}
	if h.code != 0 {
		b, n = appendUint(appendUint(b, keyCode), h.code), n+1
	}
	if h.text != "" {
		b, n = appendText(appendUint(b, keyText), h.text), n+1
	}
	if withBody {
		n++
	}
	b[head] = majorMap | byte(n)
	return b
}

// appendPID appends a PID's fields and returns the new field count.
func appendPID(b []byte, n int, p wirePID, keyNode, keyID, keyReq uint64) ([]byte, int) {
	if p.node != "" {
		b, n = appendText(appendUint(b, keyNode), p.node), n+1
	}
	if p.id != "" {
		b, n = appendText(appendUint(b, keyID), p.id), n+1
	}
	if p.req != 0 && keyReq != 0 {
		b, n = appendUint(appendUint(b, keyReq), p.req), n+1
	}
	return b, n
}

// beginBody appends the body key and a placeholder length; it returns the
// offset where the body starts.
func beginBody(b []byte) ([]byte, int) {
	b = appendUint(b, keyBody)
	b = append(b, majorBytes|26, 0, 0, 0, 0)
	return b, len(b)
}

// endBody patches the body's length in, once it has been appended.
func endBody(b []byte, start int) {
	binary.BigEndian.PutUint32(b[start-4:start], uint32(len(b)-start))
}

// inEnvelope is a decoded envelope. Its byte slices alias the batch it was
// read from and are valid only while the batch is being handled.
type inEnvelope struct {
	kind                 uint64
	targetNode, targetID []byte
	targetReq            uint64
	senderNode, senderID []byte
	senderReq            uint64
	typ                  []byte
	signal               uint64
	pidNode, pidID       []byte
	reason, code         uint64
	text                 []byte
	body                 []byte
	hasBody              bool
	offset               uint64 // of a flow envelope
}

// MalformedError says why bytes from the wire are not a valid envelope.
type MalformedError struct {
	Offset int   // byte offset in the batch
	Err    error // what was wrong
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("bus: malformed envelope at byte %d: %v", e.Offset, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// decodeEnvelope reads one envelope from r. It checks shape, not meaning:
// the caller decides whether the fields make sense together.
func decodeEnvelope(r *reader, e *inEnvelope) error {
	*e = inEnvelope{}
	start := r.off
	fail := func(err error) error { return &MalformedError{Offset: start, Err: err} }
	major, n, err := r.head()
	if err != nil {
		return fail(err)
	}
	if major != majorMap {
		return fail(errBadType)
	}
	if n > uint64(len(r.b)-r.off) {
		return fail(errTruncated)
	}
	for range n {
		key, err := r.uint()
		if err != nil {
			return fail(fmt.Errorf("key: %w", err))
		}
		if err := decodeField(r, e, key); err != nil {
			return fail(fmt.Errorf("key %d: %w", key, err))
		}
	}
	if e.kind == 0 {
		return fail(fmt.Errorf("no kind"))
	}
	return nil
}

func decodeField(r *reader, e *inEnvelope, key uint64) (err error) {
	text := func() ([]byte, error) { return r.bytesOf(majorText) }
	switch key {
	case keyKind:
		e.kind, err = r.uint()
	case keyTargetNode:
		e.targetNode, err = text()
	case keyTargetID:
		e.targetID, err = text()
	case keyTargetReq:
		e.targetReq, err = r.uint()
	case keySenderNode:
		e.senderNode, err = text()
	case keySenderID:
		e.senderID, err = text()
	case keySenderReq:
		e.senderReq, err = r.uint()
	case keyType:
		e.typ, err = text()
	case keySignal:
		e.signal, err = r.uint()
	case keyPIDNode:
		e.pidNode, err = text()
	case keyPIDID:
		e.pidID, err = text()
	case keyReason:
		e.reason, err = r.uint()
	case keyCode:
		e.code, err = r.uint()
	case keyText:
		e.text, err = text()
	case keyBody:
		e.body, err = r.bytesOf(majorBytes)
		e.hasBody = true
	case keyFlowOffset:
		e.offset, err = r.uint()
	default:
		err = r.skip(maxDepth)
	}
	return err
}

// requestIDPrefix starts the id of a PID that stands for a remote
// request's future: "$~" and the request id in base 36. Ids starting with
// '$' are never names (the actor package reserves them), and generated
// actor ids are '$' and base-36 digits only, so these never collide.
const requestIDPrefix = "$~"

func requestID(id string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, requestIDPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 36, 64)
	return n, err == nil && n != 0
}

func requestPIDID(req uint64) string {
	return requestIDPrefix + strconv.FormatUint(req, 36)
}
