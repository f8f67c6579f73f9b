package bus

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// link batches the envelopes bound for one peer node. Senders append
// envelopes to the open batch under a lock, encoding in place; the first
// envelope of a batch wakes the link's flusher, which publishes whatever
// has built up by the time it runs. Idle, a message goes out at once; under
// load, batches fill while the previous one is being published, so
// throughput does not hinge on NATS's per-message cost and no linger adds
// latency. A batch that reaches FlushBytes is published by its sender.
//
// Order: envelopes enter the batch in the order senders take the lock, and
// batches reach NATS in the order they were cut, since cutting a batch and
// taking pubMu happen under mu. One NATS connection keeps that order.
type link struct {
	n       *Node
	prev    *link // a retired link to the same peer, until it has stopped
	peer    string
	gen     uint64 // tells this link's acknowledgements from a replaced one's
	subject string
	created time.Time

	mu     sync.Mutex
	buf    []byte // the open batch
	spare  []byte // the last published batch's memory, for reuse
	count  int    // envelopes in buf
	closed bool

	pubMu     sync.Mutex  // held while publishing a cut batch
	published uint64      // bytes published, guarded by pubMu
	abandoned atomic.Bool // drop what is left: the peer is gone or Close gave up
	acked     atomic.Uint64
	ackSignal chan struct{}
	ackTo     string // reply subject for the peer's acknowledgements

	kick chan struct{}
	done chan struct{}
}

func newLink(n *Node, peer string, prev *link) *link {
	gen := n.linkGen.Add(1)
	l := &link{
		n:         n,
		prev:      prev,
		peer:      peer,
		gen:       gen,
		created:   time.Now(),
		subject:   n.subjects.Inbox(peer),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		ackSignal: make(chan struct{}, 1),
		ackTo:     n.ackSubject(peer, gen),
	}
	go l.flusher()
	return l
}

// errLinkClosed fails sends after the node began closing.
var errLinkClosed = fmt.Errorf("bus: node is closing")

// encodeBuf is scratch memory for encoding one envelope outside the
// link's lock.
type encodeBuf struct {
	b       []byte
	scratch bytes.Buffer
}

var encodeBufs = sync.Pool{New: func() any { return new(encodeBuf) }}

// maxPooledEncode keeps rare large messages from pinning memory in the pool.
const maxPooledEncode = 64 << 10

// encodeEnvelope encodes one envelope, with msg as its body when
// withBody, refusing bodies over limit.
func encodeEnvelope(eb *encodeBuf, h *header, msg any, withBody bool, limit int) error {
	b := appendHeader(eb.b[:0], h, withBody)
	if withBody {
		var bodyStart int
		var err error
		b, bodyStart = beginBody(b)
		out, err := appendBody(b, msg, &eb.scratch)
		if err == nil && len(out)-bodyStart > limit {
			err = &TooLargeError{Size: len(out) - bodyStart, Limit: limit}
		}
		if err != nil {
			return fmt.Errorf("bus: encode %T: %w", msg, err)
		}
		b = out
		endBody(b, bodyStart)
	}
	eb.b = b
	// Long ids could still make the envelope larger than NATS takes, and
	// NATS would drop its whole batch without a word.
	if len(b) > limit+envelopeRoom {
		return fmt.Errorf("bus: envelope: %w", &TooLargeError{Size: len(b), Limit: limit + envelopeRoom})
	}
	return nil
}

