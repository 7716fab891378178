package main

import (
	"strings"
	"testing"
)

// TestUploadToLegacyDataset: a dataset holding resources with the loosely typed
// values older portals store (size "None", "1234", 12.5; booleans as strings;
// a number as a name) plans, uploads and re-runs like any other.
func TestUploadToLegacyDataset(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "fresh.csv", 100)
	if r := e.upload(f, "--dataset", "legacy-dataset", "--dry-run"); r.code != 0 {
		t.Fatalf("--dry-run: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.upload(f, "--dataset", "legacy-dataset"); r.code != 0 {
		t.Fatalf("upload: exit %d\n%s", r.code, r.stderr)
	}
	r := e.upload(f, "--dataset", "legacy-dataset")
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "skipped") {
		t.Fatalf("re-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(e.ckan.Resources("legacy-dataset")); n != 8 {
		t.Errorf("%d resources, want the 7 legacy ones and fresh.csv", n)
	}
}
