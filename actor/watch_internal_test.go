package actor

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeadWatchersAreForgotten: a long-lived actor watched by many
// short-lived ones does not keep them after they stop.
func TestDeadWatchersAreForgotten(t *testing.T) {
	sys := NewSystem(WithLogger(slog.New(slog.DiscardHandler)))
	defer func() { require.NoError(t, sys.Shutdown(context.Background())) }()
	target := sys.Spawn(PropsFromFunc(func(c *Context) {
		if _, ok := c.Message().(countWatchers); ok {
			n := 0
			if c.x != nil {
				n = c.x.watchers.len()
			}
			c.Respond(n)
		}
	}))
	for range 200 {
		w := sys.Spawn(PropsFromFunc(func(c *Context) {
			if _, ok := c.Message().(Started); ok {
				c.Watch(target)
			}
		}))
		sys.Poison(w)
	}
	watchers := func() int {
		v, err := sys.Request(context.Background(), target, countWatchers{})
		require.NoError(t, err)
		return v.(int)
	}
	require.Eventually(t, func() bool { return watchers() == 0 }, 5*time.Second, 5*time.Millisecond)
}

type countWatchers struct{}
