package gcs

import (
	"errors"
	"fmt"
)

// Errors the GCS answers with. Over the bus they travel as an ErrCode and
// a text, and Error turns them back into errors that match these.
var (
	// ErrInvalid: a request that makes no sense (a bad resource, no kind).
	ErrInvalid = errors.New("gcs: invalid request")
	// ErrNameTaken: an actor of that name lives in that namespace.
	ErrNameTaken = errors.New("gcs: actor name already taken in namespace")
	// ErrNotFound: no such actor, job or node.
	ErrNotFound = errors.New("gcs: not found")
	// ErrInfeasible: no node of the cluster could ever run the actor:
	// none has that much of its resources in total, or none knows its
	// kind.
	ErrInfeasible = errors.New("gcs: infeasible")
	// ErrJobFinished: the job that asked has ended.
	ErrJobFinished = errors.New("gcs: job finished")
	// ErrNodeDead: the node is dead in the GCS's tables.
	ErrNodeDead = errors.New("gcs: node is dead")
)

// ErrCode names one of the errors above on the wire.
type ErrCode uint8

// Error codes.
const (
	codeOther ErrCode = iota
	codeInvalid
	codeNameTaken
	codeNotFound
	codeInfeasible
	codeJobFinished
	codeNodeDead
)

var codeErrors = map[ErrCode]error{
	codeInvalid: ErrInvalid, codeNameTaken: ErrNameTaken, codeNotFound: ErrNotFound,
	codeInfeasible: ErrInfeasible, codeJobFinished: ErrJobFinished, codeNodeDead: ErrNodeDead,
}

// codeOf returns the code of err, codeOther when it has none.
func codeOf(err error) ErrCode {
	for c, e := range codeErrors {
		if errors.Is(err, e) {
			return c
		}
	}
	return codeOther
}

// WireError rebuilds an error that travelled as code and text.
type WireError struct {
	Code ErrCode
	Text string
}

func (e *WireError) Error() string { return e.Text }

// Is matches the sentinel error of the code.
func (e *WireError) Is(target error) bool {
	s, ok := codeErrors[e.Code]
	return ok && s == target
}

// Err turns a reply's error fields back into an error: nil when text is
// empty.
func Err(code ErrCode, text string) error {
	if text == "" {
		return nil
	}
	return &WireError{Code: code, Text: text}
}

// errText returns err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
