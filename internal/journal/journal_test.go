package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/failure"
)

func sample() *Entry {
	return &Entry{Site: "https://data.example.org", DatasetID: "d1", DatasetName: "ds", ResourceID: "r1", ResourceName: "big.csv",
		Bucket: "b", Key: "o/d1/r1/big.csv", UploadID: "u-1", PartSize: 5 << 20,
		File:    FileState{Path: "/data/big.csv", Size: 12 << 20, MTime: 42, Fingerprint: "ab"},
		Parts:   []Part{{Number: 2, Size: 5 << 20, ETag: `"e2"`, CRC32C: "c2=="}, {Number: 1, Size: 5 << 20, ETag: `"e1"`, CRC32C: "c1=="}},
		Started: time.Unix(1, 0).UTC(), Updated: time.Unix(2, 0).UTC(), Args: []string{"upload", "big.csv", "--dataset", "ds"}}
}

func TestSaveLoadDelete(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := ID("https://data.example.org", "d1", "/data/big.csv")
	if e, err := st.Load(id); e != nil || err != nil {
		t.Fatalf("empty journal: %v %v", e, err)
	}
	if err := st.Save(id, sample()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(st.path(id))
	di, _ := os.Stat(st.dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes %v %v", fi.Mode().Perm(), di.Mode().Perm())
	}
	e, err := st.Load(id)
	if err != nil || e.UploadID != "u-1" || e.Parts[0].Number != 1 || e.BytesDone() != 10<<20 {
		t.Fatalf("loaded %+v %v", e, err)
	}
	ls, err := st.List()
	if err != nil || len(ls) != 1 || ls[0].ID != id || ls[0].Err != nil {
		t.Fatalf("list %+v %v", ls, err)
	}
	if err := st.Delete(id); err != nil {
		t.Fatal(err)
	}
	if e, _ := st.Load(id); e != nil {
		t.Fatal("entry survived Delete")
	}
}

// A journal cut at any byte — a torn write by something other than ckanup, a
// full disk — is reported as corrupt and set aside, never a crash.
func TestTruncatedAtEveryOffset(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save("x", sample()); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(st.path("x"))
	for n := 0; n < len(full); n++ {
		if err := os.WriteFile(st.path("x"), full[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := st.Load("x")
		if e != nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "kept a copy in") {
			t.Fatalf("cut at %d: entry %v, err %v", n, e, err)
		}
		if _, err := os.Stat(st.path("x")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("cut at %d: the corrupt entry was not set aside", n)
		}
	}
	aside, _ := filepath.Glob(st.path("x") + ".corrupt-*")
	if len(aside) == 0 {
		t.Error("no copy kept aside")
	}
}

func FuzzParse(f *testing.F) {
	st, _ := Open(f.TempDir())
	st.Save("x", sample())
	b, _ := os.ReadFile(st.path("x"))
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"parts":[{"n":-1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err == nil && (e.Bucket == "" || e.UploadID == "" || e.PartSize <= 0) {
			t.Fatalf("accepted an invalid entry: %+v", e)
		}
	})
}

func TestLockIsExclusive(t *testing.T) {
	st, _ := Open(t.TempDir())
	l, err := st.Lock("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lock("x"); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "pid") || failure.KindOf(err) != failure.Busy {
		t.Fatalf("second lock: %v (kind %v)", err, failure.KindOf(err))
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := st.Lock("x")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

func TestFileStateChanged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte(strings.Repeat("a", 3<<20)), 0o600)
	s1, err := StateOf(p)
	if err != nil {
		t.Fatal(err)
	}
	if why := s1.Changed(s1); why != "" {
		t.Fatalf("unchanged file: %s", why)
	}
	// Same size and mtime, different last MiB: the fingerprint notices.
	fi, _ := os.Stat(p)
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte("b"), 3<<20-10)
	f.Close()
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	s2, _ := StateOf(p)
	if why := s1.Changed(s2); why != "its content changed" {
		t.Errorf("edited tail: %q", why)
	}
	os.WriteFile(p, []byte("short"), 0o600)
	s3, _ := StateOf(p)
	if why := s1.Changed(s3); !strings.Contains(why, "size") {
		t.Errorf("truncated: %q", why)
	}
}
