package journal

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func lockFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "uploads", "*.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUnlockLeavesNoLockFile(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		l, err := st.Lock(id)
		if err != nil {
			t.Fatal(err)
		}
		if got := lockFiles(t, dir); len(got) != 1 {
			t.Fatalf("while %s is locked: %v", id, got)
		}
		if err := l.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	if got := lockFiles(t, dir); len(got) != 0 {
		t.Errorf("lock files left after unlock: %v", got)
	}
}

// A process that opened the lock file just before its holder removed it must
// not count its lock on the removed file as holding the entry.
func TestLockOnRemovedFileDoesNotCount(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Lock("x")
	if err != nil {
		t.Fatal(err)
	}
	p := st.path("x") + ".lock"
	early, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := lockFile(early); err != nil {
		t.Fatalf("lock the removed file: %v", err)
	}
	if stillAt(early, p) {
		t.Fatal("stillAt says a removed file is still at its path")
	}
	// The entry is free: a new Lock takes a new file.
	l2, err := st.Lock("x")
	if err != nil {
		t.Fatalf("lock after the early opener: %v", err)
	}
	if !stillAt(l2.f, p) {
		t.Error("the new lock is not on the file at the path")
	}
	l2.Unlock()
}

// Many lockers at once: never two holders, and no lock file at the end.
func TestLockMutualExclusionUnderChurn(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var holders, maxHolders, taken atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				l, err := st.Lock("x")
				if errors.Is(err, ErrBusy) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				n := holders.Add(1)
				for {
					m := maxHolders.Load()
					if n <= m || maxHolders.CompareAndSwap(m, n) {
						break
					}
				}
				taken.Add(1)
				runtime.Gosched()
				holders.Add(-1)
				if err := l.Unlock(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if maxHolders.Load() != 1 || taken.Load() == 0 {
		t.Errorf("at most %d holders at once (want 1), %d locks taken", maxHolders.Load(), taken.Load())
	}
	if got := lockFiles(t, dir); len(got) != 0 {
		t.Errorf("lock files left: %v", got)
	}
}

// Open clears lock files left by earlier versions, but not one that a process
// holds.
func TestOpenRemovesIdleLockFiles(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	held, err := st.Lock("held")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	for _, id := range []string{"old1", "old2"} {
		if err := os.WriteFile(st.path(id)+".lock", []byte("123\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	got := lockFiles(t, dir)
	if len(got) != 1 || filepath.Base(got[0]) != "held.json.lock" {
		t.Errorf("lock files after Open: %v (want only the held one)", got)
	}
	if _, err := st.Lock("held"); !errors.Is(err, ErrBusy) {
		t.Errorf("the held lock was lost: %v", err)
	}
}
