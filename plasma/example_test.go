package plasma_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/goray-dev/goray/plasma"
)

// Example puts a value into a store and reads it back through a zero-copy
// view, in the store's own process.
func Example() {
	ctx := context.Background()
	spill, _ := os.MkdirTemp("", "goray-example-spill-")
	defer os.RemoveAll(spill)
	store, err := plasma.Open(plasma.Config{
		Name:     "example",
		Capacity: 64 << 20, // the default is 30% of RAM
		SpillDir: spill,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	c, err := store.Client()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)

	var id plasma.ObjectID
	copy(id[:], "example-object")
	if err := c.Put(ctx, id, []byte("hello, shared memory"), plasma.Pinned()); err != nil {
		fmt.Println(err)
		return
	}
	view, err := c.GetOne(ctx, id, time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (in the arena: %v)\n", view.Data(), store.Arena().Contains(view.Data()))
	_ = view.Release()
	_ = c.Delete(ctx, id)
	// Output: hello, shared memory (in the arena: true)
}
