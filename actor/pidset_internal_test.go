package actor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPIDSet checks the set against a plain map through random adds and
// removes that cross the size at which it starts indexing, both ways.
func TestPIDSet(t *testing.T) {
	var s pidSet
	model := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	pid := func(i int) *PID { return &PID{Node: "n", ID: fmt.Sprint(i)} }
	for step := range 20000 {
		i := rng.IntN(64)
		if rng.IntN(3) == 0 {
			assert.Equal(t, model[fmt.Sprint(i)], s.remove(pid(i)), "step %d remove %d", step, i)
			delete(model, fmt.Sprint(i))
		} else {
			assert.Equal(t, !model[fmt.Sprint(i)], s.add(pid(i)), "step %d add %d", step, i)
			model[fmt.Sprint(i)] = true
		}
		require.Equal(t, len(model), s.len())
	}
	var ids []string
	for _, p := range s.all() {
		ids = append(ids, p.ID)
		if s.index != nil {
			assert.Equal(t, p, s.list[s.index[keyOf(p)]])
		}
	}
	var want []string
	for id := range model {
		want = append(want, id)
	}
	slices.Sort(ids)
	slices.Sort(want)
	assert.Equal(t, want, ids)
	assert.False(t, s.add(&PID{Node: "n", ID: ids[0]}), "equal by value is the same member")
}
