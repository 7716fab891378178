package upload

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Concurrency limits, and the value that asks for an adaptive pool.
const (
	// ConcurrencyAuto is the --concurrency value (and setting) that makes
	// the request pool adapt (Options.AdaptiveConcurrency).
	ConcurrencyAuto = "auto"
	// MaxConcurrency is the most requests in flight ParseConcurrency accepts.
	MaxConcurrency = 64
	// DefaultConcurrencyCeiling is the most requests in flight an adaptive
	// pool grows to when Options.ConcurrencyCeiling is zero.
	DefaultConcurrencyCeiling = 32

	// minGain is the rise in throughput that makes a larger pool worth it:
	// doubling the requests in flight must raise it by at least 15 %.
	minGain = 0.15
	// minWindow is the fewest completed requests a throughput is measured over.
	minWindow = 8
)

// ParseConcurrency reads a --concurrency value: a whole number from 1 to
// MaxConcurrency, or "auto" (any case), which returns DefaultConcurrency (the
// pool's start) and auto true. Anything else is an error saying what is allowed.
func ParseConcurrency(v string) (n int, auto bool, err error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, ConcurrencyAuto) {
		return DefaultConcurrency, true, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxConcurrency {
		return 0, false, fmt.Errorf("not a whole number from 1 to %d, or %s", MaxConcurrency, ConcurrencyAuto)
	}
	return n, false, nil
}

// ConcurrencyReason says why an adaptive pool changed size (or stopped changing).
type ConcurrencyReason string

// The reasons of a ConcurrencyChange.
const (
	// ReasonRose: the throughput measured at From was the first, or at least
	// 15 % above the one before; the pool doubles to probe further.
	ReasonRose ConcurrencyReason = "throughput rose"
	// ReasonFlat: the throughput at From was not 15 % above the best before
	// it; the pool goes back to the best size (To) and stays there.
	ReasonFlat ConcurrencyReason = "throughput no longer rose"
	// ReasonCeiling: the throughput still rose at the ceiling; the pool stays.
	ReasonCeiling ConcurrencyReason = "ceiling reached"
	// ReasonThrottled: the store asked to slow down (SlowDown, 503, 429); the
	// pool halves and no longer grows.
	ReasonThrottled ConcurrencyReason = "the store throttled requests"
)

// ConcurrencyChange is one decision of an adaptive pool (see
// Options.OnConcurrency).
type ConcurrencyChange struct {
	From, To int // requests in flight before and after; equal when the pool stays
	Reason   ConcurrencyReason
	// Rate is the throughput measured at From, in bytes acknowledged per
	// second; Best is the best measured before it (0 when none, or when the
	// change is a throttling).
	Rate, Best float64
	// Settled is true when the pool no longer grows.
	Settled bool
}

// controller decides the size of an adaptive pool from the requests it sees
// complete. It holds no lock and reads no clock: the pool feeds it each
// completion with its time, so tests drive it with synthetic ones.
//
// It starts at start requests in flight and measures the throughput (bytes
// acknowledged per second) over a window of completions: the first `limit`
// completions after a change are skipped (they began under the old size, and
// new connections are still warming up), the next one opens the window, and
// max(limit, minWindow) more close it. A window counts only while the pool is
// in demand — every completion in it met a full pool or a request waiting for
// a slot; otherwise (a slow reader, the end of the last file) it starts over,
// since a larger pool could not have helped. Each closed window doubles the
// pool while the throughput rises by at least minGain over the best so far; at
// the first window that does not, the pool returns to the best size and
// settles. The store's throttling halves the pool and settles it too.
type controller struct {
	limit, ceiling int
	settled        bool
	best           float64 // bytes/s at bestLimit; 0 before the first window
	bestLimit      int

	skip  int       // completions still to skip after a change
	open  bool      // a window is open
	start time.Time // when the window opened
	n     int       // completions in the window
	bytes int64
}

func newController(start, ceiling int) *controller {
	start = max(1, min(start, ceiling))
	return &controller{limit: start, ceiling: ceiling, skip: start}
}

// window is the number of completions a throughput is measured over at limit.
func (c *controller) window() int { return max(c.limit, minWindow) }

func (c *controller) restart(skip int) {
	c.skip, c.open, c.n, c.bytes = skip, false, 0, 0
}

