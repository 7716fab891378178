package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/clocktest"
)

// newFakeClock is the clock the batch tests move by hand.
func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
}

// Issue 12: registration calls are few. A file waits BatchWait for others,
// or twice as long as the last call took; BatchSize files go at once; the
// files waiting at the end go without waiting; one call at a time.
func TestBatchTiming(t *testing.T) {
	clk := newFakeClock()
	t0 := clk.Now()
	p := New(Options{BatchSize: 10, BatchWait: 5 * time.Second, Now: clk.Now, After: clk.After})
	ready := make(chan *staged)
	results := make(chan *Record, 100)
	calls := make(chan []*staged)
	release := make(chan struct{})
	var mu sync.Mutex
	inCall := 0
	register := func(_ context.Context, b []*staged) {
		mu.Lock()
		inCall++
		if inCall > 1 {
			t.Errorf("%d registration calls at once", inCall)
		}
		mu.Unlock()
		calls <- b
		<-release
		mu.Lock()
		inCall--
		mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		p.batches(context.Background(), ready, results, register)
		close(done)
	}()
	send := func(n int) {
		for range n {
			ready <- &staged{rec: &Record{}}
		}
	}
	noCall := func(when string) {
		t.Helper()
		select {
		case b := <-calls:
			t.Fatalf("%s: registered %d files", when, len(b))
		default:
		}
	}
	call := func(want int) {
		t.Helper()
		select {
		case b := <-calls:
			if len(b) != want {
				t.Fatalf("registered %d files in one call, want %d", len(b), want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no registration call (want %d files)", want)
		}
	}

	// Three files wait BatchWait for others.
	send(3)
	for range 3 {
		clk.WaitArmed(t, t0.Add(5*time.Second))
	}
	noCall("before BatchWait")
	clk.Advance(5 * time.Second)
	call(3)

	// Four arrive while that call runs; it takes 8 s, so they wait 16 s
	// from the first one's arrival (t0+5s), not 5.
	send(4)
	clk.Advance(8 * time.Second)
	release <- struct{}{}
	clk.WaitArmed(t, t0.Add(21*time.Second))
	noCall("at t0+13s")
	clk.Advance(7 * time.Second) // t0+20s: not yet
	noCall("at t0+20s")
	clk.Advance(1 * time.Second)
	call(4)
	release <- struct{}{}

	// BatchSize files go at once, without waiting.
	send(10)
	call(10)

	// Files waiting when the uploads end go without waiting.
	send(2)
	close(ready)
	release <- struct{}{}
	call(2)
	release <- struct{}{}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("batches did not return")
	}
	if n := len(results); n != 19 {
		t.Errorf("%d records, want 19", n)
	}
}

// A package_revise call refused as too large (HTTP 413 from a proxy) is sent
// again in halves, and later calls are no larger; nothing falls back to one
// call per file.
func TestBatchSplitOnTooLarge(t *testing.T) {
	e := newEnv(t)
	const limit = 3 // resources a call may carry before the "proxy" refuses it
	var refused []int
	e.sim.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		if action != "package_revise" {
			return false
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct {
			Extend []json.RawMessage `json:"update__resources__extend"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("package_revise body: %v", err)
		}
		if len(req.Extend) > limit {
			refused = append(refused, len(req.Extend))
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte("<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center></body></html>"))
			return true
		}
		return false
	})
	dir := t.TempDir()
	files := writeFiles(t, dir, "big%d.csv", 8, 64, 300)
	var notes bytes.Buffer
	recs := e.run("acceptance-dataset", Options{BatchSize: 8, BatchWait: time.Hour, Events: noteEvents{&notes}}, files...)
	for _, r := range recs {
		if r.Status != StatusCreated {
			t.Errorf("%+v", r)
		}
	}
	if n, c := e.sim.CountCalls("package_revise", 200), e.sim.CountCalls("resource_create", 200); n != 4 || c != 0 {
		t.Errorf("%d package_revise and %d resource_create calls saved, want 4 (2 files each) and 0", n, c)
	}
	if fmt.Sprint(refused) != "[8 4 4]" {
		t.Errorf("calls refused as too large carried %v files, want [8 4 4]", refused)
	}
	if n := len(e.sim.Resources("acceptance-dataset")); n != 8 {
		t.Errorf("dataset holds %d resources, want 8", n)
	}
	if strings.Contains(notes.String(), "one file at a time") {
		t.Errorf("fell back to one call per file: %s", notes.String())
	}
}
