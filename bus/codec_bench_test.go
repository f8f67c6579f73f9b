package bus

import (
	"testing"
)

// benchBody is a 5-field message encoded by reflection.
type benchBody struct {
	ID    uint64  `cbor:"1,keyasint"`
	Name  string  `cbor:"2,keyasint"`
	Count int64   `cbor:"3,keyasint"`
	Score float64 `cbor:"4,keyasint"`
	OK    bool    `cbor:"5,keyasint"`
}

// benchFastBody is the same message on the fast path.
type benchFastBody benchBody

func (m *benchFastBody) AppendCBOR(b []byte) ([]byte, error) {
	b = AppendMap(b, 5)
	b = AppendUint(AppendUint(b, 1), m.ID)
	b = AppendText(AppendUint(b, 2), m.Name)
	b = AppendInt(AppendUint(b, 3), m.Count)
	b = AppendFloat64(AppendUint(b, 4), m.Score)
	b = AppendBool(AppendUint(b, 5), m.OK)
	return b, nil
}

func (m *benchFastBody) UnmarshalCBOR(data []byte) error {
	d := NewDecoder(data)
	n, err := d.Map()
	for ; err == nil && n > 0; n-- {
		var key uint64
		if key, err = d.Uint(); err != nil {
			break
		}
		switch key {
		case 1:
			m.ID, err = d.Uint()
		case 2:
			m.Name, err = d.Text()
		case 3:
			m.Count, err = d.Int()
		case 4:
			m.Score, err = d.Float64()
		case 5:
			m.OK, err = d.Bool()
		default:
			err = d.Skip()
		}
	}
	return err
}

func init() {
	Register[*benchBody]("bench.body")
	Register[*benchFastBody]("bench.fastbody")
}

// BenchmarkEnvelopeCodec encodes an envelope with a 5-field body the way a
// link does and decodes it the way the inbox does: header, type lookup
// and body.
func BenchmarkEnvelopeCodec(b *testing.B) {
	h := header{
		kind:   kindUser,
		target: wirePID{node: "node-2", id: "worker"},
		sender: wirePID{node: "node-1", id: "$3f"},
	}
	for _, bc := range []struct {
		name string
		typ  string
		msg  any
	}{
		{"reflection", "bench.body", &benchBody{ID: 42, Name: "ada", Count: -7, Score: 0.5, OK: true}},
		{"fastpath", "bench.fastbody", &benchFastBody{ID: 42, Name: "ada", Count: -7, Score: 0.5, OK: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h.typ = bc.typ
			eb := new(encodeBuf)
			var e inEnvelope
			b.ReportAllocs()
			for b.Loop() {
				if err := encodeEnvelope(eb, &h, bc.msg, true, DefaultMaxMessageBytes); err != nil {
					b.Fatal(err)
				}
				r := reader{b: eb.b}
				if err := decodeEnvelope(&r, &e); err != nil {
					b.Fatal(err)
				}
				if _, err := typeNamed(e.typ).decode(e.body); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(eb.b)))
		})
	}
}
