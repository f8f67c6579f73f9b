package goray

import (
	"errors"
	"fmt"

	"github.com/goray-dev/goray/gcs"
)

// Errors of actor creation and lookup; match them with errors.Is.
var (
	// ErrInfeasible: no node of the cluster could ever run the actor.
	ErrInfeasible = gcs.ErrInfeasible
	// ErrNameTaken: a live actor has that name in that namespace.
	ErrNameTaken = gcs.ErrNameTaken
	// ErrNotFound: no live actor of that name, or no such actor.
	ErrNotFound = gcs.ErrNotFound
	// ErrActorDied is matched by every ActorDiedError.
	ErrActorDied = errors.New("goray: actor died")
)

// ActorDiedError fails a call to an actor that died, or that died while
// handling the call and may not retry it (MaxTaskRetries).
type ActorDiedError struct {
	ActorID string
	Name    string // "" for an unnamed actor
	// Cause says why: "node died (…)", "crashed: …", "killed by
	// goray.Kill", the job's end…
	Cause string
}

func (e *ActorDiedError) Error() string {
	who := e.ActorID
	if e.Name != "" {
		who = fmt.Sprintf("%s (%s)", e.Name, e.ActorID)
	}
	return fmt.Sprintf("goray: actor %s died: %s", who, e.Cause)
}

// Is matches ErrActorDied.
func (e *ActorDiedError) Is(target error) bool { return target == ErrActorDied }
