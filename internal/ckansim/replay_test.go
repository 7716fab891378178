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

// fixturesDir finds shared/ckan-fixtures beside the repository (CI lays shared/
// next to the clone), or CKAN_FIXTURES.
func fixturesDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("CKAN_FIXTURES"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, c := range []string{filepath.Join(root, "..", "shared", "ckan-fixtures"), filepath.Join(root, "shared", "ckan-fixtures")} {
		if _, err := os.Stat(filepath.Join(c, "replay.py")); err == nil {
			return c
		}
	}
	if os.Getenv("CKANUP_IT_REQUIRE") == "1" {
		t.Fatal("shared/ckan-fixtures not found beside the repository (set CKAN_FIXTURES)")
	}
	t.Skip("shared/ckan-fixtures not found (set CKAN_FIXTURES)")
	return ""
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
	hs := httptest.NewServer(s)
	defer hs.Close()
	s.SiteURL = hs.URL
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
