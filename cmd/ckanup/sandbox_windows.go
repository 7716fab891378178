//go:build windows

package main

import (
	"os"
	"syscall"
)

// detachedProcess starts a background sandbox in a process group of its own,
// so that Ctrl-C in the console does not stop it.
func detachedProcess() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// terminateProcess stops p. Windows has no signal a process can answer here,
// so p ends at once and cannot remove its directory.
func terminateProcess(p *os.Process) error { return p.Kill() }
