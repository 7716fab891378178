package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/clocktest"
)

// newFakeClock is a clock tests move by hand.
func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
}

// syncBuffer (cmd_serve_test.go) is a bytes.Buffer safe for the ticker goroutine.

func TestLineDisplay(t *testing.T) {
	clock := newFakeClock()
	var out syncBuffer
	d := newLineDisplay(&out, false, time.Hour, clock.Now) // the ticker never fires in this test
	d.begin(3, 30<<20)
	a := d.track("a.csv", 20<<20)
	clock.Advance(time.Second)
	a.Transferred(2 << 20) // 10%, 2 MiB in 1 s
	clock.Advance(time.Hour)
	d.periodic() // an interval without a decile: a line anyway
	a.finish(progressFailed)
	b := d.track("b.csv", 10<<20)
	b.finish(progressSkipped)
	c := d.track("c.csv", 0)
	c.finish(progressCreated)
	d.close()

	want := []string{
		"ckanup: 3 file(s), up to 30.0 MiB to send",
		"ckanup: a.csv: 10% (2.0 MiB of 20.0 MiB, 2.0 MiB/s)",
		"ckanup: a.csv: 10% (2.0 MiB of 20.0 MiB, 0.0 MiB/s)",
		"ckanup: a.csv: failed at 10% (2.0 MiB of 20.0 MiB sent)",
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
	if n := d.bytesSent(); n != 2<<20 {
		t.Errorf("bytes sent %d", n)
	}
}

func TestLineDisplayInterrupted(t *testing.T) {
	clock := newFakeClock()
	var out syncBuffer
	d := newLineDisplay(&out, false, time.Hour, clock.Now)
	d.begin(1, 100<<20)
	a := d.track("big.bin", 100<<20)
	a.Transferred(16 << 20)
	a.finish(progressInterrupted)
	a.finish(progressCreated) // only the first end counts
	d.close()
	if s := out.String(); !strings.Contains(s, "big.bin: interrupted at 16% (16.0 MiB of 100.0 MiB sent)") || strings.Contains(s, "100%") {
		t.Errorf("output:\n%s", s)
	}
}

// lastLine is what a terminal shows last: the text after the last
// carriage return or line-clearing escape.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func TestBarDisplayEndStates(t *testing.T) {
	cases := []struct {
		name   string
		run    func(d *barDisplay)
		last   string // the last line shows this
		no100  bool   // "100%" never appears
		noSIMB bool
	}{
		{"a failed file", func(d *barDisplay) {
			a := d.track("a.csv", 8<<20)
			a.Transferred(8 << 20) // every byte sent, then the registration fails
			b := d.track("b.csv", 8<<20)
			b.Transferred(2 << 20)
			a.finish(progressFailed)
			b.finish(progressFailed)
		}, "ckanup: failed: 2 of 2 files failed; 10.0 MiB of 16.0 MiB sent (62%)", true, true},
		{"interrupted", func(d *barDisplay) {
			a := d.track("a.csv", 8<<20)
			a.Transferred(1 << 20)
			a.finish(progressInterrupted)
		}, "ckanup: interrupted: 0 of 2 files done; 1.0 MiB of 16.0 MiB sent (6%)", true, true},
		{"interrupted before the second file started", func(d *barDisplay) {
			a := d.track("a.csv", 8<<20)
			a.Transferred(8 << 20)
			a.finish(progressCreated)
		}, "ckanup: interrupted: 1 of 2 files done; 8.0 MiB of 16.0 MiB sent (50%)", true, true},
		{"a skipped file leaves the total", func(d *barDisplay) {
			a := d.track("a.csv", 8<<20)
			a.finish(progressSkipped)
			b := d.track("b.csv", 8<<20)
			b.Transferred(8 << 20)
			b.finish(progressUpdated)
		}, "100%", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			d := newBarDisplay(&out, false, 0)
			d.begin(2, 16<<20)
			tc.run(d)
			before := out.String()
			d.close()
			s := out.String()
			if !strings.Contains(lastLine(s), tc.last) {
				t.Errorf("last line %q, want %q\n%q", lastLine(s), tc.last, s)
			}
			if strings.Contains(before, "100%") || tc.no100 && strings.Contains(s, "100%") {
				t.Errorf("100%% shown:\n%q", s)
			}
			if tc.noSIMB && (strings.Contains(s, " MB") || strings.Contains(s, " kB")) {
				t.Errorf("SI units:\n%q", s)
			}
			if !strings.Contains(s, "MiB") && !strings.Contains(s, "GiB") {
				t.Errorf("no IEC sizes:\n%q", s)
			}
		})
	}
}

