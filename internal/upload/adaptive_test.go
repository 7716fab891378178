package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/clocktest"
)

func TestParseConcurrency(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		auto bool
		ok   bool
	}{
		{"1", 1, false, true}, {"4", 4, false, true}, {"64", 64, false, true}, {" 10 ", 10, false, true},
		{"auto", DefaultConcurrency, true, true}, {"AUTO", DefaultConcurrency, true, true},
		{"0", 0, false, false}, {"65", 0, false, false}, {"-1", 0, false, false}, {"lots", 0, false, false},
		{"", 0, false, false}, {"4.5", 0, false, false}, {"auto4", 0, false, false},
	} {
		n, auto, err := ParseConcurrency(tc.in)
		if (err == nil) != tc.ok || n != tc.n || auto != tc.auto {
			t.Errorf("ParseConcurrency(%q) = %d, %v, %v; want %d, %v, ok %v", tc.in, n, auto, err, tc.n, tc.auto, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "1 to 64") || !strings.Contains(err.Error(), "auto")) {
			t.Errorf("ParseConcurrency(%q): %v does not say what is allowed", tc.in, err)
		}
	}
}

// link is a synthetic link: the throughput, in bytes per second, that a
// number of requests in flight gets.
type link func(inFlight int) float64

// rttBound is a long link whose every request is held back by the round
// trip: the throughput grows with the requests in flight, up to a bandwidth.
func rttBound(perRequest, bandwidth float64) link {
	return func(n int) float64 { return min(float64(n)*perRequest, bandwidth) }
}

// drive feeds c completions of 5 MiB parts at the times the link gives for
// its current limit, all in demand, moving *now on, and returns the limits it
// passed through and its decisions.
func drive(c *controller, l link, completions int, now *time.Time) ([]int, []ConcurrencyChange) {
	const part = 5 << 20
	limits := []int{c.limit}
	var changes []ConcurrencyChange
	for range completions {
		*now = now.Add(time.Duration(float64(part) / l(c.limit) * float64(time.Second)))
		if ch, ok := c.completed(part, true, *now); ok {
			changes = append(changes, ch)
			if c.limit != limits[len(limits)-1] {
				limits = append(limits, c.limit)
			}
		}
	}
	return limits, changes
}

func TestControllerGrowsOnRoundTripBoundLink(t *testing.T) {
	// 15 MB/s per request (a window-limited TCP stream at a 50 ms round
	// trip), 1 GB/s of bandwidth: more requests keep helping up to the ceiling.
	c := newController(DefaultConcurrency, 32)
	now := time.Unix(0, 0)
	limits, changes := drive(c, rttBound(15e6, 1e9), 400, &now)
	if want := []int{4, 8, 16, 32}; !reflect.DeepEqual(limits, want) {
		t.Fatalf("limits %v, want %v (changes %+v)", limits, want, changes)
	}
	last := changes[len(changes)-1]
	if !c.settled || last.Reason != ReasonCeiling || !last.Settled || last.To != 32 {
		t.Errorf("last decision %+v, settled %v: want to settle at the ceiling", last, c.settled)
	}
	for _, ch := range changes[:len(changes)-1] {
		if ch.Reason != ReasonRose || ch.To != 2*ch.From || ch.Rate <= ch.Best*(1+minGain) {
			t.Errorf("decision %+v: want a doubling on a rise", ch)
		}
	}
	if r := changes[0].Rate; r < 4*15e6*0.99 || r > 4*15e6*1.01 {
		t.Errorf("rate measured at 4 = %.0f B/s, the link gives %.0f", r, 4*15e6)
	}
}

func TestControllerStopsWhereThroughputIsFlat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		link   link
		limits []int
		settle int
	}{
		// The bandwidth is full at 8: 16 brings nothing, so back to 8.
		{"saturated at 8", rttBound(15e6, 120e6), []int{4, 8, 16, 8}, 8},
		// A LAN: 4 requests already fill it; 8 is tried and given up.
		{"flat from the start", rttBound(100e6, 300e6), []int{4, 8, 4}, 4},
		// A rise below 15 % is not worth twice the connections.
		{"small rise", func(n int) float64 { return 100e6 * (1 + 0.1*float64(n)/4) }, []int{4, 8, 4}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newController(DefaultConcurrency, 32)
			now := time.Unix(0, 0)
			limits, changes := drive(c, tc.link, 400, &now)
			if !reflect.DeepEqual(limits, tc.limits) {
				t.Fatalf("limits %v, want %v (changes %+v)", limits, tc.limits, changes)
			}
			last := changes[len(changes)-1]
			if !c.settled || c.limit != tc.settle || last.Reason != ReasonFlat || !last.Settled {
				t.Errorf("settled %v at %d (last %+v), want settled at %d because throughput no longer rose", c.settled, c.limit, last, tc.settle)
			}
		})
	}
}

