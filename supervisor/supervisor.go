package supervisor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Directive is what to do with a failed actor.
type Directive uint8

const (
	// Restart replaces the actor with a fresh instance from its props. It
	// keeps its PID and queued messages; the failing message is dropped.
	Restart Directive = iota
	// Resume keeps the current instance and goes on with the next message.
	Resume
	// Stop stops the actor.
	Stop
	// Escalate fails the supervisor itself with the same reason, leaving
	// the decision to its own supervisor.
	Escalate
)

// String returns the directive's name.
func (d Directive) String() string {
	switch d {
	case Restart:
		return "restart"
	case Resume:
		return "resume"
	case Stop:
		return "stop"
	case Escalate:
		return "escalate"
	}
	return fmt.Sprintf("Directive(%d)", uint8(d))
}

// Decider maps the reason of a failure (the value the actor panicked with)
// to a directive.
type Decider func(reason any) Directive

// AlwaysRestart is the default decider.
func AlwaysRestart(any) Directive { return Restart }

// Decision is a strategy's answer to one failure.
type Decision struct {
	Directive Directive
	// AllChildren applies the directive to every child of the supervisor,
	// not just the one that failed (Resume only ever resumes the failed one).
	AllChildren bool
	// Delay is how long to wait before restarting.
	Delay time.Duration
	// LimitExceeded is set when the child failed more than MaxRetries times
	// within the window: the directive is then Escalate, and the runtime
	// stops the child(ren) before escalating.
	LimitExceeded bool
}

// Strategy decides how a supervisor handles a child's failure. Decide may
// update stats, which belong to the failed child. An actor calls it on its
// own goroutine; the root guardian calls it from the failing child's
// goroutine, so a strategy given to WithGuardianStrategy may be called
// concurrently for different children. The strategies of this package keep
// no state of their own and are safe for that.
type Strategy interface {
	Decide(reason any, stats *Stats) Decision
}

// Defaults used when no option says otherwise: up to 10 restarts within
// 10 s, immediately, for any failure.
const (
	DefaultMaxRetries = 10
	DefaultWindow     = 10 * time.Second
)

type config struct {
	maxRetries int
	window     time.Duration
	decider    Decider
	backoff    Backoff
	now        func() time.Time
}

// Option configures a strategy.
type Option func(*config)

// MaxRetries sets how many restarts a child may have within the window;
// the next failure stops it and escalates. 0 means a failure is never
// restarted; a negative value means no limit.
func MaxRetries(n int) Option { return func(c *config) { c.maxRetries = n } }

// Within sets the window in which restarts are counted. Failures older than
// the window are forgotten. 0 means failures are never forgotten.
func Within(d time.Duration) Option { return func(c *config) { c.window = d } }

// WithDecider sets the decider.
func WithDecider(d Decider) Option { return func(c *config) { c.decider = d } }

// WithBackoff delays each restart by b.Delay(restarts so far in the window).
func WithBackoff(b Backoff) Option { return func(c *config) { c.backoff = b } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func newConfig(opts []Option) config {
	c := config{maxRetries: DefaultMaxRetries, window: DefaultWindow, decider: AlwaysRestart, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	return c
}

type strategy struct {
	config
	all bool
}

// OneForOne returns a strategy that applies each decision to the failed
// child only.
func OneForOne(opts ...Option) Strategy { return &strategy{config: newConfig(opts)} }

// AllForOne returns a strategy that applies Restart and Stop to every child
// of the supervisor when one fails: for children that only work together.
func AllForOne(opts ...Option) Strategy { return &strategy{config: newConfig(opts), all: true} }

// Default is the strategy of actors whose props name none.
var Default = OneForOne()

func (s *strategy) Decide(reason any, stats *Stats) Decision {
	stats.total++
	d := Decision{Directive: s.decider(reason), AllChildren: s.all}
	switch d.Directive {
	case Restart:
		restarts, ok := stats.failed(s.now(), s.window, s.maxRetries)
		if !ok {
			return Decision{Directive: Escalate, AllChildren: s.all, LimitExceeded: true}
		}
		d.Delay = s.backoff.Delay(restarts)
	case Resume:
		d.AllChildren = false
	}
	return d
}

// Stats is the failure history of one child, kept by its supervisor.
// The zero value is an empty history.
type Stats struct {
	recent  []time.Time // failures within the window, oldest first
	counted int         // failures counted when there is no window
	total   int
}

// failed records a failure at now and reports how many restarts this makes
// within the window (1 for the first), and whether that is within limit.
func (s *Stats) failed(now time.Time, window time.Duration, limit int) (int, bool) {
	n := 0
	if window <= 0 {
		s.counted++
		n = s.counted
	} else {
		keep := s.recent[:0]
		for _, t := range s.recent {
			if now.Sub(t) < window {
				keep = append(keep, t)
			}
		}
		s.recent = append(keep, now)
		// Without a limit only the count matters, for the backoff, which
		// saturates long before this; keep the history bounded.
		if limit < 0 && len(s.recent) > unlimitedHistory {
			s.recent = append(s.recent[:0], s.recent[len(s.recent)-unlimitedHistory:]...)
		}
		n = len(s.recent)
	}
	return n, limit < 0 || n <= limit
}

// unlimitedHistory bounds the failure timestamps kept for a child whose
// restarts are not limited.
const unlimitedHistory = 64

// Failures returns how many failures were recorded in all.
func (s *Stats) Failures() int { return s.total }

// Backoff computes the delay before a restart: Initial doubled for every
// restart after the first, capped at Max, then spread by ±Jitter (a
// fraction, 0.2 = ±20%). The zero value means no delay.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Jitter  float64
}

// Delay returns the delay before restart number n (1-based).
func (b Backoff) Delay(n int) time.Duration {
	if b.Initial <= 0 || n < 1 {
		return 0
	}
	d := b.Initial
	for i := 1; i < n && (b.Max <= 0 || d < b.Max); i++ {
		if d > math.MaxInt64/2 {
			d = math.MaxInt64 // saturate rather than wrap
			break
		}
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if j := min(max(b.Jitter, 0), 1); j > 0 {
		f := float64(d) * (1 + j*(2*rand.Float64()-1))
		if f >= math.MaxInt64 {
			return math.MaxInt64
		}
		d = time.Duration(f)
	}
	return d
}