// The bar's total is the whole plan from the start: it does not grow as
// files start, so the percent never jumps back.
func TestBarDisplayTotalKnownUpFront(t *testing.T) {
	var out bytes.Buffer
	d := newBarDisplay(&out, false, 0)
	d.begin(3, 30<<20)
	if max := d.bar.GetMax64(); max != 30<<20+1 {
		t.Fatalf("max %d", max)
	}
	a := d.track("a.csv", 10<<20)
	a.Transferred(10 << 20)
	if !strings.Contains(out.String(), "33%") {
		t.Errorf("one file of three sent:\n%q", out.String())
	}
	d.track("b.csv", 10<<20)
	d.track("c.csv", 10<<20)
	if max := d.bar.GetMax64(); max != 30<<20+1 {
		t.Errorf("max grew to %d", max)
	}
	if !strings.Contains(lastLine(out.String()), "[0/3] a.csv sent, b.csv 0%, c.csv 0%") {
		t.Errorf("files in flight not shown: %q", lastLine(out.String()))
	}
}

func TestSummary(t *testing.T) {
	clock := newFakeClock()
	s := newSummary(clock.Now())
	for _, st := range []string{"created", "updated", "skipped", "failed", "created"} {
		s.add(st)
	}
	clock.Advance(4 * time.Second)
	s.end(clock.Now(), 8<<20, false)
	if got, want := s.text(), "5 file(s): 2 created, 1 updated, 1 skipped, 1 failed; 8.0 MiB sent in 4s (2.0 MiB/s)"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	var stdout, stderr bytes.Buffer
	if err := s.print(&stdout, &stderr, "json", false); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["type"] != "summary" || rec["created"] != 2.0 || rec["failed"] != 1.0 || rec["bytes_sent"] != float64(8<<20) ||
		rec["duration_s"] != 4.0 || rec["bytes_per_s"] != float64(2<<20) || rec["interrupted"] != false || stderr.Len() != 0 {
		t.Errorf("record %v, stderr %q", rec, stderr.String())
	}
	stdout.Reset()
	s.print(&stdout, &stderr, "text", false)
	if stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), "ckanup: 5 file(s)") {
		t.Errorf("text: stdout %q stderr %q", stdout.String(), stderr.String())
	}
	stderr.Reset()
	s.print(&stdout, &stderr, "text", true)
	if stderr.Len() != 0 {
		t.Errorf("--quiet: %q", stderr.String())
	}
	i := newSummary(clock.Now())
	i.add("failed")
	i.add("interrupted")
	i.add("interrupted")
	i.end(clock.Now(), 0, true)
	if got := i.text(); got != "interrupted: 3 file(s): 0 created, 0 updated, 0 skipped, 1 failed, 2 interrupted; 0 B sent in 0s" {
		t.Errorf("interrupted: %q", got)
	}
	if i.Failed != 1 || i.InterruptedFiles != 2 || !i.Interrupted {
		t.Errorf("interrupted: failed %d, interrupted files %d, interrupted %v", i.Failed, i.InterruptedFiles, i.Interrupted)
	}
	d := newSummary(clock.Now())
	d.addDataset("created")
	d.addDataset(failedOrInterrupted(fmt.Errorf("package_create: %w", context.Canceled)))
	d.addDataset(failedOrInterrupted(errors.New("validation error")))
	d.end(clock.Now(), 0, true)
	if got := d.text(); !strings.HasPrefix(got, "interrupted: 3 data package(s): 1 created, 0 updated, 0 unchanged, 1 failed, 1 interrupted; 0 file(s)") {
		t.Errorf("datasets: %q", got)
	}
	if endStatus(context.Background(), "failed") != "failed" {
		t.Error("a failure without cancellation is not an interruption")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if endStatus(ctx, "failed") != "interrupted" || endStatus(ctx, "created") != "created" {
		t.Error("endStatus after cancellation")
	}
}

