package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ckanup/ckanup/internal/upload"
	"github.com/schollz/progressbar/v3"
)

// File end states passed to (*fileProgress).finish. created, updated and
// skipped are successes; failed and interrupted are not.
const (
	progressCreated     = "created"
	progressUpdated     = "updated"
	progressSkipped     = "skipped"
	progressFailed      = "failed"
	progressInterrupted = "interrupted"
)

// display shows progress and status on stderr; results go to stdout elsewhere.
// All sizes are in IEC units (KiB, MiB, GiB) and rates in MiB/s.
//
// A run calls begin once with the whole plan, then track for each file as it
// starts and finish on what track returned as it ends, then close. Bytes are
// counted as sent only when the engine reports them (acknowledged parts):
// a skipped file, or an object found already in S3, sends nothing and must not
// report Transferred.
type display interface {
	// begin gives the plan: files to publish and the bytes they hold (-1 when
	// unknown: standard input). Totals never grow after this.
	begin(files int, bytes int64)
	// track starts following one file of size bytes (-1: unknown).
	track(name string, size int64) *fileProgress
	// logf prints a status line without breaking a progress bar.
	logf(format string, a ...any)
	// pause clears the bar before something else writes to the terminal.
	pause()
	// close ends the display: the bar reads "done" only when every planned
	// file ended in success.
	close()
	// bytesSent is the total the engine reported as sent.
	bytesSent() int64
}

// fileProgress is the upload.Observer of one file, and its end.
type fileProgress struct {
	d       display
	name    string
	size    int64
	verbose bool
	add     func(int64)
	reuse   func(int64) // parts a resumed upload already holds; nil: ignored
	end     func(status string)
	once    sync.Once
}

func (p *fileProgress) Started(plan upload.Plan) {
	if p.verbose {
		if plan.Size < 0 {
			p.d.logf("%s: streaming in parts of %s", p.name, upload.FormatSize(plan.PartSize))
		} else if plan.Multipart {
			p.d.logf("%s: %s in %d parts of %s", p.name, upload.FormatSize(plan.Size), plan.Parts, upload.FormatSize(plan.PartSize))
		} else {
			p.d.logf("%s: %s in one request", p.name, upload.FormatSize(plan.Size))
		}
	}
}

// Transferred counts n bytes S3 acknowledged.
func (p *fileProgress) Transferred(n int64) { p.add(n) }

// Reused counts n bytes of parts S3 already held from an earlier run
// (upload.ReuseObserver): progress of the file, not bytes sent.
func (p *fileProgress) Reused(n int64) {
	if p.reuse != nil {
		p.reuse(n)
	}
}

func (p *fileProgress) Retrying(ev upload.RetryEvent) {
	if !p.verbose {
		return
	}
	what := ev.Op
	if ev.Part > 0 {
		what = fmt.Sprintf("%s part %d", ev.Op, ev.Part)
	}
	p.d.logf("retry: %s: %s attempt %d failed: %v; retrying in %s", p.name, what, ev.Attempt, ev.Err, ev.Delay.Round(time.Millisecond))
}

// finish ends the file with one of the progress* states (a record's status:
// created, updated, skipped, failed; interrupted for a failure caused by
// cancellation). Only the first call counts.
func (p *fileProgress) finish(status string) {
	p.once.Do(func() { p.end(status) })
}

func succeeded(status string) bool {
	return status == progressCreated || status == progressUpdated || status == progressSkipped
}

// formatRate is bytes over d in MiB/s.
func formatRate(bytes int64, d time.Duration) string {
	if d <= 0 {
		return "-- MiB/s"
	}
	return fmt.Sprintf("%.1f MiB/s", float64(bytes)/(1<<20)/d.Seconds())
}

func newDisplay(w io.Writer, mode string, verbose bool, interval time.Duration, now func() time.Time) display {
	if now == nil {
		now = time.Now
	}
	switch mode {
	case "bar":
		return newBarDisplay(w, verbose, 100*time.Millisecond)
	case "lines":
		return newLineDisplay(w, verbose, interval, now)
	}
	return &quietDisplay{w: w, verbose: verbose}
}

