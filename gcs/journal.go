package gcs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"
)

// journal writes every change of the tables through to a JetStream
// key-value bucket, and reads the bucket back when a GCS starts.
//
// The GCS must not wait a round trip per change (it would cap actor
// creation at a few thousand a second), yet it must not answer a request
// before the change the answer reveals is stored. So writes are published
// asynchronously, in order, and after runs a function once every write
// issued before it is acknowledged: the GCS sends its replies that way.
//
// JetStream runs on a server of its own inside the head's process, with
// no listener: the tables are the GCS's private log, and keeping them off
// the cluster's routed server keeps JetStream out of NATS clustering.
type journal struct {
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	prefix string // "$KV.<bucket>."
	lock   *os.File
	tmpDir string // removed at close: the storage of a memory journal
	log    *slog.Logger

	mu      sync.Mutex // orders sends on queue with its close
	closed  bool
	queue   chan journalEntry
	pending atomic.Int64 // entries queued and not yet done
	errs    atomic.Uint64
	done    chan struct{}
}

type journalEntry struct {
	ack jetstream.PubAckFuture // nil for a barrier
	key string
	fn  func()
}

// bucketName is the KV bucket of the tables.
const bucketName = "goray_gcs"

// errStorageLocked fails a start whose storage directory another head
// holds.
var errStorageLocked = errors.New("gcs: storage directory is in use by another head")

// openJournal starts the private JetStream server on dir (empty: in
// memory, for an embedded cluster whose tables die with it).
func openJournal(ctx context.Context, dir string, log *slog.Logger) (*journal, error) {
	j := &journal{log: log, queue: make(chan journalEntry, 1<<16), done: make(chan struct{})}
	storage := jetstream.FileStorage
	if dir == "" {
		tmp, err := os.MkdirTemp("", "goray-gcs-")
		if err != nil {
			return nil, fmt.Errorf("gcs: journal: %w", err)
		}
		dir, j.tmpDir, storage = tmp, tmp, jetstream.MemoryStorage
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("gcs: storage dir: %w", err)
		}
		lock, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		j.lock = lock
	}
	if err := j.start(ctx, dir, storage); err != nil {
		j.closeResources()
		return nil, err
	}
	go j.ackLoop()
	return j, nil
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "gcs.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gcs: storage dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s): %v", errStorageLocked, dir, err)
	}
	return f, nil
}

func (j *journal) start(ctx context.Context, dir string, storage jetstream.StorageType) error {
	var id [6]byte
	_, _ = rand.Read(id[:])
	srv, err := server.NewServer(&server.Options{
		ServerName: "goray-gcs-" + hex.EncodeToString(id[:]),
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return fmt.Errorf("gcs: journal server: %w", err)
	}
	j.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return errors.New("gcs: journal server did not start within 10s")
	}
	if j.nc, err = nats.Connect("", nats.InProcessServer(srv), nats.Name("goray-gcs-journal")); err != nil {
		return fmt.Errorf("gcs: journal connection: %w", err)
	}
	// A write not acknowledged within the timeout fails (and is counted),
	// so that one lost acknowledgement cannot hold every later reply.
	if j.js, err = jetstream.New(j.nc, jetstream.WithPublishAsyncMaxPending(1<<14),
		jetstream.WithPublishAsyncTimeout(10*time.Second)); err != nil {
		return fmt.Errorf("gcs: jetstream: %w", err)
	}
	// The first request after start may wait for JetStream to be ready.
	for {
		j.kv, err = j.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucketName, History: 1, Storage: storage,
			Description: "goray GCS tables: nodes, actors, jobs, internal KV",
		})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gcs: open the tables' bucket: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	j.prefix = "$KV." + bucketName + "."
	return nil
}

// load returns every key and value stored.
func (j *journal) load(ctx context.Context) (map[string][]byte, error) {
	w, err := j.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("gcs: read the tables: %w", err)
	}
	defer w.Stop()
	out := make(map[string][]byte)
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			out[e.Key()] = e.Value()
		case <-ctx.Done():
			return nil, fmt.Errorf("gcs: read the tables: %w", ctx.Err())
		}
	}
}

// put stores value (CBOR) under key; after-functions queued later run
// once it is stored.
func (j *journal) put(key string, value []byte) {
	ack, err := j.js.PublishAsync(j.prefix+key, value)
	j.enqueue(journalEntry{ack: ack, key: key}, err)
}

// del removes key.
func (j *journal) del(key string) {
	m := nats.NewMsg(j.prefix + key)
	m.Header.Set("KV-Operation", "DEL")
	ack, err := j.js.PublishMsgAsync(m)
	j.enqueue(journalEntry{ack: ack, key: key}, err)
}

func (j *journal) enqueue(e journalEntry, err error) {
	if err != nil {
		j.failed(e.key, err)
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		j.failed(e.key, errors.New("journal closed"))
		return
	}
	j.pending.Add(1)
	j.queue <- e
}

// after runs fn once every write issued so far is stored (or has
// failed): at once when none is outstanding. fn runs on the journal's
// goroutine then, so it must only send messages.
func (j *journal) after(fn func()) {
	if j.pending.Load() == 0 {
		fn()
		return
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		fn()
		return
	}
	j.pending.Add(1)
	j.queue <- journalEntry{fn: fn}
	j.mu.Unlock()
}

func (j *journal) ackLoop() {
	defer close(j.done)
	for e := range j.queue {
		if e.ack != nil {
			select {
			case <-e.ack.Ok():
			case err := <-e.ack.Err():
				j.failed(e.key, err)
			}
		}
		if e.fn != nil {
			e.fn()
		}
		j.pending.Add(-1)
	}
}

func (j *journal) failed(key string, err error) {
	j.errs.Add(1)
	j.log.Error("gcs: a table change was not stored; a restarted head will not see it", "key", key, "err", err)
}

// close waits for outstanding writes (until ctx ends), then stops the
// server.
func (j *journal) close(ctx context.Context) {
	j.mu.Lock()
	if !j.closed {
		j.closed = true
		close(j.queue)
	}
	j.mu.Unlock()
	select {
	case <-j.done:
	case <-ctx.Done():
	}
	j.closeResources()
}

func (j *journal) closeResources() {
	if j.nc != nil {
		j.nc.Close()
	}
	if j.srv != nil {
		j.srv.Shutdown()
		j.srv.WaitForShutdown()
	}
	if j.lock != nil {
		j.lock.Close()
	}
	if j.tmpDir != "" {
		os.RemoveAll(j.tmpDir)
	}
}
