package mailbox

import "testing"

// benchMsg has the shape of an actor envelope: an interface and a pointer.
type benchMsg struct {
	v any
	_ *int
}

func BenchmarkQueuePushPop(b *testing.B) {
	var q Queue[benchMsg]
	m := benchMsg{v: 1}
	b.ReportAllocs()
	for range b.N {
		q.Push(m)
		q.Pop()
	}
}

func BenchmarkQueueBurst(b *testing.B) {
	var q Queue[benchMsg]
	m := benchMsg{v: 1}
	b.ReportAllocs()
	for i := 0; i < b.N; i += 1000 {
		for range 1000 {
			q.Push(m)
		}
		for range 1000 {
			q.Pop()
		}
	}
}
