package supervisor

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a manually advanced clock for WithClock.
type fakeClock struct{ now time.Time }

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }
func (c *fakeClock) option() Option          { return WithClock(c.Now) }

func always(d Directive) Decider { return func(any) Directive { return d } }

func allDirectives() []Directive { return []Directive{Restart, Resume, Stop, Escalate} }

// unitBackoff makes a decision's delay tell how many restarts the strategy
// counted within the window: 1 ms for the first, 2 ms, 4 ms, ...
func unitBackoff() Option { return WithBackoff(Backoff{Initial: time.Millisecond}) }

// restartDecision is the one-for-one decision for restart number n under
// unitBackoff.
func restartDecision(n int) Decision {
	return Decision{Directive: Restart, Delay: time.Millisecond << (n - 1)}
}

// escalateDecision is the decision once MaxRetries is exceeded.
func escalateDecision(all bool) Decision {
	return Decision{Directive: Escalate, AllChildren: all, LimitExceeded: true}
}

// decideUntilEscalate asks s about up to n failures and returns how many
// were restarted before the first non-restart decision.
func decideUntilEscalate(s Strategy, st *Stats, n int) int {
	for i := range n {
		if s.Decide("boom", st).Directive != Restart {
			return i
		}
	}
	return n
}

func TestDirectiveString(t *testing.T) {
	cases := map[Directive]string{
		Restart:       "restart",
		Resume:        "resume",
		Stop:          "stop",
		Escalate:      "escalate",
		Directive(4):  "Directive(4)",
		Directive(42): "Directive(42)",
	}
	for d, want := range cases {
		assert.Equal(t, want, d.String(), "Directive(%d)", uint8(d))
		assert.Equal(t, want, fmt.Sprint(d), "fmt uses Stringer for Directive(%d)", uint8(d))
	}
	// Restart is the zero value: an unset directive means restart.
	var zero Directive
	assert.Equal(t, Restart, zero)
}

func TestAlwaysRestartDecider(t *testing.T) {
	for _, reason := range []any{nil, "x", errors.New("e"), 42} {
		assert.Equal(t, Restart, AlwaysRestart(reason))
	}
}

func TestOneForOneDecisionAppliesToFailedChildOnly(t *testing.T) {
	for _, d := range allDirectives() {
		s := OneForOne(WithDecider(always(d)))
		var st Stats
		got := s.Decide("boom", &st)
		assert.Equal(t, d, got.Directive, "directive %v", d)
		assert.False(t, got.AllChildren, "one-for-one %v must not apply to all children", d)
		assert.False(t, got.LimitExceeded, "directive %v", d)
		assert.Zero(t, got.Delay, "directive %v without backoff", d)
	}
	// Even when the limit is exceeded, one-for-one stays one-for-one.
	s := OneForOne(MaxRetries(0))
	var st Stats
	assert.Equal(t, escalateDecision(false), s.Decide("boom", &st))
}

func TestAllForOneDecisionAppliesToAllChildren(t *testing.T) {
	for _, d := range []Directive{Restart, Stop, Escalate} {
		s := AllForOne(WithDecider(always(d)))
		var st Stats
		got := s.Decide("boom", &st)
		assert.Equal(t, d, got.Directive)
		assert.True(t, got.AllChildren, "all-for-one %v must apply to all children", d)
		assert.False(t, got.LimitExceeded)
	}
	// The limit being exceeded stops (and escalates) every child.
	s := AllForOne(MaxRetries(1), WithClock(newFakeClock().Now))
	var st Stats
	require.Equal(t, Decision{Directive: Restart, AllChildren: true}, s.Decide("boom", &st))
	assert.Equal(t, escalateDecision(true), s.Decide("boom", &st))
}

func TestDirectiveResumeIsNeverAllChildren(t *testing.T) {
	for _, s := range []Strategy{
		OneForOne(WithDecider(always(Resume))),
		AllForOne(WithDecider(always(Resume))),
		AllForOne(WithDecider(always(Resume)), MaxRetries(0)),
	} {
		var st Stats
		for range 20 {
			got := s.Decide("boom", &st)
			assert.Equal(t, Decision{Directive: Resume}, got)
		}
	}
}

