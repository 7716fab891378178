package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestReferenceDocsUpToDate regenerates the markdown reference from the
// command tree and compares it with docs/reference/, file by file.
func TestReferenceDocsUpToDate(t *testing.T) {
	committed := filepath.Join("..", "..", "docs", "reference")
	fresh := t.TempDir()
	if err := genMarkdown(docsRoot(), fresh); err != nil {
		t.Fatal(err)
	}
	want := readDir(t, fresh)
	got := readDir(t, committed)
	var stale []string
	for name, body := range want {
		old, ok := got[name]
		switch {
		case !ok:
			stale = append(stale, name+" is missing")
		case old != body:
			stale = append(stale, name+" differs")
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && strings.HasPrefix(name, "ckanup") {
			stale = append(stale, name+" names no command")
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		t.Errorf("docs/reference/ is out of date with the commands' help:\n  %s\nregenerate it from the repository's root with:\n  %s",
			strings.Join(stale, "\n  "), regenerateReference)
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// TestGenDocsManAndCompletions runs the hidden command as the release build
// does and reads what it wrote.
func TestGenDocsManAndCompletions(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	deps := DefaultDeps()
	deps.Stdout, deps.Stderr = &out, &errb
	deps.Getenv = func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return "1785312000" // 2026-07-29
		}
		return ""
	}
	deps.Now = func() time.Time { t.Error("the date must come from SOURCE_DATE_EPOCH"); return time.Time{} }
	man, comp := filepath.Join(dir, "man"), filepath.Join(dir, "completions")
	if code := Execute(t.Context(), []string{"gen-docs", "--man", man, "--completions", comp}, deps); code != exitOK {
		t.Fatalf("gen-docs: exit %d: %s", code, errb.String())
	}
	// --date, as .goreleaser.yaml passes it, wins over SOURCE_DATE_EPOCH.
	dated := filepath.Join(dir, "dated")
	if code := Execute(t.Context(), []string{"gen-docs", "--man", dated, "--date", "1764374400"}, deps); code != exitOK { // 2025-11-29
		t.Fatalf("gen-docs --date: exit %d: %s", code, errb.String())
	}
	if page := gunzip(t, filepath.Join(dated, "ckanup.1.gz")); !strings.Contains(page, `.TH "CKANUP" "1" "Nov 2025"`) {
		t.Errorf("ckanup.1 with --date 1764374400 is not dated Nov 2025:\n%.200s", page)
	}

	page := gunzip(t, filepath.Join(man, "ckanup-upload.1.gz"))
	for _, want := range []string{`.TH "CKANUP" "1" "Jul 2026"`, "--dataset", "<organization id>/<dataset id>/<resource id>/<file name>"} {
		if !strings.Contains(page, want) {
			t.Errorf("ckanup-upload.1 lacks %q", want)
		}
	}
	for _, name := range []string{"ckanup.1.gz", "ckanup-uploads-list.1.gz", "ckanup-version.1.gz"} {
		if _, err := os.Stat(filepath.Join(man, name)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(man, "ckanup-gen-docs.1.gz")); err == nil {
		t.Error("the hidden gen-docs command got a man page")
	}

	for name, want := range map[string]string{
		"ckanup.bash": "__start_ckanup",
		"_ckanup":     "#compdef ckanup",
		"ckanup.fish": "complete -c ckanup",
		"ckanup.ps1":  "Register-ArgumentCompleter",
	} {
		b, err := os.ReadFile(filepath.Join(comp, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", name, want)
		}
	}
}

func TestGenDocsUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"gen-docs"},
		{"gen-docs", "--man", t.TempDir(), "--date", "yesterday"},
	} {
		var out, errb bytes.Buffer
		deps := DefaultDeps()
		deps.Stdout, deps.Stderr = &out, &errb
		if code := Execute(t.Context(), args, deps); code != exitUsage {
			t.Errorf("ckanup %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
