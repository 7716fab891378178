package tokenserver

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// metrics are exposed in the Prometheus text format.
type metrics struct {
	mu      sync.Mutex
	issuedN int64
	denials map[string]int64
	latency map[[2]string]*summary // (upstream, call) → summary
}

type summary struct {
	count int64
	sum   float64
}

func newMetrics() *metrics {
	return &metrics{denials: map[string]int64{}, latency: map[[2]string]*summary{}}
}

func (m *metrics) issued() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.issuedN++
}

func (m *metrics) deny(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.denials[reason]++
}

func (m *metrics) observe(upstream, call string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{upstream, call}
	s := m.latency[k]
	if s == nil {
		s = &summary{}
		m.latency[k] = s
	}
	s.count++
	s.sum += d.Seconds()
}

func (m *metrics) serve(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP ckanup_credentials_issued_total Temporary credentials issued.")
	fmt.Fprintln(w, "# TYPE ckanup_credentials_issued_total counter")
	fmt.Fprintf(w, "ckanup_credentials_issued_total %d\n", m.issuedN)
	fmt.Fprintln(w, "# HELP ckanup_denials_total Requests refused, by reason.")
	fmt.Fprintln(w, "# TYPE ckanup_denials_total counter")
	reasons := make([]string, 0, len(m.denials))
	for r := range m.denials {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "ckanup_denials_total{reason=%q} %d\n", r, m.denials[r])
	}
	fmt.Fprintln(w, "# HELP ckanup_upstream_request_seconds Latency of calls to CKAN and STS.")
	fmt.Fprintln(w, "# TYPE ckanup_upstream_request_seconds summary")
	keys := make([][2]string, 0, len(m.latency))
	for k := range m.latency {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		s := m.latency[k]
		fmt.Fprintf(w, "ckanup_upstream_request_seconds_sum{upstream=%q,call=%q} %g\n", k[0], k[1], s.sum)
		fmt.Fprintf(w, "ckanup_upstream_request_seconds_count{upstream=%q,call=%q} %d\n", k[0], k[1], s.count)
	}
}
