package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The envelope is one fixed internal struct, so it is encoded and decoded
// by hand, as valid CBOR (RFC 8949): reflection would cost several times
// the rest of the message. These helpers cover the few CBOR items the
// envelope uses, and skipping items a newer peer may add.

// CBOR major types, shifted into the high bits of the initial byte.
const (
	majorUint  = 0 << 5
	majorNeg   = 1 << 5
	majorBytes = 2 << 5
	majorText  = 3 << 5
	majorArray = 4 << 5
	majorMap   = 5 << 5
	majorTag   = 6 << 5
	majorOther = 7 << 5
)

// errTruncated and friends say why bytes are not a well-formed envelope.
var (
	errTruncated = errors.New("truncated CBOR")
	errBadType   = errors.New("unexpected CBOR type")
	errTooDeep   = errors.New("CBOR nested too deeply")
	errIndef     = errors.New("indefinite-length CBOR items are not accepted")
)

// appendHead appends a CBOR item head: major type and argument.
func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, major|27), n)
	}
}

func appendUint(b []byte, n uint64) []byte { return appendHead(b, majorUint, n) }

func appendText(b []byte, s string) []byte {
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

func appendBytes(b []byte, p []byte) []byte {
	return append(appendHead(b, majorBytes, uint64(len(p))), p...)
}

// reader reads CBOR items from a byte slice without copying.
type reader struct {
	b   []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.b) }

// head reads an item head. Indefinite lengths are refused: nothing goray
// sends uses them, and they would make the size of an item unknowable
// before reading it.
func (r *reader) head() (major byte, n uint64, err error) {
	// Small arguments, the common case, take the inlined path.
	if r.off < len(r.b) && r.b[r.off]&0x1f < 24 {
		ib := r.b[r.off]
		r.off++
		return ib & 0xe0, uint64(ib & 0x1f), nil
	}
	return r.headLong()
}

// headLong reads a head whose argument follows the initial byte.
func (r *reader) headLong() (major byte, n uint64, err error) {
	if r.off >= len(r.b) {
		return 0, 0, errTruncated
	}
	ib := r.b[r.off]
	r.off++
	major, info := ib&0xe0, ib&0x1f
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24:
		if r.off+1 > len(r.b) {
			return 0, 0, errTruncated
		}
		n = uint64(r.b[r.off])
		r.off++
	case info == 25:
		if r.off+2 > len(r.b) {
			return 0, 0, errTruncated
		}
		n = uint64(binary.BigEndian.Uint16(r.b[r.off:]))
		r.off += 2
	case info == 26:
		if r.off+4 > len(r.b) {
			return 0, 0, errTruncated
		}
		n = uint64(binary.BigEndian.Uint32(r.b[r.off:]))
		r.off += 4
	case info == 27:
		if r.off+8 > len(r.b) {
			return 0, 0, errTruncated
		}
		n = binary.BigEndian.Uint64(r.b[r.off:])
		r.off += 8
	case info == 31:
		return 0, 0, errIndef
	default:
		return 0, 0, fmt.Errorf("reserved CBOR additional information %d", info)
	}
	return major, n, nil
}

func (r *reader) uint() (uint64, error) {
	// Keys and small values: one byte, inlined.
	if r.off < len(r.b) && r.b[r.off] < 24 {
		r.off++
		return uint64(r.b[r.off-1]), nil
	}
	return r.uintLong()
}

func (r *reader) uintLong() (uint64, error) {
	major, n, err := r.head()
	if err != nil {
		return 0, err
	}
	if major != majorUint {
		return 0, errBadType
	}
	return n, nil
}

// bytesOf reads a byte or text string of the given major type; the result
// aliases the input.
func (r *reader) bytesOf(want byte) ([]byte, error) {
	// Short strings (node names, ids, type names): inlined.
	if i := r.off; i < len(r.b) && r.b[i]&0xe0 == want && r.b[i]&0x1f < 24 && i+1+int(r.b[i]&0x1f) <= len(r.b) {
		r.off = i + 1 + int(r.b[i]&0x1f)
		return r.b[i+1 : r.off], nil
	}
	return r.bytesLong(want)
}

func (r *reader) bytesLong(want byte) ([]byte, error) {
	major, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if major != want {
		return nil, errBadType
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, errTruncated
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

// skip steps over one well-formed item, refusing nesting deeper than
// depth, so a newer peer's extra fields are ignored rather than fatal.
func (r *reader) skip(depth int) error {
	if depth <= 0 {
		return errTooDeep
	}
	start := r.off
	major, n, err := r.head()
	if err != nil {
		return err
	}
	switch major {
	case majorUint, majorNeg:
		return nil
	case majorOther:
		// RFC 8949 3.3: simple values below 32 must use the one-byte form.
		if r.b[start] == majorOther|24 && n < 32 {
			return errBadType
		}
		return nil
	case majorBytes, majorText:
		if n > uint64(len(r.b)-r.off) {
			return errTruncated
		}
		r.off += int(n)
		return nil
	case majorTag:
		return r.skip(depth - 1)
	case majorArray, majorMap:
		items := n
		if major == majorMap {
			if n > math.MaxUint64/2 {
				return errTruncated
			}
			items = 2 * n
		}
		// Every item takes at least a byte: a count beyond what is left
		// is a lie, refused before looping on it.
		if items > uint64(len(r.b)-r.off) {
			return errTruncated
		}
		for range items {
			if err := r.skip(depth - 1); err != nil {
				return err
			}
		}
		return nil
	}
	return errBadType
}
