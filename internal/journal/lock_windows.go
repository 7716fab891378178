//go:build windows

package journal

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

func lockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

// unlockAndRemove releases the lock, then removes the lock file unless another
// process has it open (Windows refuses to delete a file open without
// FILE_SHARE_DELETE, which Go does not ask for), in which case that process
// owns it now.
func unlockAndRemove(f *os.File, path string) error {
	err := f.Close()
	_ = os.Remove(path)
	return err
}