// completed feeds one request that finished at now having S3 acknowledge n
// bytes; demand says the pool was full or a request was waiting for a slot.
// It returns a decision when one was taken.
func (c *controller) completed(n int64, demand bool, now time.Time) (ConcurrencyChange, bool) {
	if c.settled {
		return ConcurrencyChange{}, false
	}
	if !demand {
		c.restart(c.skip)
		return ConcurrencyChange{}, false
	}
	if c.skip > 0 {
		c.skip--
		return ConcurrencyChange{}, false
	}
	if !c.open {
		c.open, c.start = true, now
		return ConcurrencyChange{}, false
	}
	c.n++
	c.bytes += n
	if c.n < c.window() {
		return ConcurrencyChange{}, false
	}
	elapsed := now.Sub(c.start)
	if elapsed <= 0 { // a clock too coarse to measure this window: a longer one
		return ConcurrencyChange{}, false
	}
	rate := float64(c.bytes) / elapsed.Seconds()
	ch := ConcurrencyChange{From: c.limit, Rate: rate, Best: c.best}
	if c.bestLimit == 0 || rate >= c.best*(1+minGain) {
		c.best, c.bestLimit = rate, c.limit
		if c.limit >= c.ceiling {
			c.settled = true
			ch.To, ch.Reason, ch.Settled = c.limit, ReasonCeiling, true
			return ch, true
		}
		c.limit = min(2*c.limit, c.ceiling)
		c.restart(c.limit)
		ch.To, ch.Reason = c.limit, ReasonRose
		return ch, true
	}
	c.limit, c.settled = c.bestLimit, true
	ch.To, ch.Reason, ch.Settled = c.limit, ReasonFlat, true
	return ch, true
}

// throttled halves the pool (to no fewer than 1) and settles it.
func (c *controller) throttled() ConcurrencyChange {
	ch := ConcurrencyChange{From: c.limit, Reason: ReasonThrottled, Settled: true}
	c.limit = max(1, c.limit/2)
	c.settled = true
	c.restart(0)
	ch.To = c.limit
	return ch
}

// pool is the Uploader's shared pool of request slots: at most limit requests
// in flight. Its size is fixed, or, with a controller, adapts.
type pool struct {
	mu       sync.Mutex
	limit    int
	inFlight int
	waiting  int           // acquirers blocked on a full pool
	wake     chan struct{} // closed (and replaced) when a slot frees or the limit grows
	issued   uint64        // slots handed out so far
	// shrunkAt is issued when the pool last shrank for throttling: throttling
	// met by requests that started before then was already answered.
	shrunkAt uint64
	ctl      *controller // nil: a fixed size
	now      func() time.Time
	notify   func(ConcurrencyChange)
}

// slot is one request's place in the pool.
type slot struct{ seq uint64 }

func newPool(limit int, ctl *controller, now func() time.Time, notify func(ConcurrencyChange)) *pool {
	if ctl != nil {
		limit = ctl.limit
	}
	return &pool{limit: limit, wake: make(chan struct{}), ctl: ctl, now: now, notify: notify}
}

// size is the number of requests the pool lets in flight now.
func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limit
}

// ceiling is the most requests the pool may ever let in flight.
func (p *pool) ceiling() int {
	if p.ctl != nil {
		return p.ctl.ceiling
	}
	return p.limit
}

// acquire waits for a slot, or for ctx to end.
func (p *pool) acquire(ctx context.Context) (slot, error) {
	p.mu.Lock()
	for p.inFlight >= p.limit {
		wake := p.wake
		p.waiting++
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			p.mu.Lock()
			p.waiting--
			p.mu.Unlock()
			return slot{}, ctx.Err()
		}
		p.mu.Lock()
		p.waiting--
	}
	p.inFlight++
	p.issued++
	s := slot{seq: p.issued}
	p.mu.Unlock()
	return s, nil
}

// release frees s. ok says the request succeeded with S3 acknowledging n
// bytes; an adaptive pool counts it in its throughput.
func (p *pool) release(s slot, n int64, ok bool) {
	p.mu.Lock()
	demand := p.inFlight >= p.limit || p.waiting > 0
	p.inFlight--
	var ch ConcurrencyChange
	changed := false
	if p.ctl != nil && ok {
		if ch, changed = p.ctl.completed(n, demand, p.now()); changed {
			p.limit = p.ctl.limit
		}
	}
	p.wakeLocked()
	p.mu.Unlock()
	if changed && p.notify != nil {
		p.notify(ch)
	}
}

// throttled tells an adaptive pool that the store answered the request in s
// with throttling. The pool halves once for each round of requests: an
// answer to a request that started before the last halving is not counted
// again. A zero slot (a request outside the pool) counts as the latest one.
func (p *pool) throttled(s slot) {
	if p.ctl == nil {
		return
	}
	p.mu.Lock()
	if s.seq == 0 {
		s.seq = p.issued
	}
	if s.seq <= p.shrunkAt {
		p.mu.Unlock()
		return
	}
	p.shrunkAt = p.issued
	ch := p.ctl.throttled()
	p.limit = p.ctl.limit
	p.mu.Unlock()
	if p.notify != nil {
		p.notify(ch)
	}
}

func (p *pool) wakeLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}
