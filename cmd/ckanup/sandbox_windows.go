//go:build windows

package main

import "syscall"

// detachedProcess starts a background sandbox in a process group of its own,
// so that Ctrl-C in the console does not stop it.
func detachedProcess() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
