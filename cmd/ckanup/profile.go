package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// The Go runtime samples one allocation per 512 KiB for heap profiles unless
// told otherwise, and keeps a table for the samples' stacks: about 0.7 MiB of
// resident memory in a run of 10,000 files (peak RSS 39.0 → 38.3 MiB in one
// pair of runs). ckanup samples nothing unless --memprofile asks (from then
// on: allocations made before the flag was read are not in the profile).
func init() { runtime.MemProfileRate = 0 }

// heapSampleRate is Go's default runtime.MemProfileRate, set again for
// --memprofile.
const heapSampleRate = 512 * 1024

// profileFlags are the hidden --cpuprofile, --memprofile and --trace flags:
// where a command's run spends its time and memory, for `go tool pprof FILE`
// and `go tool trace FILE` (see docs/performance.md).
type profileFlags struct{ cpu, mem, trace string }

// addProfileFlags adds the hidden flags to root and wraps the RunE of every
// command below it, so a profile covers the whole run and is written on every
// way out of RunE, errors and interruptions included. Call it after the
// subcommands are added.
func addProfileFlags(root *cobra.Command) {
	p := &profileFlags{}
	pf := root.PersistentFlags()
	pf.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof)")
	pf.StringVar(&p.mem, "memprofile", "", "write a heap profile of the command, taken when its live heap was largest, to this file (go tool pprof)")
	pf.StringVar(&p.trace, "trace", "", "write an execution trace of the command to this file (go tool trace)")
	_ = pf.MarkHidden("cpuprofile")
	_ = pf.MarkHidden("memprofile")
	_ = pf.MarkHidden("trace")
	var wrap func(*cobra.Command)
	wrap = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) (err error) {
				stop, err := p.start()
				if err != nil {
					return err
				}
				defer func() { err = errors.Join(err, stop()) }()
				return run(cmd, args)
			}
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
}

// start begins the requested profiles; stop ends them and closes their files.
func (p *profileFlags) start() (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	if p.cpu != "" {
		f, err := os.Create(p.cpu)
		if err != nil {
			return nil, usageErrorf("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		stops = append(stops, func() error {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			return nil
		})
	}
	if p.mem != "" {
		f, err := os.Create(p.mem)
		if err != nil {
			return nil, errors.Join(usageErrorf("--memprofile: %v", err), stop())
		}
		runtime.MemProfileRate = heapSampleRate
		hp := startHeapPeak(100 * time.Millisecond)
		stops = append(stops, func() error {
			_, err := f.Write(hp.stop())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("--memprofile: %w", err)
			}
			return nil
		})
	}
	if p.trace != "" {
		f, err := os.Create(p.trace)
		if err != nil {
			return nil, errors.Join(usageErrorf("--trace: %v", err), stop())
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return nil, errors.Join(fmt.Errorf("--trace: %w", err), stop())
		}
		stops = append(stops, func() error {
			trace.Stop()
			if err := f.Close(); err != nil {
				return fmt.Errorf("--trace: %w", err)
			}
			return nil
		})
	}
	return stop, nil
}

// heapPeak keeps the heap profile of the moment the live heap was largest:
// every interval it reads the live heap (runtime/metrics /gc/heap/live:bytes,
// as of the last garbage collection, the same moment a heap profile
// describes) and, when that is a new high, takes a heap profile. Its
// alloc_space and alloc_objects views count the whole run up to that moment.
type heapPeak struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	max  uint64
	prof []byte
}

func startHeapPeak(interval time.Duration) *heapPeak {
	h := &heapPeak{done: make(chan struct{})}
	h.sample()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				h.sample()
			}
		}
	}()
	return h
}

// sample takes a profile when the live heap is at a new high.
func (h *heapPeak) sample() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	var live uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = s[0].Value.Uint64()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.prof != nil && live <= h.max {
		return
	}
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		return
	}
	h.max, h.prof = live, buf.Bytes()
}

// stop ends the sampling and returns the profile of the peak.
func (h *heapPeak) stop() []byte {
	close(h.done)
	h.wg.Wait()
	h.sample()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.prof
}
