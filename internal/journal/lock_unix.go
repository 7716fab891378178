//go:build unix

package journal

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

// unlockAndRemove removes the lock file while still holding the lock, then
// releases it: a process that opened the file before the removal finds, once
// it gets the lock, that the path no longer names its file (see Lock).
func unlockAndRemove(f *os.File, path string) error {
	rerr := os.Remove(path)
	cerr := f.Close()
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return fmt.Errorf("journal lock: %w", rerr)
	}
	return cerr
}
