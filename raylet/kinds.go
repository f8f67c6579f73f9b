package raylet

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/goray-dev/goray/actor"
)

// kinds is the registry of actor kinds a raylet can host, filled at init
// time by every binary that joins the cluster.
var kinds struct {
	mu sync.RWMutex
	m  map[string]actor.Producer
}

// RegisterKind makes actors of kind creatable through the GCS on this
// node. Every node that may host the kind registers it under the same
// name, usually in an init function (Go code cannot be shipped between
// processes). Registering a name twice panics.
func RegisterKind(kind string, p actor.Producer) {
	if kind == "" || p == nil {
		panic("raylet: RegisterKind: empty kind or nil producer")
	}
	kinds.mu.Lock()
	defer kinds.mu.Unlock()
	if kinds.m == nil {
		kinds.m = make(map[string]actor.Producer)
	}
	if _, ok := kinds.m[kind]; ok {
		panic(fmt.Sprintf("raylet: RegisterKind: kind %q is already registered", kind))
	}
	kinds.m[kind] = p
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	kinds.mu.RLock()
	defer kinds.mu.RUnlock()
	return slices.Sorted(maps.Keys(kinds.m))
}

func producerOf(kind string) actor.Producer {
	kinds.mu.RLock()
	defer kinds.mu.RUnlock()
	return kinds.m[kind]
}