// tally is what every display counts, under its mutex.
type tally struct {
	files                 int   // planned
	total                 int64 // planned bytes still to send; -1 unknown
	began                 bool
	sent                  int64
	ended                 int
	ok, failed, interrupt int
}

func (t *tally) begin(files int, bytes int64) {
	t.files, t.total, t.began = files, bytes, true
}

// end counts a file's end; for a success, the bytes it did not send leave the
// total, so the total is what is really sent. accounted are the file's bytes
// sent or already taken off the total (reused parts).
func (t *tally) end(status string, size, accounted int64) {
	t.ended++
	switch {
	case succeeded(status):
		t.ok++
		if t.total >= 0 && size > accounted {
			t.total -= size - accounted
		}
	case status == progressInterrupted:
		t.interrupt++
	default:
		t.failed++
	}
}

// outcome is "done", "failed" or "interrupted".
func (t *tally) outcome() string {
	switch {
	case t.failed > 0:
		return "failed"
	case t.interrupt > 0 || t.ended < t.files:
		return "interrupted"
	}
	return "done"
}

// quietDisplay shows no progress, only verbose notices.
type quietDisplay struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	t       tally
}

func (q *quietDisplay) begin(files int, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.t.begin(files, bytes)
}

func (q *quietDisplay) track(name string, size int64) *fileProgress {
	var sent int64
	return &fileProgress{d: q, name: name, size: size, verbose: q.verbose,
		add: func(n int64) { q.mu.Lock(); sent += n; q.t.sent += n; q.mu.Unlock() },
		end: func(status string) { q.mu.Lock(); q.t.end(status, size, sent); q.mu.Unlock() }}
}

func (q *quietDisplay) logf(format string, a ...any) {
	q.mu.Lock()
	defer q.mu.Unlock()
	fmt.Fprintf(q.w, "ckanup: "+format+"\n", a...)
}
func (q *quietDisplay) pause() {}
func (q *quietDisplay) close() {}
func (q *quietDisplay) bytesSent() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.t.sent
}

// barDisplay draws one progress bar over the whole plan (bytes, percent, rate,
// ETA) followed by the files in flight, on one line: progressbar/v3 draws a
// single line (its "detail rows" are a scrolling log that Clear does not
// erase), so the files in flight are its description.
//
// The bar's maximum is the planned bytes plus one: it reaches 100% only in
// close, when every file has been sent and registered, never because the last
// byte went out before a registration failed.
type barDisplay struct {
	mu       sync.Mutex
	w        io.Writer
	verbose  bool
	throttle time.Duration
	bar      *progressbar.ProgressBar
	t        tally
	inFlight []*barFile
	closed   bool
}

type barFile struct {
	name               string
	size, sent, reused int64
}

func newBarDisplay(w io.Writer, verbose bool, throttle time.Duration) *barDisplay {
	return &barDisplay{w: w, verbose: verbose, throttle: throttle}
}

func (b *barDisplay) begin(files int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.begin(files, bytes)
	b.newBar()
}

// newBar makes the bar; called with b.mu held.
func (b *barDisplay) newBar() {
	max := int64(-1) // unknown size: a spinner with bytes and rate
	if b.t.began && b.t.total >= 0 {
		max = b.t.total + 1
	}
	b.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(b.throttle),
		progressbar.OptionSetWidth(24),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetRenderBlankState(true),
	)
	b.describe()
}

