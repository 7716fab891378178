package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
type Lock struct {
	f    *os.File
	path string
}

// Lock takes the entry's lock without waiting. The lock dies with the process,
// so a crash never leaves a stale lock behind; Unlock removes the lock file, so
// lock files do not pile up beside the journal.
//
// Removing a lock file is safe because a lock counts only while its file is
// still the one at the path: after taking the lock, Lock checks that the path
// names the file it locked, and starts over when the holder removed it
// meanwhile.
func (s *Store) Lock(id string) (*Lock, error) {
	p := s.path(id) + ".lock"
	for attempt := 0; ; attempt++ {
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
		if !stillAt(f, p) {
			// The previous holder removed the file between our open and our
			// lock: what we hold locks nothing any more.
			f.Close()
			if attempt < 10 {
				continue
			}
			return nil, ErrBusy
		}
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		return &Lock{f: f, path: p}, nil
	}
}

// stillAt reports whether path names the open file f.
func stillAt(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// Unlock releases the lock and removes its file.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlockAndRemove(l.f, l.path)
	l.f = nil
	return err
}

// removeIdleLocks removes the lock files no process holds, such as those
// earlier versions left behind on every unlock. A lock file that another
// process holds stays. Errors are ignored: the files are only clutter.
func (s *Store) removeIdleLocks() {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json.lock"))
	if err != nil {
		return
	}
	for _, p := range names {
		id := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".lock"), ".json")
		if l, err := s.Lock(id); err == nil {
			_ = l.Unlock()
		}
	}
}
