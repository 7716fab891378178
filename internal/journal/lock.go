package journal

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ckanup/ckanup/internal/failure"
)

var errLocked = errors.New("locked")

// ErrBusy reports an entry another ckanup process is working on. Its kind is
// failure.Busy: a later run can succeed.
var ErrBusy error = busyError{}

type busyError struct{}

func (busyError) Error() string {
	return "another ckanup process is uploading this file to this dataset"
}
func (busyError) FailureKind() failure.Kind { return failure.Busy }

// Lock is a held entry lock.
type Lock struct{ f *os.File }

// Lock takes the entry's lock without waiting. The lock dies with the process,
// so a crash never leaves a stale lock behind.
func (s *Store) Lock(id string) (*Lock, error) {
	p := s.path(id) + ".lock"
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, errLocked) {
			if pid := strings.TrimSpace(string(b[:n])); pid != "" {
				return nil, fmt.Errorf("%w (pid %s)", ErrBusy, pid)
			}
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("journal lock: %w", err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
