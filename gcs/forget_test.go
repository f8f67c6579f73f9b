package gcs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"log/slog"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/bus"
)

// TestDeadActorsAreForgotten: the tables keep at most MaxDeadActors dead
// actors, forget the oldest (in memory and in the journal), and never
// forget a live one.
func TestDeadActorsAreForgotten(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := openJournal(ctx, t.TempDir(), forgetTestLogger(t))
	require.NoError(t, err)
	sys := actor.NewSystem()
	defer sys.Shutdown(ctx)
	cfg, err := Config{}.withDefaults()
	require.NoError(t, err)
	g := newGCS(cfg, sys, j.nc, bus.NewSubjects("t"), j)

	live := &ActorInfo{ID: "live", State: ActorAlive, Created: 1}
	g.actors[live.ID], g.actorOrder = live, append(g.actorOrder, live.ID)
	const extra = 25
	for i := range MaxDeadActors + extra {
		a := &ActorInfo{ID: fmt.Sprintf("a%05d", i), State: ActorAlive, Created: int64(i + 2)}
		g.actors[a.ID] = a
		g.actorOrder = append(g.actorOrder, a.ID)
		g.die(a, "test")
	}
	assert.Len(t, g.actors, MaxDeadActors+1)
	assert.Nil(t, g.actors["a00000"], "the oldest dead actor is forgotten")
	assert.NotNil(t, g.actors[fmt.Sprintf("a%05d", extra)])
	assert.Same(t, live, g.actors["live"])
	r := g.listActors(&ListActors{})
	assert.Equal(t, "live", r.Actors[0].ID)
	assert.Equal(t, fmt.Sprintf("a%05d", extra), r.Actors[1].ID)

	done := make(chan struct{})
	j.after(func() { close(done) })
	<-done
	data, err := j.load(ctx)
	require.NoError(t, err)
	_, stored := data[preActor+"a00000"]
	assert.False(t, stored, "the journal forgets it too")
	_, stored = data[preActor+fmt.Sprintf("a%05d", extra)]
	assert.True(t, stored)
	j.close(ctx)
}

func forgetTestLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(forgetTestWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type forgetTestWriter struct{ t *testing.T }

func (w forgetTestWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
