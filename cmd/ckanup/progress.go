package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ckanup/ckanup/internal/upload"
	"github.com/schollz/progressbar/v3"
)

// display shows progress and status on stderr. Results go to stdout elsewhere.
type display interface {
	// track starts following one file; done must be called when it ends.
	track(name string, size int64) *fileProgress
	// logf prints a status line without breaking a progress bar.
	logf(format string, a ...any)
	// pause clears the bar before something else writes to the terminal.
	pause()
	close()
}

// fileProgress is the upload.Observer of one file.
type fileProgress struct {
	d       display
	name    string
	size    int64
	verbose bool
	add     func(int64)
	done    func()
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

func (p *fileProgress) Transferred(n int64) { p.add(n) }

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

func newDisplay(w io.Writer, mode string, verbose bool, interval time.Duration) display {
	switch mode {
	case "bar":
		return &barDisplay{w: w, verbose: verbose}
	case "lines":
		return newLineDisplay(w, verbose, interval)
	}
	return &quietDisplay{w: w, verbose: verbose}
}

// quietDisplay shows no progress, only verbose notices.
type quietDisplay struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
}

func (q *quietDisplay) track(name string, size int64) *fileProgress {
	return &fileProgress{d: q, name: name, size: size, verbose: q.verbose, add: func(int64) {}, done: func() {}}
}

func (q *quietDisplay) logf(format string, a ...any) {
	q.mu.Lock()
	defer q.mu.Unlock()
	fmt.Fprintf(q.w, "ckanup: "+format+"\n", a...)
}
func (q *quietDisplay) pause() {}
func (q *quietDisplay) close() {}

// barDisplay draws one progress bar over all files (bytes, rate, ETA).
type barDisplay struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	bar     *progressbar.ProgressBar
	total   int64
	files   int
	ended   int
	current string
}

func (b *barDisplay) track(name string, size int64) *fileProgress {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files++
	b.total += max(size, 0)
	if b.bar == nil {
		max := b.total
		if size < 0 {
			max = -1 // unknown size: a spinner with bytes and rate
		}
		b.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionSetRenderBlankState(true),
		)
	} else {
		b.bar.ChangeMax64(b.total)
	}
	b.current = name
	b.describe()
	return &fileProgress{d: b, name: name, size: size, verbose: b.verbose,
		add: func(n int64) { b.mu.Lock(); _ = b.bar.Add64(n); b.mu.Unlock() },
		done: func() {
			b.mu.Lock()
			b.ended++
			b.describe()
			b.mu.Unlock()
		}}
}

func (b *barDisplay) describe() {
	if b.files > 1 {
		b.bar.Describe(fmt.Sprintf("[%d/%d] %s", b.ended, b.files, b.current))
	} else {
		b.bar.Describe(b.current)
	}
}

func (b *barDisplay) logf(format string, a ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Clear()
	}
	fmt.Fprintf(b.w, "ckanup: "+format+"\n", a...)
	if b.bar != nil {
		_ = b.bar.RenderBlank()
	}
}

func (b *barDisplay) pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Clear()
	}
}

func (b *barDisplay) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.current = "done"
		b.describe()
		_ = b.bar.Finish()
		fmt.Fprintln(b.w)
	}
}

// lineDisplay prints a plain line per file at every 10% or every interval
// (30 s), whichever comes first: readable in cron mail and CI logs.
type lineDisplay struct {
	mu       sync.Mutex
	w        io.Writer
	verbose  bool
	interval time.Duration
	active   map[*lineFile]bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

type lineFile struct {
	name      string
	size      int64
	done      int64
	decile    int64
	started   time.Time
	lastPrint time.Time
}

func newLineDisplay(w io.Writer, verbose bool, interval time.Duration) *lineDisplay {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	l := &lineDisplay{w: w, verbose: verbose, interval: interval, active: map[*lineFile]bool{}, stop: make(chan struct{})}
	l.wg.Add(1)
	go l.tick()
	return l
}

func (l *lineDisplay) tick() {
	defer l.wg.Done()
	t := time.NewTicker(l.interval / 10)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			l.mu.Lock()
			for f := range l.active {
				if now.Sub(f.lastPrint) >= l.interval {
					l.print(f, now)
				}
			}
			l.mu.Unlock()
		}
	}
}

func (l *lineDisplay) print(f *lineFile, now time.Time) {
	f.lastPrint = now
	rate := ""
	if el := now.Sub(f.started).Seconds(); el > 0 && f.done > 0 {
		rate = fmt.Sprintf(", %s/s", upload.FormatSize(int64(float64(f.done)/el)))
	}
	if f.size < 0 {
		fmt.Fprintf(l.w, "ckanup: %s: %s sent%s\n", f.name, upload.FormatSize(f.done), rate)
		return
	}
	pct := int64(100)
	if f.size > 0 {
		pct = f.done * 100 / f.size
	}
	fmt.Fprintf(l.w, "ckanup: %s: %d%% (%s of %s%s)\n", f.name, pct, upload.FormatSize(f.done), upload.FormatSize(f.size), rate)
}

func (l *lineDisplay) track(name string, size int64) *fileProgress {
	now := time.Now()
	f := &lineFile{name: name, size: size, started: now, lastPrint: now}
	l.mu.Lock()
	l.active[f] = true
	l.mu.Unlock()
	return &fileProgress{d: l, name: name, size: size, verbose: l.verbose,
		add: func(n int64) {
			l.mu.Lock()
			defer l.mu.Unlock()
			f.done += n
			if f.size > 0 {
				if d := f.done * 10 / f.size; d > f.decile {
					f.decile = d
					l.print(f, time.Now())
				}
			}
		},
		done: func() {
			l.mu.Lock()
			delete(l.active, f)
			l.mu.Unlock()
		}}
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
