// Command ckanup uploads files to the S3 storage of a CKAN portal and registers
// them as resources of a dataset.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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
		fmt.Fprintln(os.Stderr, "\nckanup: interrupted; cleaning up (press Ctrl-C again to stop at once)")
		cancel()
		<-sigs
		os.Exit(exitInterrupted)
	}()
	code := Execute(ctx, os.Args[1:], DefaultDeps())
	cancel()
	os.Exit(code)
}
