//go:build unix

package fifotest

import (
	"syscall"
	"testing"
)

// Make makes a named pipe at path (mode 0600), failing t when it cannot. It
// returns true: this system has named pipes.
func Make(t testing.TB, path string) bool {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return true
}