func TestControllerThrottlingHalvesAndStopsGrowth(t *testing.T) {
	c := newController(DefaultConcurrency, 32)
	now := time.Unix(0, 0)
	// Grow to 16 on a round-trip-bound link, then the store throttles.
	for i := 0; c.limit < 16; i++ {
		if i > 1000 {
			t.Fatalf("still at %d after 1000 completions", c.limit)
		}
		drive(c, rttBound(15e6, 1e9), 1, &now)
	}
	ch := c.throttled()
	if ch.From != 16 || ch.To != 8 || ch.Reason != ReasonThrottled || !ch.Settled || c.limit != 8 {
		t.Fatalf("throttled at 16: %+v, limit %d; want 16 → 8", ch, c.limit)
	}
	// The link would still reward more requests: the pool does not grow again.
	if limits, changes := drive(c, rttBound(15e6, 1e9), 200, &now); !reflect.DeepEqual(limits, []int{8}) || len(changes) != 0 {
		t.Errorf("after throttling: limits %v, changes %+v; want to stay at 8", limits, changes)
	}
	for _, want := range []int{4, 2, 1, 1} {
		if ch := c.throttled(); ch.To != want {
			t.Errorf("throttled again: %+v, want %d", ch, want)
		}
	}
}

func TestControllerMeasuresOnlyInDemand(t *testing.T) {
	// Completions with the pool neither full nor waited for (a slow reader,
	// the end of the last file) say nothing about a larger pool.
	c := newController(DefaultConcurrency, 32)
	now := time.Unix(0, 0)
	for i := range 100 {
		now = now.Add(time.Duration(i%7+1) * time.Millisecond)
		if ch, ok := c.completed(5<<20, false, now); ok {
			t.Fatalf("decided %+v without demand", ch)
		}
	}
	// One idle completion in a window discards it: windows interrupted one
	// completion before they close decide nothing.
	for range 3 {
		for range minWindow { // the opening completion and minWindow-1 more
			now = now.Add(10 * time.Millisecond)
			if ch, ok := c.completed(5<<20, true, now); ok {
				t.Fatalf("decided %+v from an interrupted window", ch)
			}
		}
		c.completed(5<<20, false, now)
	}
	// A clock that does not move measures nothing.
	c = newController(DefaultConcurrency, 32)
	for range 100 {
		if ch, ok := c.completed(5<<20, true, now); ok {
			t.Fatalf("decided %+v with no time elapsed", ch)
		}
	}
}

func TestControllerStartsWithinCeiling(t *testing.T) {
	c := newController(8, 4)
	if c.limit != 4 {
		t.Errorf("start 8 under a ceiling of 4: limit %d", c.limit)
	}
	now := time.Unix(0, 0)
	limits, changes := drive(c, rttBound(15e6, 1e9), 100, &now)
	if !reflect.DeepEqual(limits, []int{4}) || len(changes) != 1 || changes[0].Reason != ReasonCeiling {
		t.Errorf("limits %v, changes %+v; want to settle at the ceiling of 4", limits, changes)
	}
}

func TestPoolHalvesOncePerRoundOfThrottling(t *testing.T) {
	ctx := context.Background()
	var heard []ConcurrencyChange
	p := newPool(0, newController(16, 32), func() time.Time { return time.Unix(0, 0) }, func(ch ConcurrencyChange) { heard = append(heard, ch) })
	var round []slot
	for range 16 {
		s, err := p.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		round = append(round, s)
	}
	// Every request of the round meets SlowDown: one halving.
	for _, s := range round {
		p.throttled(s)
	}
	if p.size() != 8 || len(heard) != 1 {
		t.Fatalf("16 requests throttled: size %d, decisions %+v; want one halving to 8", p.size(), heard)
	}
	// The pool is over its new size: no slot until 9 of the 16 are released.
	full, cancel := context.WithCancel(ctx)
	cancel()
	for i, s := range round[:9] {
		if _, err := p.acquire(full); !errors.Is(err, context.Canceled) {
			t.Fatalf("acquire with %d of 16 released and a size of 8: %v, want to wait", i, err)
		}
		p.release(s, 0, false)
	}
	late, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A request that started after the halving and is throttled too: again.
	p.throttled(late)
	if p.size() != 4 || len(heard) != 2 {
		t.Errorf("a later request throttled: size %d, decisions %+v; want 4", p.size(), heard)
	}
	// Outside the pool (a request without a slot): counts as the latest.
	p.throttled(slot{})
	if p.size() != 4 {
		t.Errorf("a request outside the pool throttled with none started since: size %d, want 4", p.size())
	}
}

func TestFixedPoolIgnoresThrottling(t *testing.T) {
	p := newPool(4, nil, time.Now, nil)
	s, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.throttled(s)
	p.release(s, 1, true)
	if p.size() != 4 || p.ceiling() != 4 {
		t.Errorf("fixed pool: size %d, ceiling %d; want 4", p.size(), p.ceiling())
	}
}

