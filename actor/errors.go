package actor

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrNameTaken is returned by SpawnNamed when the name is in use.
	ErrNameTaken = errors.New("actor: name already taken")
	// ErrShutdown is returned when the system is shutting down or shut down.
	ErrShutdown = errors.New("actor: system is shut down")
	// ErrDeadLetter fails a request whose message could not be delivered:
	// its target is stopped or unknown, or its mailbox dropped it.
	ErrDeadLetter = errors.New("actor: message went to dead letters")
	// ErrTimeout fails a request whose timeout elapsed before the reply.
	// It matches context.DeadlineExceeded under errors.Is.
	ErrTimeout = fmt.Errorf("actor: request timed out: %w", context.DeadlineExceeded)
)
