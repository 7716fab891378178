// Command ckanup uploads files to the S3 storage of a CKAN portal and registers
// them as resources of a dataset.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Set by the release build (-ldflags "-X main.version=… -X main.commit=… -X main.date=…").
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		msg := "ckanup: interrupted; cleaning up (press Ctrl-C again to stop at once)"
		if DefaultDeps().IsTerminal(os.Stderr) {
			msg = "\n" + msg // past the ^C the terminal echoed
		}
		fmt.Fprintln(os.Stderr, msg)
		cancel()
		<-sigs
		runForcedExitCleanups()
		os.Exit(exitInterrupted)
	}()
	code := Execute(ctx, os.Args[1:], DefaultDeps())
	cancel()
	os.Exit(code)
}

// forcedExit holds what must still be done when a second Ctrl-C or SIGTERM
// ends ckanup at once, skipping deferred calls: removing what must not outlive
// the process (a sandbox's temporary directory). Each function must be quick.
var forcedExit struct {
	sync.Mutex
	next int
	fns  map[int]func()
}

// onForcedExit registers f to run if ckanup is ended at once by a second
// signal, and returns the function that unregisters it.
func onForcedExit(f func()) (unregister func()) {
	forcedExit.Lock()
	defer forcedExit.Unlock()
	if forcedExit.fns == nil {
		forcedExit.fns = map[int]func(){}
	}
	id := forcedExit.next
	forcedExit.next++
	forcedExit.fns[id] = f
	return func() {
		forcedExit.Lock()
		defer forcedExit.Unlock()
		delete(forcedExit.fns, id)
	}
}

// runForcedExitCleanups runs the registered functions, in no fixed order.
func runForcedExitCleanups() {
	forcedExit.Lock()
	defer forcedExit.Unlock()
	for _, f := range forcedExit.fns {
		f()
	}
}