func (b *barDisplay) track(name string, size int64) *fileProgress {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		b.newBar() // begin was not called: no totals
	}
	f := &barFile{name: name, size: size}
	b.inFlight = append(b.inFlight, f)
	b.describe()
	return &fileProgress{d: b, name: name, size: size, verbose: b.verbose,
		add: func(n int64) {
			b.mu.Lock()
			defer b.mu.Unlock()
			f.sent += n
			b.t.sent += n
			if max := b.bar.GetMax64(); max > 0 && b.t.sent >= max {
				b.bar.ChangeMax64(b.t.sent + 1) // more than planned was reported
			}
			_ = b.bar.Add64(n)
			b.describe()
		},
		reuse: func(n int64) {
			b.mu.Lock()
			defer b.mu.Unlock()
			f.reused += n
			if b.t.total >= n {
				b.t.total -= n // not to be sent: the total is what this run sends
				b.bar.ChangeMax64(b.t.total + 1)
			}
			b.describe()
		},
		end: func(status string) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.t.end(status, size, f.sent+f.reused)
			for i, g := range b.inFlight {
				if g == f {
					b.inFlight = append(b.inFlight[:i], b.inFlight[i+1:]...)
					break
				}
			}
			if succeeded(status) && b.t.total >= 0 && b.bar.GetMax64() > 0 && b.t.total+1 != b.bar.GetMax64() {
				b.bar.ChangeMax64(b.t.total + 1)
			}
			b.describe()
		}}
}

// describe sets the bar's text: files ended of planned, then the files in flight.
func (b *barDisplay) describe() {
	var s strings.Builder
	if b.t.files > 0 {
		fmt.Fprintf(&s, "[%d/%d]", b.t.ended, b.t.files)
	} else {
		fmt.Fprintf(&s, "[%d]", b.t.ended)
	}
	const room = 48
	for i, f := range b.inFlight {
		item := f.name
		switch {
		case f.size >= 0 && f.sent+f.reused >= f.size:
			item += " sent" // verified and registered next
		case f.size > 0:
			item = fmt.Sprintf("%s %d%%", f.name, (f.sent+f.reused)*100/f.size)
		}
		if s.Len()+len(item)+2 > room && i > 0 {
			fmt.Fprintf(&s, " +%d", len(b.inFlight)-i)
			break
		}
		if i > 0 {
			s.WriteString(",")
		}
		s.WriteString(" " + item)
	}
	b.bar.Describe(s.String())
}

func (b *barDisplay) logf(format string, a ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil && !b.closed {
		_ = b.bar.Clear()
	}
	fmt.Fprintf(b.w, "ckanup: "+format+"\n", a...)
	if b.bar != nil && !b.closed {
		_ = b.bar.RenderBlank()
	}
}

func (b *barDisplay) pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil && !b.closed {
		_ = b.bar.Clear()
	}
}

// close leaves a last line: the full bar when every file succeeded, else
// where the run stopped, with no bar at 100%.
func (b *barDisplay) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil || b.closed {
		return
	}
	b.closed = true
	switch outcome := b.t.outcome(); {
	case outcome == "done" && b.bar.GetMax64() > 0:
		b.bar.Describe(fmt.Sprintf("done: %d files", b.t.files))
		_ = b.bar.Finish()
		fmt.Fprintln(b.w)
	default:
		_ = b.bar.Exit()
		_ = b.bar.Clear()
		sent := upload.FormatSize(b.t.sent)
		if b.t.total >= 0 {
			pct := int64(100)
			if b.t.total > 0 {
				pct = min(b.t.sent*100/b.t.total, 99)
			}
			sent = fmt.Sprintf("%s of %s sent (%d%%)", sent, upload.FormatSize(b.t.total), pct)
		} else {
			sent += " sent"
		}
		switch outcome {
		case "done":
			fmt.Fprintf(b.w, "ckanup: done: %d files, %s\n", b.t.ended, sent)
		case "failed":
			fmt.Fprintf(b.w, "ckanup: failed: %d of %d files failed; %s\n", b.t.failed, b.t.files, sent)
		default:
			fmt.Fprintf(b.w, "ckanup: interrupted: %d of %d files done; %s\n", b.t.ok, b.t.files, sent)
		}
	}
}

func (b *barDisplay) bytesSent() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.t.sent
}