func TestDeciderMapsReasonToDirective(t *testing.T) {
	errFatal := errors.New("fatal")
	var seen []any
	decider := func(reason any) Directive {
		seen = append(seen, reason)
		switch r := reason.(type) {
		case error:
			if errors.Is(r, errFatal) {
				return Stop
			}
			return Restart
		case string:
			return Resume
		case int:
			return Escalate
		}
		return Restart
	}
	for _, all := range []bool{false, true} {
		seen = nil
		var s Strategy
		if all {
			s = AllForOne(WithDecider(decider))
		} else {
			s = OneForOne(WithDecider(decider))
		}
		var st Stats
		wrapped := fmt.Errorf("wrapped: %w", errFatal)
		cases := []struct {
			reason any
			want   Directive
		}{
			{wrapped, Stop},
			{errors.New("transient"), Restart},
			{"soft", Resume},
			{7, Escalate},
			{nil, Restart},
		}
		for _, c := range cases {
			got := s.Decide(c.reason, &st)
			assert.Equal(t, c.want, got.Directive, "reason %v", c.reason)
			assert.False(t, got.LimitExceeded)
			if c.want == Resume {
				assert.False(t, got.AllChildren, "resume never applies to all children")
			} else {
				assert.Equal(t, all, got.AllChildren, "reason %v", c.reason)
			}
		}
		require.Len(t, seen, len(cases), "the decider is called once per failure")
		assert.Same(t, wrapped, seen[0], "the decider gets the reason as it is")
	}
}

func TestNonRestartDirectivesDoNotConsumeRetries(t *testing.T) {
	// MaxRetries limits restarts: a decider that stops, resumes or
	// escalates is obeyed as is, even with no restarts allowed.
	for _, d := range []Directive{Resume, Stop, Escalate} {
		s := OneForOne(MaxRetries(0), WithDecider(always(d)))
		var st Stats
		for range 5 {
			got := s.Decide("boom", &st)
			assert.Equal(t, d, got.Directive)
			assert.False(t, got.LimitExceeded, "directive %v", d)
		}
	}
	// Resumes in between do not use up the restarts.
	restart := true
	clock := newFakeClock()
	s := OneForOne(MaxRetries(2), WithClock(clock.Now), WithDecider(func(any) Directive {
		if restart {
			return Restart
		}
		return Resume
	}))
	var st Stats
	for range 10 {
		restart = false
		require.Equal(t, Resume, s.Decide("soft", &st).Directive)
	}
	restart = true
	assert.Equal(t, 2, decideUntilEscalate(s, &st, 10))
}

func TestMaxRetriesWithinWindow(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			clock := newFakeClock()
			s := OneForOne(MaxRetries(n), Within(time.Minute), clock.option(), unitBackoff())
			var st Stats
			for i := 1; i <= n; i++ {
				got := s.Decide("boom", &st)
				require.Equal(t, restartDecision(i), got, "failure %d of %d allowed", i, n)
				clock.Advance(time.Second)
			}
			got := s.Decide("boom", &st)
			assert.Equal(t, escalateDecision(false), got, "failure %d exceeds MaxRetries(%d)", n+1, n)
			assert.Zero(t, got.Delay, "no delay on escalation")
			// Still within the window: it keeps escalating.
			clock.Advance(time.Second)
			assert.Equal(t, escalateDecision(false), s.Decide("boom", &st))
			assert.Equal(t, n+2, st.Failures())
		})
	}
}

func TestWindowForgetsOldFailures(t *testing.T) {
	clock := newFakeClock()
	s := OneForOne(MaxRetries(3), Within(time.Minute), clock.option(), unitBackoff())
	var st Stats
	for i := 1; i <= 3; i++ {
		require.Equal(t, restartDecision(i), s.Decide("boom", &st))
	}
	// A full window with no failure: the count starts over.
	clock.Advance(time.Minute)
	for i := 1; i <= 3; i++ {
		require.Equal(t, restartDecision(i), s.Decide("boom", &st), "after the window, restart %d", i)
	}
	assert.Equal(t, escalateDecision(false), s.Decide("boom", &st))
	assert.Equal(t, 7, st.Failures(), "Failures counts every failure, forgotten or not")

	// And again after the window, even after the limit was exceeded.
	clock.Advance(time.Minute + time.Nanosecond)
	assert.Equal(t, restartDecision(1), s.Decide("boom", &st))
}

func TestWindowBoundary(t *testing.T) {
	clock := newFakeClock()
	s := OneForOne(MaxRetries(1), Within(time.Minute), clock.option())
	var st Stats
	require.Equal(t, Restart, s.Decide("boom", &st).Directive)
	// One nanosecond short of the window: the first failure still counts.
	clock.Advance(time.Minute - time.Nanosecond)
	require.Equal(t, escalateDecision(false), s.Decide("boom", &st))

	clock = newFakeClock()
	s = OneForOne(MaxRetries(1), Within(time.Minute), clock.option())
	st = Stats{}
	require.Equal(t, Restart, s.Decide("boom", &st).Directive)
	// Exactly the window later, it is forgotten.
	clock.Advance(time.Minute)
	assert.Equal(t, Restart, s.Decide("boom", &st).Directive)
}

