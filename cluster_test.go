package goray_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/actor"
	"github.com/goray-dev/goray/gcs"
	"github.com/goray-dev/goray/internal/testlog"
)

type incr struct{ By int }
type crashNow struct{}

type counter struct{ n int }

func (c *counter) Receive(ctx *actor.Context) {
	switch m := ctx.Message().(type) {
	case incr:
		c.n += m.By
		ctx.Respond(c.n)
	case crashNow:
		panic("asked to crash")
	}
}

func init() {
	goray.RegisterActor("test.counter", func() actor.Actor { return &counter{} })
}

func initEmbedded(t testing.TB, opts ...goray.InitOption) *goray.Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rt, err := goray.Init(ctx, append([]goray.InitOption{goray.WithObjectStoreMemory(64 << 20), goray.WithLogger(testlog.New(t))}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, rt.Shutdown(ctx))
	})
	return rt
}

func TestEmbeddedActorLifecycle(t *testing.T) {
	rt := initEmbedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	events := make(chan *gcs.Event, 64)
	stop, err := rt.SubscribeEvents(gcs.TopicActors, func(e *gcs.Event) { events <- e })
	require.NoError(t, err)
	defer stop()

	h, err := rt.NewActor(ctx, "test.counter", goray.Name("c1"), goray.MaxRestarts(1))
	require.NoError(t, err)
	select {
	case e := <-events:
		require.NotNil(t, e.Actor)
		assert.Equal(t, h.ID(), e.Actor.ID)
		assert.Equal(t, gcs.ActorAlive, e.Actor.State)
	case <-time.After(5 * time.Second):
		t.Fatal("no actor event")
	}
	r, err := h.Ask(ctx, incr{By: 2})
	require.NoError(t, err)
	assert.Equal(t, 2, r)

	got, err := rt.GetActor(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, h.ID(), got.ID())
	r, err = got.Ask(ctx, incr{By: 1})
	require.NoError(t, err)
	assert.Equal(t, 3, r)

	_, err = rt.NewActor(ctx, "test.counter", goray.Name("c1"))
	assert.ErrorIs(t, err, goray.ErrNameTaken)
	same, err := rt.NewActor(ctx, "test.counter", goray.Name("c1"), goray.GetIfExists())
	require.NoError(t, err)
	assert.Equal(t, h.ID(), same.ID())

	// A crash mid-call: the call fails, the actor restarts in place.
	_, err = h.Ask(ctx, crashNow{})
	var died *goray.ActorDiedError
	require.ErrorAs(t, err, &died)
	assert.Contains(t, died.Cause, "asked to crash")
	r, err = h.Ask(ctx, incr{By: 5})
	require.NoError(t, err)
	assert.Equal(t, 5, r, "a restarted actor starts from a fresh instance")

	// The second crash is past MaxRestarts(1).
	_, err = h.Ask(ctx, crashNow{})
	require.ErrorAs(t, err, &died)
	_, err = h.Ask(ctx, incr{By: 1})
	require.ErrorIs(t, err, goray.ErrActorDied)
	assert.Contains(t, err.Error(), "no restarts left")

	actors, err := rt.Actors(ctx)
	require.NoError(t, err)
	require.Len(t, actors, 1)
	assert.Equal(t, gcs.ActorDead, actors[0].State)
	assert.Equal(t, 1, actors[0].Restarts)

	_, err = rt.NewActor(ctx, "test.counter", goray.Resources(map[string]float64{"GPU": 64}))
	assert.ErrorIs(t, err, goray.ErrInfeasible)
	_, err = rt.NewActor(ctx, "no.such.kind")
	assert.ErrorIs(t, err, goray.ErrInfeasible)
	_, err = rt.GetActor(ctx, "nobody")
	assert.True(t, errors.Is(err, goray.ErrNotFound), err)
}
