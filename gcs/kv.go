package gcs

import (
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

func (g *gcs) kvPut(sender *actor.PID, m *KVPut) {
	if m.Key == "" {
		g.reply(sender, &KVReply{Err: "gcs: KV put with an empty key"})
		return
	}
	_, exists := g.kv[m.Namespace][m.Key]
	if exists && !m.Overwrite {
		g.reply(sender, &KVReply{})
		return
	}
	g.kvSet(m.Namespace, m.Key, m.Value)
	g.journal.put(kvKey(m.Namespace, m.Key), m.Value)
	g.reply(sender, &KVReply{Added: !exists})
}

func (g *gcs) kvGet(m *KVGet) *KVReply {
	v, ok := g.kv[m.Namespace][m.Key]
	return &KVReply{Found: ok, Value: v}
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