func TestWindowSlides(t *testing.T) {
	clock := newFakeClock()
	s := OneForOne(MaxRetries(2), Within(time.Minute), clock.option(), unitBackoff())
	var st Stats
	require.Equal(t, restartDecision(1), s.Decide("boom", &st)) // t=0
	clock.Advance(30 * time.Second)
	require.Equal(t, restartDecision(2), s.Decide("boom", &st)) // t=30s
	clock.Advance(31 * time.Second)
	// t=61s: the failure at 0 is forgotten, the one at 30s is not.
	require.Equal(t, restartDecision(2), s.Decide("boom", &st))
	clock.Advance(time.Second)
	// t=62s: failures at 30s, 61s and 62s are three within the minute.
	assert.Equal(t, escalateDecision(false), s.Decide("boom", &st))
}

func TestMaxRetriesZeroNeverRestarts(t *testing.T) {
	for _, s := range []Strategy{
		OneForOne(MaxRetries(0)),
		OneForOne(MaxRetries(0), Within(0)),
		AllForOne(MaxRetries(0)),
	} {
		var st Stats
		got := s.Decide("boom", &st)
		assert.Equal(t, Escalate, got.Directive)
		assert.True(t, got.LimitExceeded)
		assert.Equal(t, 1, st.Failures())
	}
}

func TestNegativeMaxRetriesRestartsWithoutLimit(t *testing.T) {
	for _, window := range []time.Duration{time.Minute, 0} {
		clock := newFakeClock()
		s := OneForOne(MaxRetries(-1), Within(window), clock.option())
		var st Stats
		assert.Equal(t, 1000, decideUntilEscalate(s, &st, 1000), "window %v", window)
		assert.Equal(t, 1000, st.Failures())
	}
}

func TestZeroWindowNeverForgets(t *testing.T) {
	clock := newFakeClock()
	s := OneForOne(MaxRetries(2), Within(0), clock.option(), unitBackoff())
	var st Stats
	require.Equal(t, restartDecision(1), s.Decide("boom", &st))
	clock.Advance(24 * time.Hour)
	require.Equal(t, restartDecision(2), s.Decide("boom", &st), "the count goes on across a day")
	clock.Advance(1000 * time.Hour)
	assert.Equal(t, escalateDecision(false), s.Decide("boom", &st))
	clock.Advance(1000 * time.Hour)
	assert.Equal(t, escalateDecision(false), s.Decide("boom", &st))
}

func TestDefaultRestartLimits(t *testing.T) {
	clock := newFakeClock()
	s := OneForOne(clock.option())
	var st Stats
	assert.Equal(t, DefaultMaxRetries, decideUntilEscalate(s, &st, 100))
	assert.Equal(t, DefaultMaxRetries+1, st.Failures())

	// The default window forgets them.
	clock.Advance(DefaultWindow)
	assert.Equal(t, Decision{Directive: Restart}, s.Decide("boom", &st), "default: no backoff")

	// The package default is a plain one-for-one restart.
	var st2 Stats
	assert.Equal(t, Decision{Directive: Restart}, Default.Decide(errors.New("x"), &st2))
}

func TestStatsAreKeptPerChild(t *testing.T) {
	clock := newFakeClock()
	s := OneForOne(MaxRetries(2), clock.option())
	var a, b Stats
	assert.Zero(t, a.Failures(), "the zero value is an empty history")
	require.Equal(t, 2, decideUntilEscalate(s, &a, 2))
	require.Equal(t, Escalate, s.Decide("boom", &a).Directive)
	// b's history is separate from a's.
	assert.Equal(t, 2, decideUntilEscalate(s, &b, 10))
	assert.Equal(t, 3, a.Failures())
	assert.Equal(t, 3, b.Failures())
}

func TestStrategyUsesBackoffWithRestartCount(t *testing.T) {
	clock := newFakeClock()
	b := Backoff{Initial: 10 * time.Millisecond, Max: 35 * time.Millisecond}
	s := OneForOne(MaxRetries(5), Within(time.Minute), clock.option(), WithBackoff(b))
	var st Stats
	want := []time.Duration{10, 20, 35, 35, 35}
	for i, w := range want {
		got := s.Decide("boom", &st)
		require.Equal(t, Restart, got.Directive)
		assert.Equal(t, w*time.Millisecond, got.Delay, "restart %d", i+1)
	}
	// After a quiet window the backoff starts over too.
	clock.Advance(time.Minute)
	got := s.Decide("boom", &st)
	assert.Equal(t, 10*time.Millisecond, got.Delay)
}

