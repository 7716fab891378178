//go:build unix

package main

import (
	"os"
	"syscall"
)

// detachedProcess puts a background sandbox in a process group of its own, so
// that Ctrl-C meant for a later command in the same terminal does not stop it.
func detachedProcess() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// terminateProcess asks p to stop with SIGTERM, which a sandbox answers by
// removing its directory.
func terminateProcess(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
