package ckan

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Files in flight call CKAN at once. The client of NewHTTPClient keeps their
// connections for reuse. Here the server answers the calls in rounds, all of a
// round's calls at once, so every connection goes idle at the same moment: Go's
// default transport keeps 2 idle connections per host and closes the others,
// so each round would open 6 new ones; this client opens each one once.
func TestNewHTTPClientReusesConnections(t *testing.T) {
	const workers, rounds = 8, 10
	var opened atomic.Int64
	var mu sync.Mutex
	arrived := 0
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		wait := release
		if arrived == workers { // the round is complete: answer all its calls
			arrived = 0
			close(release)
			release = make(chan struct{})
		}
		mu.Unlock()
		<-wait
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"help": "", "success": false, "error": {"__type": "Not Found Error", "message": "Not found"}}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(srv.URL, "tok", NewHTTPClient(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make([]chan struct{}, rounds)
	for i := range start {
		start[i] = make(chan struct{})
	}
	var done sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				<-start[i]
				if _, err := c.ResourceShow(context.Background(), "00000000-0000-0000-0000-000000000000"); !IsNotFound(err) {
					t.Errorf("resource_show: %v", err)
				}
				done.Done()
			}
		}()
	}
	for i := range rounds {
		done.Add(workers)
		close(start[i])
		done.Wait() // every connection of the round is back before the next
	}
	wg.Wait()
	if n := opened.Load(); n > workers+1 {
		t.Errorf("%d connections opened for %d rounds of %d calls at once; want %d (one per call in flight)", n, rounds, workers, workers)
	}
}
