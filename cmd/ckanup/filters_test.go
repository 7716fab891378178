package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example: a directory with version-control and editor droppings
// plans only the data file, and --dry-run -v says what it left out and why.
func TestUploadLeavesOutHiddenAndDroppings(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	d := filepath.Join(t.TempDir(), "d")
	for _, n := range []string{".git/config", ".DS_Store", "x.csv.swp", "x.csv"} {
		makeFile(t, d, n, 10)
	}
	r := e.upload(d, "-r", "-d", "acceptance-dataset", "--dry-run", "-v", "--output", "json")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || recs[0].File != filepath.Join(d, "x.csv") {
		t.Fatalf("exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	for _, want := range []string{
		"excluded " + filepath.Join(d, ".git") + ": hidden",
		"excluded " + filepath.Join(d, ".DS_Store") + ": hidden",
		"excluded " + filepath.Join(d, "x.csv.swp") + ": a usual editor or system file (*.swp)",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// Without -v a dry run gives the count; --include-hidden takes all four.
	r = e.upload(d, "-r", "-d", "acceptance-dataset", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stderr, "3 file(s) or directories left out") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	r = e.upload(d, "-r", "-d", "acceptance-dataset", "--dry-run", "--include-hidden", "--output", "json")
	if recs := records(t, r.stdout); r.code != 0 || len(recs) != 4 {
		t.Errorf("--include-hidden: exit %d, %d planned\n%s", r.code, len(recs), r.stderr)
	}
}

// --exclude and --include keep their command-line order; .ckanupignore and
// --exclude-from apply; the upload itself sends only what was selected.
func TestUploadFilterFlags(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	d := filepath.Join(t.TempDir(), "d")
	for _, n := range []string{"a.csv", "old-b.csv", "c.json", "tmp/d.csv", "sub/e.log", "sub/f.csv"} {
		makeFile(t, d, n, 10)
	}
	if err := os.WriteFile(filepath.Join(d, "sub", ".ckanupignore"), []byte("*.log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(rules, []byte("# no scratch space\ntmp/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.upload(d, "-r", "-d", "acceptance-dataset", "--output", "json",
		"--include", "*.csv", "--exclude", "old-*", "--exclude-from", rules)
	var got []string
	for _, rec := range records(t, r.stdout) {
		got = append(got, rec.File)
	}
	want := []string{filepath.Join(d, "a.csv"), filepath.Join(d, "sub", "f.csv")}
	if r.code != 0 || len(got) != 2 || !(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
		t.Fatalf("exit %d, uploaded %q, want %q\n%s", r.code, got, want, r.stderr)
	}
	if n := len(e.ckan.Resources("acceptance-dataset")); n != 2 {
		t.Errorf("%d resources registered", n)
	}
	if r := e.upload(d, "-r", "-d", "acceptance-dataset", "--exclude", "[x-"); r.code != exitUsage || !strings.Contains(r.stderr, "not a valid pattern") {
		t.Errorf("bad pattern: exit %d\n%s", r.code, r.stderr)
	}
}
