package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want spread
		text string
	}{
		{nil, spread{}, "–"},
		{[]float64{3}, spread{3, 3, 3, 1}, "3.0"},
		{[]float64{5, 1, 3}, spread{3, 1, 5, 3}, "3.0 (1.0–5.0)"},
		{[]float64{4, 1, 2, 10}, spread{3, 1, 10, 4}, "3.0 (1.0–10.0)"},
	} {
		got := summarize(tc.in)
		if got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
		if s := got.format(1); s != tc.text {
			t.Errorf("format(%v) = %q, want %q", tc.in, s, tc.text)
		}
	}
}

func TestParseTimeV(t *testing.T) {
	rep := []byte(`	Command being timed: "ckanup upload x"
	User time (seconds): 1.25
	System time (seconds): 0.50
	Percent of CPU this job got: 80%
	Elapsed (wall clock) time (h:mm:ss or m:ss): 0:02.18
	Maximum resident set size (kbytes): 19456
	Exit status: 0
`)
	u, err := parseTimeV(rep)
	if err != nil {
		t.Fatal(err)
	}
	if u.User != 1.25 || u.Sys != 0.5 || u.MaxRSS != 19456 || u.CPU() != 1.75 {
		t.Errorf("got %+v", u)
	}
	if _, err := parseTimeV([]byte("Command exited with non-zero status 1\n")); err == nil {
		t.Error("a report without figures was accepted")
	}
}

func TestFmtCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567", -2500: "-2,500"} {
		if got := fmtCount(n); got != want {
			t.Errorf("fmtCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": gib, "100KiB": 100 * kib, "5MiB": 5 * mib, "4096": 4096, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1GB", "-1KiB", "x"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestWriteReportKeepsHandWrittenText(t *testing.T) {
	p := filepath.Join(t.TempDir(), "performance.md")
	if err := writeReport(p, "first\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	doc := "# Title\n\nintro\n\n" + string(bytes.TrimPrefix(b, []byte("# Performance\n\n"))) + "\n## Notes\n\nkept\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(p, "second\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	got := string(b)
	for _, want := range []string{"# Title\n\nintro\n\n", "second\n", "## Notes\n\nkept\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "first") || strings.Count(got, endMarker) != 1 {
		t.Errorf("the generated section was not replaced exactly once:\n%s", got)
	}
}

// TestDelayProxyCarriesBytesIntact sends random data both ways through the
// proxy and checks it arrives unchanged and the half-close passes through.
func TestDelayProxyCarriesBytesIntact(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The target echoes everything back, then closes.
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(c, c)
		c.Close()
	}()
	p, err := startDelayProxy(ln.Addr().String(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 3<<20+17)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(data)
	go func() {
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, want the %d sent, unchanged", len(got), len(data))
	}
}