// append encodes one envelope (with msg as its body when withBody) and
// adds it to the open batch. Encoding happens outside the lock: senders on
// different cores encode in parallel, and a panicking or failing encoder
// cannot leave the batch half-written or the lock held.
func (l *link) append(h *header, msg any, withBody bool) error {
	eb := encodeBufs.Get().(*encodeBuf)
	defer func() {
		if cap(eb.b) <= maxPooledEncode {
			encodeBufs.Put(eb)
		}
	}()
	if err := encodeEnvelope(eb, h, msg, withBody, l.n.cfg.MaxMessageBytes); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errLinkClosed
	}
	start := len(l.buf)
	b := append(l.buf, eb.b...)
	l.buf = b
	l.count++
	switch {
	case len(b) > l.n.cfg.MaxPayload:
		// The new envelope does not fit with the ones before it: they go
		// first, then it goes alone.
		l.publishLocked(start)
	case len(b) >= l.n.cfg.FlushBytes:
		l.publishLocked(len(b))
	case start == 0:
		select {
		case l.kick <- struct{}{}:
		default:
		}
		l.mu.Unlock()
	default:
		l.mu.Unlock()
	}
	return nil
}

// publishLocked cuts the open batch and publishes it, in two NATS
// messages when split is inside it. It is called with mu held and returns
// with mu released; publishing itself happens outside mu, so senders can
// fill the next batch meanwhile.
func (l *link) publishLocked(split int) {
	batch, count := l.buf, l.count
	l.buf, l.spare, l.count = l.spare[:0], nil, 0
	l.pubMu.Lock()
	l.mu.Unlock()
	if split > 0 && split < len(batch) {
		// Clipped, so the first part's flow mark cannot overwrite the
		// second part.
		l.publish(slices.Clip(batch[:split]), count-1)
		l.publish(batch[split:], 1)
	} else {
		l.publish(batch, count)
	}
	l.pubMu.Unlock()
	l.mu.Lock()
	if l.spare == nil {
		l.spare = batch[:0]
	}
	l.mu.Unlock()
}

// publish hands one batch to NATS, which copies it, once the flow window
// has room for it. The batch ends with a flow envelope carrying the link's
// byte offset after it, which the peer acknowledges: offsets are the
// sender's own, so a batch lost on the way or a peer that forgot its state
// cannot skew the window.
func (l *link) publish(batch []byte, count int) {
	if l.prev != nil {
		<-l.prev.done
		l.prev = nil
	}
	if !l.awaitWindow(len(batch)) {
		l.n.counters.sendErrors.Add(uint64(count))
		l.n.throttled.logAt(slog.LevelWarn, "publish down", "bus: peer is down or unknown; messages dropped",
			"peer", l.peer, "envelopes", count)
		return
	}
	end := l.published + uint64(len(batch))
	// The batch was cut from the open one and belongs to this publish: the
	// mark goes on its end, in its spare capacity.
	if err := l.n.nc.PublishRequest(l.subject, l.ackTo, appendFlowMark(batch, end)); err != nil {
		l.n.counters.sendErrors.Add(uint64(count))
		l.n.throttled.logAt(slog.LevelWarn, "publish", "bus: publish failed; messages dropped",
			"peer", l.peer, "envelopes", count, "bytes", len(batch), "error", err)
		return
	}
	l.published = end
	l.n.counters.sent.Add(uint64(count))
	l.n.counters.batches.Add(1)
}

// flusher publishes the open batch whenever it is kicked, until the link
// is closed; then it publishes what is left.
func (l *link) flusher() {
	defer close(l.done)
	for range l.kick {
		l.mu.Lock()
		if len(l.buf) == 0 {
			l.mu.Unlock()
			continue
		}
		l.publishLocked(0)
	}
	l.mu.Lock()
	if len(l.buf) == 0 {
		l.mu.Unlock()
		return
	}
	l.publishLocked(0)
}

// close stops the flusher after it has published what is queued, or
// dropped it once ctx ends.
func (l *link) close(ctx context.Context) {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.kick)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
		l.abandon()
		<-l.done
	}
}

// abandon makes the link drop whatever it has not published yet, at once.
func (l *link) abandon() {
	l.abandoned.Store(true)
	select {
	case l.ackSignal <- struct{}{}: // wake a publisher waiting for the window
	default:
	}
}

// TooLargeError fails a send whose encoded body is larger than
// Config.MaxMessageBytes. Large values belong in the object store.
type TooLargeError struct {
	Size, Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message body of %d bytes exceeds the limit of %d", e.Size, e.Limit)
}
