// Package clocktest is a clock for tests that moves only when told: code
// under test takes its Now and After instead of time.Now and time.After, and
// the test calls Advance, so nothing waits on the wall clock.
package clocktest

import (
	"sync"
	"testing"
	"time"
)

// Clock is a clock the test moves by hand. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []timer
	armed  chan time.Time
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock standing at start.
func New(start time.Time) *Clock {
	return &Clock{now: start, armed: make(chan time.Time, 10000)}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After is time.After on this clock: the channel receives once Advance has
// moved the clock to now+d (at once when d <= 0). Each deadline asked for is
// recorded for WaitArmed.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	select {
	case c.armed <- at:
	default: // nobody waits for that many: drop the record, not the timer
	}
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, timer{at, ch})
	return ch
}

// Advance moves the clock by d and fires the timers that fall due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// WaitArmed waits until After has been asked for a deadline of at, failing t
// after 10 s of wall time (the code under test never asked).
func (c *Clock) WaitArmed(t testing.TB, at time.Time) {
	t.Helper()
	for {
		select {
		case got := <-c.armed:
			if got.Equal(at) {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no timer armed for %v", at)
		}
	}
}
