package ckansim

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fixturesDir is the repository's copy of the recorded real-CKAN exchanges and
// their replay checker (testdata/ckan-fixtures).
func fixturesDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "ckan-fixtures")
	if _, err := os.Stat(filepath.Join(dir, "replay.py")); err != nil {
		t.Fatalf("replay.py missing from the repository: %v", err)
	}
	return dir
}

// TestReplayRecordedCKAN runs the fixtures' replay.py against this server: every
// recorded exchange of the real CKAN 2.10 must be answered alike.
func TestReplayRecordedCKAN(t *testing.T) {
	dir := fixturesDir(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	s := New()
	w := Seed(s)
	// SiteURL is set before the server starts: the race detector cannot see
	// that replay.py's requests come after it.
	hs := httptest.NewUnstartedServer(s)
	s.SiteURL = "http://" + hs.Listener.Addr().String()
	hs.Start()
	defer hs.Close()
	out, err := exec.Command("python3", filepath.Join(dir, "replay.py"), hs.URL,
		"--editor", w.Editor.Token, "--member", w.Member.Token, "--sysadmin", w.Sysadmin.Token).CombinedOutput()
	t.Logf("replay.py:\n%s", out)
	if err != nil {
		t.Fatalf("replay.py failed: %v", err)
	}
	if !strings.Contains(string(out), " 0 failed") {
		t.Fatalf("replay.py reported differences")
	}
}
