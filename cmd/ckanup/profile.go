package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"

	"github.com/spf13/cobra"
)

// profileFlags are the hidden --cpuprofile and --trace flags: where a command's
// run spends its time, for `go tool pprof FILE` and `go tool trace FILE` (see
// docs/performance.md).
type profileFlags struct{ cpu, trace string }

// addProfileFlags adds the hidden flags to root and wraps the RunE of every
// command below it, so a profile covers the whole run and is written on every
// way out of RunE, errors and interruptions included. Call it after the
// subcommands are added.
func addProfileFlags(root *cobra.Command) {
	p := &profileFlags{}
	pf := root.PersistentFlags()
	pf.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof)")
	pf.StringVar(&p.trace, "trace", "", "write an execution trace of the command to this file (go tool trace)")
	_ = pf.MarkHidden("cpuprofile")
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
