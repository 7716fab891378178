package ckansim

import (
	"net/http"
	"strings"
	"sync/atomic"
)

// Redirector answers every request with a redirect to the same path and query
// under Target, the way a site that moved from http:// to https:// (or to
// another host) does. It counts what it answered, for tests.
type Redirector struct {
	// Target is the site root to redirect to, e.g. "https://data.example.org".
	Target string
	// Status is the redirect's HTTP status (301, 302, 303, 307 or 308); zero
	// means 301, what most http→https set-ups answer.
	Status int
	hits   atomic.Int64
}

// ServeHTTP redirects to Target + the request's path and query.
func (rd *Redirector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rd.hits.Add(1)
	status := rd.Status
	if status == 0 {
		status = http.StatusMovedPermanently
	}
	loc := strings.TrimSuffix(rd.Target, "/") + r.URL.Path
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, loc, status)
}

// Hits is the number of requests answered so far.
func (rd *Redirector) Hits() int64 { return rd.hits.Load() }