// roundTripS3 is the fake S3 behind a long link, in virtual time: requests
// go in rounds, each taking one round trip whatever their number. A round
// starts when every slot of the pool holds a request waiting in it (or no
// request is left to come), so the throughput grows with the requests in
// flight, as on a link where each request is held back by the round trip,
// and the engine's clock measures exactly that, however the goroutines run.
type roundTripS3 struct {
	*fakeS3
	clock *clocktest.Clock
	rtt   time.Duration
	size  func() int // the pool's size now
	total int        // requests to come in all

	mu      sync.Mutex
	round   int
	waiting int
	started int
	peak    int // most requests in one round
}

func (r *roundTripS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.mu.Lock()
	r.started++
	r.waiting++
	mine := r.round
	for r.round == mine {
		if r.waiting >= r.size() || r.started >= r.total {
			r.peak = max(r.peak, r.waiting)
			r.round++
			r.waiting = 0
			r.clock.Advance(r.rtt)
			break
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Microsecond)
		r.mu.Lock()
	}
	r.mu.Unlock()
	return r.fakeS3.PutObject(ctx, in, opts...)
}

// runRoundTrip uploads files small files through an Uploader with opts over
// a 50 ms round trip, from more goroutines than any pool holds, and returns
// the most requests in flight in one round and the Uploader.
func runRoundTrip(t *testing.T, opts Options, files int) (int, *Uploader) {
	t.Helper()
	clock := clocktest.New(time.Unix(1e9, 0))
	rt := &roundTripS3{fakeS3: newFakeS3(), clock: clock, rtt: 50 * time.Millisecond, total: files}
	rt.putMD5ETag = true // the answer is the read-back: one request per file
	opts.Now = clock.Now
	up := New(rt, opts)
	rt.size = up.Concurrency
	path, _ := writeFile(t, 64<<10)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if _, err := up.Upload(context.Background(), Job{Path: path, Bucket: "b", Key: fmt.Sprintf("k%d", i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range files {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if n := rt.count("PutObject"); n != files {
		t.Errorf("%d PutObject calls for %d files", n, files)
	}
	return rt.peak, up
}

func TestAutoConcurrencyFillsLongLink(t *testing.T) {
	const files = 300
	fixed, up := runRoundTrip(t, testOptions(), files)
	if fixed != DefaultConcurrency || up.Concurrency() != DefaultConcurrency {
		t.Errorf("default pool: %d requests in flight at most, size %d; want %d", fixed, up.Concurrency(), DefaultConcurrency)
	}

	opts := testOptions()
	opts.AdaptiveConcurrency, opts.ConcurrencyCeiling = true, 16
	var mu sync.Mutex
	var changes []ConcurrencyChange
	opts.OnConcurrency = func(ch ConcurrencyChange) {
		mu.Lock()
		changes = append(changes, ch)
		mu.Unlock()
	}
	auto, up := runRoundTrip(t, opts, files)
	if auto <= fixed || auto > 16 {
		t.Errorf("auto: %d requests in flight at most; want more than the default's %d, no more than the ceiling of 16", auto, fixed)
	}
	mu.Lock()
	defer mu.Unlock()
	if up.Concurrency() != 16 || len(changes) == 0 || changes[len(changes)-1].Reason != ReasonCeiling {
		t.Errorf("auto: size %d at the end, decisions %+v; want to settle at the ceiling of 16 on a link where each request waits a round trip", up.Concurrency(), changes)
	}
}

func TestAutoConcurrencyBacksOffWhenThrottled(t *testing.T) {
	fake := newFakeS3()
	fake.putMD5ETag = true
	// Every request gets one SlowDown before it goes through.
	fake.fail = func(op string, _ int32, attempt int) error {
		if op == "PutObject" && attempt == 1 {
			return apiErr(503, "SlowDown")
		}
		return nil
	}
	opts := testOptions()
	opts.AdaptiveConcurrency, opts.Concurrency = true, 8
	var changes atomic.Int32
	opts.OnConcurrency = func(ch ConcurrencyChange) {
		if ch.Reason == ReasonThrottled {
			changes.Add(1)
		}
	}
	up := New(fake, opts)
	path, _ := writeFile(t, 1024)
	if _, err := up.Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if up.Concurrency() != 4 || changes.Load() != 1 {
		t.Errorf("after SlowDown: size %d, %d throttling decisions; want 8 → 4 once", up.Concurrency(), changes.Load())
	}
}

func TestUploadStreamWithAdaptivePool(t *testing.T) {
	_, data := writeFile(t, 23*mib+5)
	fake := newFakeS3()
	var inFlight, peak atomic.Int32
	fake.hook = func(int32) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond) // let the reader catch up: a pool that is full
		inFlight.Add(-1)
	}
	opts := testOptions()
	opts.AdaptiveConcurrency, opts.Concurrency, opts.ConcurrencyCeiling = true, 2, 3
	res, err := New(fake, opts).UploadStream(context.Background(), bytes.NewReader(data), Job{Bucket: "b", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fake.object("k"), data) || res.SHA256 != sha(data) || res.Parts != 5 {
		t.Fatalf("result %+v", res)
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("%d parts in flight, above the ceiling of 3", p)
	}
}
