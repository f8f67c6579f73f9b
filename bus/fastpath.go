package bus

import (
	"encoding/binary"
	"math"
)

// Helpers for message types that take the fast path: they implement
// Appender (encode) and cbor.Unmarshaler (decode) by hand with these,
// which costs a fraction of reflection. A fast-path type should still be a
// CBOR map with integer keys, so it stays readable by the reflection codec
// and by older peers, and it should skip keys it does not know.
//
//	func (t *Tick) AppendCBOR(b []byte) ([]byte, error) {
//		b = bus.AppendMap(b, 2)
//		b = bus.AppendUint(bus.AppendUint(b, 1), t.Seq)
//		b = bus.AppendText(bus.AppendUint(b, 2), t.Name)
//		return b, nil
//	}
//
//	func (t *Tick) UnmarshalCBOR(data []byte) error {
//		d := bus.NewDecoder(data)
//		n, err := d.Map()
//		for ; err == nil && n > 0; n-- {
//			var key uint64
//			if key, err = d.Uint(); err != nil {
//				break
//			}
//			switch key {
//			case 1:
//				t.Seq, err = d.Uint()
//			case 2:
//				t.Name, err = d.Text()
//			default:
//				err = d.Skip()
//			}
//		}
//		return err
//	}

// AppendMap appends the head of a map of n key–value pairs.
func AppendMap(b []byte, n int) []byte { return appendHead(b, majorMap, uint64(n)) }

// AppendArray appends the head of an array of n items.
func AppendArray(b []byte, n int) []byte { return appendHead(b, majorArray, uint64(n)) }

// AppendUint appends an unsigned integer.
func AppendUint(b []byte, v uint64) []byte { return appendUint(b, v) }

// AppendInt appends a signed integer.
func AppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return appendHead(b, majorUint, uint64(v))
	}
	return appendHead(b, majorNeg, uint64(-(v + 1)))
}

// AppendText appends a text string.
func AppendText(b []byte, s string) []byte { return appendText(b, s) }

// AppendBytes appends a byte string.
func AppendBytes(b, p []byte) []byte { return appendBytes(b, p) }

// AppendBool appends true or false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, majorOther|21)
	}
	return append(b, majorOther|20)
}

// AppendFloat64 appends a 64-bit float.
func AppendFloat64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, majorOther|27), math.Float64bits(v))
}

// Decoder reads the items of a fast-path message. Strings and byte
// strings it returns by Text and Bytes are copies; the input is not kept.
type Decoder struct{ r reader }

// NewDecoder reads data.
func NewDecoder(data []byte) Decoder { return Decoder{r: reader{b: data}} }

// Done reports whether all input has been read.
func (d *Decoder) Done() bool { return d.r.done() }

// Map reads a map head and returns its number of pairs, refusing counts
// larger than the input could hold.
func (d *Decoder) Map() (int, error) { return d.container(majorMap) }

// Array reads an array head and returns its number of items.
func (d *Decoder) Array() (int, error) { return d.container(majorArray) }

func (d *Decoder) container(want byte) (int, error) {
	major, n, err := d.r.head()
	if err != nil {
		return 0, err
	}
	if major != want {
		return 0, errBadType
	}
	if n > uint64(len(d.r.b)-d.r.off) {
		return 0, errTruncated
	}
	return int(n), nil
}

// Uint reads an unsigned integer.
func (d *Decoder) Uint() (uint64, error) { return d.r.uint() }

// Int reads a signed integer.
func (d *Decoder) Int() (int64, error) {
	major, n, err := d.r.head()
	switch {
	case err != nil:
		return 0, err
	case major == majorUint && n <= math.MaxInt64:
		return int64(n), nil
	case major == majorNeg && n <= math.MaxInt64:
		return -int64(n) - 1, nil
	}
	return 0, errBadType
}

// Text reads a text string.
func (d *Decoder) Text() (string, error) {
	p, err := d.r.bytesOf(majorText)
	return string(p), err
}

// Bytes reads a byte string.
func (d *Decoder) Bytes() ([]byte, error) {
	p, err := d.r.bytesOf(majorBytes)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), p...), nil
}

// Bool reads true or false.
func (d *Decoder) Bool() (bool, error) {
	if d.r.off >= len(d.r.b) {
		return false, errTruncated
	}
	switch d.r.b[d.r.off] {
	case majorOther | 20:
		d.r.off++
		return false, nil
	case majorOther | 21:
		d.r.off++
		return true, nil
	}
	return false, errBadType
}

// Float64 reads a 32- or 64-bit float.
func (d *Decoder) Float64() (float64, error) {
	if d.r.off >= len(d.r.b) {
		return 0, errTruncated
	}
	ib := d.r.b[d.r.off]
	if ib != majorOther|26 && ib != majorOther|27 {
		return 0, errBadType
	}
	_, n, err := d.r.head()
	if err != nil {
		return 0, err
	}
	if ib == majorOther|26 {
		return float64(math.Float32frombits(uint32(n))), nil
	}
	return math.Float64frombits(n), nil
}

// Skip steps over one item, whatever it is.
func (d *Decoder) Skip() error { return d.r.skip(maxDepth) }