// lineDisplay prints plain lines for logs (cron mail, CI): the plan once, a
// line per file at every 10% or every interval (30 s), whichever comes first,
// and a line for a file that failed or was interrupted, saying how far it got.
// Skipped files print nothing here (their result line says so).
type lineDisplay struct {
	mu       sync.Mutex
	w        io.Writer
	verbose  bool
	interval time.Duration
	now      func() time.Time
	t        tally
	active   map[*lineFile]bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

type lineFile struct {
	name      string
	size      int64
	sent      int64
	reused    int64 // parts an earlier run sent: progress, not this run's rate
	decile    int64
	started   time.Time
	lastPrint time.Time
}

func newLineDisplay(w io.Writer, verbose bool, interval time.Duration, now func() time.Time) *lineDisplay {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	l := &lineDisplay{w: w, verbose: verbose, interval: interval, now: now, active: map[*lineFile]bool{}, stop: make(chan struct{})}
	l.wg.Add(1)
	go l.tick()
	return l
}

// tick wakes up ten times per interval; the clock it reads is l.now.
func (l *lineDisplay) tick() {
	defer l.wg.Done()
	t := time.NewTicker(l.interval / 10)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.periodic()
		}
	}
}

// periodic prints the files not reported for an interval.
func (l *lineDisplay) periodic() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for f := range l.active {
		if now.Sub(f.lastPrint) >= l.interval {
			l.print(f, now)
		}
	}
}

func (l *lineDisplay) begin(files int, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.begin(files, bytes)
	if bytes >= 0 {
		fmt.Fprintf(l.w, "ckanup: %d file(s), up to %s to send\n", files, upload.FormatSize(bytes))
	} else {
		fmt.Fprintf(l.w, "ckanup: %d file(s) of unknown size\n", files)
	}
}

func (l *lineDisplay) print(f *lineFile, now time.Time) {
	f.lastPrint = now
	rate := ""
	if el := now.Sub(f.started); el > 0 && f.sent > 0 {
		rate = ", " + formatRate(f.sent, el)
	}
	if f.size < 0 {
		fmt.Fprintf(l.w, "ckanup: %s: %s sent%s\n", f.name, upload.FormatSize(f.sent), rate)
		return
	}
	done := f.sent + f.reused
	fmt.Fprintf(l.w, "ckanup: %s: %d%% (%s of %s%s)\n", f.name, percent(done, f.size), upload.FormatSize(done), upload.FormatSize(f.size), rate)
}

// percent rounds down, and is 100 only when all bytes are there.
func percent(sent, size int64) int64 {
	if size <= 0 {
		return 100
	}
	return sent * 100 / size
}

func (l *lineDisplay) track(name string, size int64) *fileProgress {
	now := l.now()
	f := &lineFile{name: name, size: size, started: now, lastPrint: now}
	l.mu.Lock()
	l.active[f] = true
	l.mu.Unlock()
	return &fileProgress{d: l, name: name, size: size, verbose: l.verbose,
		add: func(n int64) {
			l.mu.Lock()
			defer l.mu.Unlock()
			f.sent += n
			l.t.sent += n
			l.progressed(f)
		},
		reuse: func(n int64) {
			l.mu.Lock()
			defer l.mu.Unlock()
			f.reused += n
			l.progressed(f)
		},
		end: func(status string) {
			l.mu.Lock()
			defer l.mu.Unlock()
			delete(l.active, f)
			l.t.end(status, f.size, f.sent+f.reused)
			if status != progressFailed && status != progressInterrupted {
				return
			}
			how := upload.FormatSize(f.sent) + " sent"
			if done := f.sent + f.reused; f.size >= 0 {
				how = fmt.Sprintf("at %d%% (%s of %s sent)", percent(done, f.size), upload.FormatSize(done), upload.FormatSize(f.size))
			}
			fmt.Fprintf(l.w, "ckanup: %s: %s %s\n", f.name, status, how)
		}}
}

// progressed prints a line when f crosses a tenth of its size; l.mu is held.
func (l *lineDisplay) progressed(f *lineFile) {
	if f.size > 0 {
		if d := (f.sent + f.reused) * 10 / f.size; d > f.decile {
			f.decile = d
			l.print(f, l.now())
		}
	}
}

func (l *lineDisplay) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "ckanup: "+format+"\n", a...)
}

func (l *lineDisplay) pause() {}

func (l *lineDisplay) close() {
	close(l.stop)
	l.wg.Wait()
}

func (l *lineDisplay) bytesSent() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.sent
}