// A re-run skips the file: no progress or throughput line for it, and the
// summary counts it as skipped with nothing sent; in JSON the summary is the
// last record.
func TestUploadSummaryAndSkippedProgress(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "a.csv", 6<<20)
	r := e.upload(f, "-d", "acceptance-dataset")
	if r.code != 0 || !strings.Contains(r.stderr, "ckanup: 1 file(s): 1 created, 0 updated, 0 skipped, 0 failed; 6.0 MiB sent in") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	r = e.upload(f, "-d", "acceptance-dataset")
	if r.code != 0 || strings.Contains(r.stderr, "100%") || strings.Contains(r.stderr, "MiB/s") ||
		!strings.Contains(r.stderr, "1 skipped, 0 failed; 0 B sent") {
		t.Errorf("skipped re-run: exit %d\n%s", r.code, r.stderr)
	}
	r = e.upload(f, "-d", "acceptance-dataset", "--output", "json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || len(lines) != 2 {
		t.Fatalf("%d lines, %v\n%s", len(lines), err, r.stdout)
	}
	if last["type"] != "summary" || last["skipped"] != 1.0 || last["files"] != 1.0 || last["bytes_sent"] != 0.0 {
		t.Errorf("summary record %v", last)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["type"] != "file" || first["status"] != "skipped" {
		t.Errorf("file record %v (%v)", first, err)
	}
	// A dry run's NDJSON ends with a summary too.
	r = e.upload(f, "-d", "acceptance-dataset", "--output", "json", "--dry-run")
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || len(lines) != 2 || last["type"] != "summary" || last["planned"] != 1.0 {
		t.Errorf("dry run: %v %v\n%s", last, err, r.stdout)
	}
}

// On a terminal, a run stopped by Ctrl-C or by a failure never shows 100% or
// "done"; a run that finishes does.
func TestProgressBarOnTerminal(t *testing.T) {
	cases := []struct {
		name string
		hook func(cancel func()) func(w http.ResponseWriter, r *http.Request) bool
		code int
		last string
	}{
		{"done", nil, exitOK, "done: 1 files"},
		{"interrupted at the second part", func(cancel func()) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Query().Get("partNumber") == "2" {
					cancel()
				}
				return false
			}
		}, exitInterrupted, "ckanup: interrupted: 0 of 1 files done;"},
		{"failed at the second part", func(func()) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Query().Get("partNumber") == "2" {
					io.Copy(io.Discard, r.Body) // else the client sees its upload cut off
					w.WriteHeader(http.StatusBadRequest)
					w.Write([]byte(`<Error><Code>InvalidArgument</Code><Message>no</Message></Error>`))
					return true
				}
				return false
			}
		}, exitConfig, "ckanup: failed: 1 of 1 files failed;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, "", "", "", "ckanup-test")
			e.terminal = true
			f := makeFile(t, t.TempDir(), "big.bin", 16<<20)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.hook != nil {
				e.s3Hook = tc.hook(cancel)
			}
			r := e.run(ctx, "", "upload", f, "-d", "acceptance-dataset", "--concurrency", "1", "--retries", "1")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.last) {
				t.Fatalf("exit %d, want %d and %q:\n%q", r.code, tc.code, tc.last, r.stderr)
			}
			if done := tc.code == exitOK; done != strings.Contains(r.stderr, "100%") {
				t.Errorf("100%% shown: %v, want %v:\n%q", !done, done, r.stderr)
			}
			if strings.Contains(r.stderr, " MB") || !strings.Contains(r.stderr, "MiB") {
				t.Errorf("units:\n%q", r.stderr)
			}
		})
	}
}