func TestBackoffZeroValueIsNoDelay(t *testing.T) {
	var b Backoff
	for n := -1; n <= 100; n++ {
		assert.Zero(t, b.Delay(n), "n=%d", n)
	}
	// Without Initial, Max and Jitter change nothing.
	b = Backoff{Max: time.Second, Jitter: 0.5}
	for n := 1; n <= 10; n++ {
		assert.Zero(t, b.Delay(n), "n=%d", n)
	}
	// n < 1 is not a restart.
	b = Backoff{Initial: time.Second}
	assert.Zero(t, b.Delay(0))
	assert.Zero(t, b.Delay(-3))
}

func TestBackoffDoubles(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640}
	for i, w := range want {
		assert.Equal(t, w*time.Millisecond, b.Delay(i+1), "restart %d", i+1)
	}
}

func TestBackoffCappedAtMax(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 50, 50, 50, 50}
	for i, w := range want {
		assert.Equal(t, w*time.Millisecond, b.Delay(i+1), "restart %d", i+1)
	}
	// Large restart counts stay at Max (and do not take forever).
	for _, n := range []int{64, 1000, 1 << 30} {
		assert.Equal(t, 50*time.Millisecond, b.Delay(n), "restart %d", n)
	}
	// Max exactly on a doubling.
	b = Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond}
	assert.Equal(t, 40*time.Millisecond, b.Delay(3))
	assert.Equal(t, 40*time.Millisecond, b.Delay(4))
	// Max below Initial caps the first delay too.
	b = Backoff{Initial: 100 * time.Millisecond, Max: 30 * time.Millisecond}
	assert.Equal(t, 30*time.Millisecond, b.Delay(1))
	assert.Equal(t, 30*time.Millisecond, b.Delay(5))
}

// Without Max the delay keeps doubling; it must not wrap around to a
// negative or zero delay once the doubling overflows time.Duration.
func TestBackoffWithoutMaxNeverWraps(t *testing.T) {
	b := Backoff{Initial: time.Second}
	prev := time.Duration(0)
	for n := 1; n <= 80; n++ {
		d := b.Delay(n)
		require.Positive(t, d, "restart %d: delay wrapped around (previous %v)", n, prev)
		require.GreaterOrEqual(t, d, prev, "restart %d: delay shrank", n)
		prev = d
	}
}

func TestBackoffJitterStaysWithinBounds(t *testing.T) {
	for _, c := range []struct {
		b    Backoff
		n    int
		base time.Duration
	}{
		{Backoff{Initial: 100 * time.Millisecond, Jitter: 0.2}, 1, 100 * time.Millisecond},
		{Backoff{Initial: 100 * time.Millisecond, Jitter: 0.2}, 3, 400 * time.Millisecond},
		// Jitter applies after the cap.
		{Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: 0.5}, 10, 50 * time.Millisecond},
		// Jitter above 1 is treated as 1: between 0 and twice the delay.
		{Backoff{Initial: 100 * time.Millisecond, Jitter: 5}, 1, 100 * time.Millisecond},
	} {
		j := min(c.b.Jitter, 1)
		lo := time.Duration(float64(c.base) * (1 - j))
		hi := time.Duration(float64(c.base) * (1 + j))
		const samples = 2000
		seen := make(map[time.Duration]bool)
		var sum time.Duration
		below, above := 0, 0
		for range samples {
			d := c.b.Delay(c.n)
			require.GreaterOrEqual(t, d, lo, "%+v n=%d", c.b, c.n)
			require.LessOrEqual(t, d, hi, "%+v n=%d", c.b, c.n)
			seen[d] = true
			sum += d
			if d < c.base {
				below++
			} else if d > c.base {
				above++
			}
		}
		assert.Greater(t, len(seen), samples/2, "jitter should vary the delay: %+v", c.b)
		// Both sides of the base delay are used, about equally.
		assert.Greater(t, below, samples/4, "%+v", c.b)
		assert.Greater(t, above, samples/4, "%+v", c.b)
		// The mean of a uniform ±j spread is the base delay; with 2000
		// samples its standard error is under 1.3% of the spread.
		mean := sum / samples
		tol := time.Duration(float64(hi-lo) * 0.05)
		assert.InDelta(t, float64(c.base), float64(mean), float64(tol), "%+v mean", c.b)
	}
}

func TestBackoffNegativeJitterIsNoJitter(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Jitter: -0.5}
	for range 100 {
		require.Equal(t, 100*time.Millisecond, b.Delay(1))
	}
}
