package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ckanup/ckanup/internal/fileset"
)

// Awkward file names become safe, correctly encoded keys and URLs that fetch
// the object, and readable resource names.
func TestHostileFileNames(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	dir := t.TempDir()
	names := []string{
		"with space.csv", "ünïcödé ☃.csv", "100%.csv", "a+b.csv", "what?.csv", "#hash.csv",
		"new\nline.csv", "tab\there.csv", "quote'\"s.csv", strings.Repeat("long", 60) + ".csv",
	}
	var files []string
	for _, n := range names {
		files = append(files, makeFile(t, dir, n, int64(len(n))))
	}
	r := e.upload(append(files, "--dataset", "acceptance-dataset", "--output", "json")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, rec := range records(t, r.stdout) {
		base := filepath.Base(rec.File)
		name := fileset.ResourceName(base)
		res := e.checkRegistered("acceptance-dataset", name, rec.File) // fetches the URL too
		if strings.ContainsAny(name, "\n\t") || strings.ContainsAny(rec.Key, "\n\t") {
			t.Errorf("control characters kept: name %q key %q", name, rec.Key)
		}
		u, err := url.Parse(res["url"].(string))
		if err != nil || strings.ContainsAny(u.RawPath+u.EscapedPath(), " #?+") {
			t.Errorf("URL %q is not safely encoded", res["url"])
		}
	}
	// "../" in a name cannot climb out of the resource's prefix.
	f := files[0]
	r = e.upload(f, "--dataset", "acceptance-dataset", "--name", "../../../etc/passwd", "--output", "json")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || !strings.HasSuffix(recs[0].Key, recs[0].ResourceID+"/etc/passwd") {
		t.Errorf("exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	// A key over S3's 1,024 bytes is refused before anything is sent.
	deep := filepath.Join(dir, "deep")
	p := deep
	for range 6 {
		p = filepath.Join(p, strings.Repeat("d", 200))
	}
	makeFile(t, p, "x.csv", 1)
	if r := e.upload(deep, "-r", "--dataset", "acceptance-dataset"); r.code != exitUsage || !strings.Contains(r.stderr, "over S3's 1,024") {
		t.Errorf("deep key: exit %d\n%s", r.code, r.stderr)
	}
}

func TestSymlinksAndDevices(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	dir := t.TempDir()
	target := makeFile(t, t.TempDir(), "real.csv", 50)
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	os.Symlink(filepath.Dir(target), filepath.Join(dir, "linked-dir"))
	r := e.upload(dir, "-r", "--dataset", "acceptance-dataset", "--output", "json")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || filepath.Base(recs[0].File) != "link.csv" {
		t.Fatalf("symlinks: exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "link.csv", target)
	if r := e.upload("/dev/null", "--dataset", "acceptance-dataset"); r.code != exitUsage || !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("/dev/null: exit %d\n%s", r.code, r.stderr)
	}
}

// Files above 48.8 GiB get larger parts and stay under 10,000 (planned with a
// sparse file, not transferred).
func TestPlanHugeSparseFile(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	p := filepath.Join(t.TempDir(), "huge.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(60 << 30); err != nil {
		t.Skip(err)
	}
	f.Close()
	r := e.upload(p, "--dataset", "acceptance-dataset", "--dry-run", "--output", "json")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || recs[0].Parts > 10000 || recs[0].PartSize != 7<<20 || recs[0].Status != "planned" {
		t.Fatalf("exit %d %+v\n%s", r.code, recs, r.stderr)
	}
}

func TestUploadFromStdin(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	src := makeFile(t, t.TempDir(), "stream.csv", 12<<20+5)
	data, _ := os.ReadFile(src)
	if r := e.run(context.Background(), string(data), "upload", "-", "--dataset", "acceptance-dataset"); r.code != exitUsage || !strings.Contains(r.stderr, "needs --name") {
		t.Errorf("stdin without --name: exit %d\n%s", r.code, r.stderr)
	}
	r := e.run(context.Background(), string(data), "upload", "-", "--name", "stream.csv", "--dataset", "acceptance-dataset", "--output", "json", "--progress")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || recs[0].Size != int64(len(data)) || recs[0].Parts != 3 {
		t.Fatalf("exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	res := e.checkRegistered("acceptance-dataset", "stream.csv", src)
	if res["format"] != "CSV" {
		t.Errorf("format %v", res["format"])
	}
	if r := e.run(context.Background(), "x", "upload", "-", src, "--name", "n", "--dataset", "acceptance-dataset"); r.code != exitUsage {
		t.Errorf("stdin with files: exit %d", r.code)
	}
}

// A file appended to while it is being uploaded: failure, nothing registered,
// the upload aborted (its parts are of no use).
func TestFileGrowsDuringUpload(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "growing.log", 16<<20)
	var once sync.Once
	e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Has("partNumber") {
			once.Do(func() {
				fh, _ := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
				fh.Write([]byte("one more line\n"))
				fh.Close()
			})
		}
		return false
	}
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != exitFailure || !strings.Contains(r.stderr, "changed while it was being uploaded") || !strings.Contains(r.stderr, "nothing was registered") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if len(e.ckan.Resources("acceptance-dataset")) != 0 || e.openUploads() != 0 {
		t.Errorf("resources %d, open uploads %d", len(e.ckan.Resources("acceptance-dataset")), e.openUploads())
	}
}