// An object uploaded by an earlier run but not registered is registered
// without being sent: its progress shows no bytes and no rate, and the summary
// counts nothing sent.
func TestObjectAlreadyInS3SendsNothing(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "a.csv", 3<<20)
	e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		if action != "resource_create" {
			return false
		}
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte(`{"success": false, "error": {"__type": "Validation Error", "url": ["Invalid URL"]}}`))
		return true
	})
	if r := e.upload(f, "-d", "acceptance-dataset"); r.code != exitConfig || !strings.Contains(r.stderr, "3.0 MiB sent") {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	e.ckan.SetIntercept(nil)
	r := e.upload(f, "-d", "acceptance-dataset", "-v")
	if r.code != 0 || !strings.Contains(r.stderr, "already holds this file") || !strings.Contains(r.stderr, "1 created, 0 updated, 0 skipped, 0 failed; 0 B sent") ||
		strings.Contains(r.stderr, "100%") || strings.Contains(r.stderr, "MiB/s") {
		t.Errorf("re-run: exit %d\n%s", r.code, r.stderr)
	}
}

// Parts a resumed upload already holds are progress of the file, not bytes
// sent: the rate and the summary count only what this run sends.
func TestResumedPartsAreNotSent(t *testing.T) {
	clock := newFakeClock()
	var out syncBuffer
	l := newLineDisplay(&out, false, time.Hour, clock.Now)
	l.begin(1, 20<<20)
	f := l.track("big.bin", 20<<20)
	f.Reused(10 << 20) // 50%, nothing sent
	clock.Advance(2 * time.Second)
	f.Transferred(2 << 20) // 60%, 2 MiB in 2 s
	f.finish(progressInterrupted)
	l.close()
	want := "ckanup: big.bin: 50% (10.0 MiB of 20.0 MiB)\n" +
		"ckanup: big.bin: 60% (12.0 MiB of 20.0 MiB, 1.0 MiB/s)\n" +
		"ckanup: big.bin: interrupted at 60% (12.0 MiB of 20.0 MiB sent)\n"
	if got := strings.TrimPrefix(out.String(), "ckanup: 1 file(s), up to 20.0 MiB to send\n"); got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
	if l.bytesSent() != 2<<20 {
		t.Errorf("sent %d", l.bytesSent())
	}

	var bout bytes.Buffer
	b := newBarDisplay(&bout, false, 0)
	b.begin(1, 20<<20)
	g := b.track("big.bin", 20<<20)
	g.Reused(10 << 20)
	if max := b.bar.GetMax64(); max != 10<<20+1 {
		t.Errorf("bar total %d: reused parts are not to be sent", max)
	}
	g.Transferred(10 << 20)
	g.finish(progressCreated)
	b.close()
	if b.bytesSent() != 10<<20 || !strings.Contains(lastLine(bout.String()), "100%") {
		t.Errorf("sent %d, last line %q", b.bytesSent(), lastLine(bout.String()))
	}
}

// A resumed upload's summary counts only the parts this run sent.
func TestResumeSummaryCountsOnlyBytesSent(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "big.bin", 30<<20)
	if r := e.interruptAt("3", f, "--dataset", "acceptance-dataset"); r.code != exitInterrupted {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.resetCounts()
	r := e.upload(f, "--dataset", "acceptance-dataset", "--concurrency", "1", "--output", "json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || r.code != 0 {
		t.Fatalf("exit %d %v\n%s", r.code, err, r.stdout)
	}
	if want := float64(e.counted("UploadPart")) * (5 << 20); sum["bytes_sent"] != want || want >= 30<<20 {
		t.Errorf("bytes_sent %v, want %v (%d parts sent of 6)", sum["bytes_sent"], want, e.counted("UploadPart"))
	}
}
