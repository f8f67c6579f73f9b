package goray

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/plasma"
)

// Nodes lists the cluster's nodes, alive and dead, oldest first.
func (rt *Runtime) Nodes(ctx context.Context) ([]gcs.NodeInfo, error) {
	return listAll(ctx, rt, func(off int) any { return &gcs.ListNodes{Offset: off} },
		func(r *gcs.ListReply) []gcs.NodeInfo { return r.Nodes })
}

// Actors lists the cluster's actors, oldest first.
func (rt *Runtime) Actors(ctx context.Context) ([]gcs.ActorInfo, error) {
	return listAll(ctx, rt, func(off int) any { return &gcs.ListActors{Offset: off} },
		func(r *gcs.ListReply) []gcs.ActorInfo { return r.Actors })
}

// Jobs lists the cluster's jobs, oldest first.
func (rt *Runtime) Jobs(ctx context.Context) ([]gcs.JobInfo, error) {
	return listAll(ctx, rt, func(off int) any { return &gcs.ListJobs{Offset: off} },
		func(r *gcs.ListReply) []gcs.JobInfo { return r.Jobs })
}

func listAll[T any](ctx context.Context, rt *Runtime, req func(int) any, items func(*gcs.ListReply) []T) ([]T, error) {
	var out []T
	for off := 0; ; {
		res, err := rt.request(ctx, req(off))
		if err != nil {
			return nil, fmt.Errorf("goray: list: %w", err)
		}
		r, ok := res.(*gcs.ListReply)
		if !ok {
			return nil, fmt.Errorf("goray: the GCS answered with %T", res)
		}
		out = append(out, items(r)...)
		if r.Next == 0 {
			return out, nil
		}
		off = r.Next
	}
}

// Status returns what `goray status` shows: nodes, actors by state,
// demand waiting for room.
func (rt *Runtime) Status(ctx context.Context) (*gcs.StatusReply, error) {
	res, err := rt.request(ctx, &gcs.GetStatus{})
	if err != nil {
		return nil, fmt.Errorf("goray: status: %w", err)
	}
	r, ok := res.(*gcs.StatusReply)
	if !ok {
		return nil, fmt.Errorf("goray: the GCS answered with %T", res)
	}
	return r, nil
}

// KVPut stores value under key in the cluster's internal KV (kept with
// the GCS's tables); without overwrite an existing key stays. It reports
// whether the key was new.
func (rt *Runtime) KVPut(ctx context.Context, namespace, key string, value []byte, overwrite bool) (added bool, err error) {
	r, err := rt.kv(ctx, &gcs.KVPut{Namespace: namespace, Key: key, Value: value, Overwrite: overwrite})
	return r != nil && r.Added, err
}

// KVGet returns the value of key, and whether there is one.
func (rt *Runtime) KVGet(ctx context.Context, namespace, key string) ([]byte, bool, error) {
	r, err := rt.kv(ctx, &gcs.KVGet{Namespace: namespace, Key: key})
	if err != nil {
		return nil, false, err
	}
	return r.Value, r.Found, nil
}

// KVDelete removes key and reports whether it was there.
func (rt *Runtime) KVDelete(ctx context.Context, namespace, key string) (bool, error) {
	r, err := rt.kv(ctx, &gcs.KVDelete{Namespace: namespace, Key: key})
	return r != nil && r.Found, err
}

// KVKeys lists the keys of namespace that start with prefix, sorted.
func (rt *Runtime) KVKeys(ctx context.Context, namespace, prefix string) ([]string, error) {
	r, err := rt.kv(ctx, &gcs.KVKeys{Namespace: namespace, Prefix: prefix})
	if err != nil {
		return nil, err
	}
	return r.Keys, nil
}

func (rt *Runtime) kv(ctx context.Context, msg any) (*gcs.KVReply, error) {
	res, err := rt.request(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("goray: kv: %w", err)
	}
	r, ok := res.(*gcs.KVReply)
	if !ok {
		return nil, fmt.Errorf("goray: the GCS answered with %T", res)
	}
	if r.Err != "" {
		return r, fmt.Errorf("goray: kv: %s", r.Err)
	}
	return r, nil
}

// NodeID is this process's node id in the GCS ("" for a client).
func (rt *Runtime) NodeID() string {
	if rt.raylet == nil {
		return ""
	}
	return rt.raylet.NodeID()
}

// Address is the host:port where this node accepts other nodes (a head's
// is what WithAddress and GORAY_ADDRESS take); "" when it has no cluster
// listener.
func (rt *Runtime) Address() string { return rt.node.ClusterURL() }

// ClientURL is where this node accepts NATS clients of the host (tools,
// worker processes); "" when it has no listener.
func (rt *Runtime) ClientURL() string { return rt.node.ClientURL() }

// Token is the cluster token in use ("" for an embedded cluster).
func (rt *Runtime) Token() string { return rt.node.Token() }

// ObjectStore is the node's shared-memory object store; nil for a client
// or WithoutObjectStore.
func (rt *Runtime) ObjectStore() *plasma.Store { return rt.store }

// SubscribeEvents calls fn with every cluster event the GCS publishes on
// topic (gcs.TopicNodes, TopicActors, TopicResources, TopicJobs), from a
// goroutine of its own, until the returned stop is called or the Runtime
// shuts down. Events are best effort: one published while this process is
// not connected is lost; the tables (Nodes, Actors, Jobs) stay the truth.
func (rt *Runtime) SubscribeEvents(topic string, fn func(*gcs.Event)) (stop func(), err error) {
	sub, err := rt.node.Conn().Subscribe(rt.node.Subjects().Event(topic), func(m *nats.Msg) {
		e, err := gcs.DecodeEvent(m.Data)
		if err != nil {
			rt.log.Warn("goray: undecodable cluster event", "topic", topic, "err", err)
			return
		}
		fn(e)
	})
	if err != nil {
		return nil, fmt.Errorf("goray: subscribe to %s events: %w", topic, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
