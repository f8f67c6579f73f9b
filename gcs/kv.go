package gcs

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/goray-dev/goray/actor"
)

// The internal KV: small values by namespace and key, for components and
// users (Ray's internal_kv), stored with the other tables.

func (g *gcs) kvSet(ns, key string, v []byte) {
	m := g.kv[ns]
	if m == nil {
		m = make(map[string][]byte)
		g.kv[ns] = m
	}
	m[key] = v
}

// Bounds of the internal KV: keys travel base64-encoded in a NATS
// subject, values in one JetStream message.
const (
	MaxKVKeyBytes   = 1024 // namespace and key together
	MaxKVValueBytes = 512 << 10
)

func checkKV(ns, key string, value []byte) string {
	switch {
	case key == "":
		return "gcs: KV key is empty"
	case len(ns)+len(key) > MaxKVKeyBytes:
		return fmt.Sprintf("gcs: KV namespace and key take %d bytes; at most %d", len(ns)+len(key), MaxKVKeyBytes)
	case len(value) > MaxKVValueBytes:
		return fmt.Sprintf("gcs: KV value of %d bytes; at most %d (keep large values in the object store)", len(value), MaxKVValueBytes)
	}
	return ""
}

func (g *gcs) kvPut(sender *actor.PID, m *KVPut) {
	if e := checkKV(m.Namespace, m.Key, m.Value); e != "" {
		g.reply(sender, &KVReply{Err: e})
		return
	}
	_, exists := g.kv[m.Namespace][m.Key]
	if exists && !m.Overwrite {
		g.reply(sender, &KVReply{})
		return
	}
	v := bytes.Clone(m.Value) // the caller may reuse its buffer (in-process)
	g.kvSet(m.Namespace, m.Key, v)
	g.journal.put(kvKey(m.Namespace, m.Key), v)
	g.reply(sender, &KVReply{Added: !exists})
}

func (g *gcs) kvGet(m *KVGet) *KVReply {
	v, ok := g.kv[m.Namespace][m.Key]
	return &KVReply{Found: ok, Value: bytes.Clone(v)}
}

func (g *gcs) kvDelete(sender *actor.PID, m *KVDelete) {
	_, ok := g.kv[m.Namespace][m.Key]
	if ok {
		delete(g.kv[m.Namespace], m.Key)
		g.journal.del(kvKey(m.Namespace, m.Key))
	}
	g.reply(sender, &KVReply{Found: ok})
}

// maxKVKeys bounds one KVKeys answer.
const maxKVKeys = 10000

func (g *gcs) kvKeys(m *KVKeys) *KVReply {
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(g.kv[m.Namespace])) {
		if strings.HasPrefix(k, m.Prefix) {
			keys = append(keys, k)
			if len(keys) == maxKVKeys {
				return &KVReply{Keys: keys, Err: "gcs: more than 10000 keys; narrow the prefix"}
			}
		}
	}
	return &KVReply{Keys: keys}
}
