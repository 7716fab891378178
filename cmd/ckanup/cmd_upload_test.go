package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/fifotest"
	"github.com/ckanup/ckanup/internal/upload"
)

// checkRegistered asserts that the dataset holds exactly one resource named
// name, and that it describes the file and points at an object equal to it.
func (e *testEnv) checkRegistered(dataset, name, path string) map[string]any {
	e.t.Helper()
	var found []map[string]any
	for _, r := range e.ckan.Resources(dataset) {
		if r["name"] == name {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("%d resources named %q, want 1", len(found), name)
	}
	r := found[0]
	fi, err := os.Stat(path)
	if err != nil {
		e.t.Fatal(err)
	}
	if r["size"] != fi.Size() {
		e.t.Errorf("size %v, want %d", r["size"], fi.Size())
	}
	if want := "sha256:" + fileSHA256(e.t, path); r["hash"] != want {
		e.t.Errorf("hash %v, want %s", r["hash"], want)
	}
	if r["s3_bucket"] != e.bucket || r["url_type"] != "" || r["last_modified"] == nil { // url_type: always sent, empty
		e.t.Errorf("resource %v", r)
	}
	key, _ := r["s3_key"].(string)
	want, _ := os.ReadFile(path)
	if got := e.object(key); !bytes.Equal(got, want) {
		e.t.Errorf("object %s differs from %s", key, path)
	}
	// The registered URL itself must fetch the object (signed, as the bucket is private).
	resp, err := e.signedGet(r["url"].(string))
	if err != nil {
		e.t.Fatalf("GET %v: %v", r["url"], err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body.Bytes(), want) {
		e.t.Errorf("GET %v: HTTP %d, %d bytes", r["url"], resp.StatusCode, body.Len())
	}
	return r
}

func TestUploadCreatesThenUpdatesWithoutDuplicates(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	dir := t.TempDir()
	big := makeFile(t, dir, "big.csv", 12<<20+7)
	small := makeFile(t, dir, "notes.json", 1234)
	empty := makeFile(t, dir, "empty.parquet", 0)

	r := e.upload(big, small, empty, "--dataset", "acceptance-dataset", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	recs := records(t, r.stdout)
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	for _, rec := range recs {
		if rec.Status != "created" || !rec.Uploaded || rec.SHA256 != fileSHA256(t, rec.File) || rec.Error != "" {
			t.Errorf("record %+v", rec)
		}
		if !strings.Contains(rec.Key, rec.ResourceID+"/") || !strings.HasPrefix(rec.URL, e.s3URL+"/ckanup-test/") {
			t.Errorf("key/url %s %s", rec.Key, rec.URL)
		}
	}
	res := e.checkRegistered("acceptance-dataset", "big.csv", big)
	if res["format"] != "CSV" || res["mimetype"] != "text/csv" {
		t.Errorf("format %v mimetype %v", res["format"], res["mimetype"])
	}
	e.checkRegistered("acceptance-dataset", "notes.json", small)
	e.checkRegistered("acceptance-dataset", "empty.parquet", empty)
	if e.counted("UploadPart") != 3 || e.counted("PutObject") != 2 || e.openUploads() != 0 {
		t.Errorf("requests %v, open uploads %d", e.counts, e.openUploads())
	}

	// The same command again, as a daily cron job would: nothing changed, so
	// nothing reaches S3 but the checks, nothing is registered, all skipped.
	e.resetCounts()
	patches := e.ckan.CountCalls("resource_patch", 0)
	r = e.upload(big, small, empty, "--dataset", "acceptance-dataset", "--output", "json")
	if r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	for _, rec := range records(t, r.stdout) {
		if rec.Status != "skipped" || rec.Uploaded || rec.SHA256 != fileSHA256(t, rec.File) {
			t.Errorf("re-run record %+v", rec)
		}
	}
	if len(e.counts) != 0 || e.ckan.CountCalls("resource_patch", 0) != patches {
		t.Errorf("an unchanged re-run sent %v to S3 and patched CKAN", e.counts)
	}

	// --force sends the files again and registers them again.
	r = e.upload(big, small, empty, "--dataset", "acceptance-dataset", "--output", "json", "--force")
	for _, rec := range records(t, r.stdout) {
		if rec.Status != "updated" || !rec.Uploaded {
			t.Errorf("forced re-run record %+v", rec)
		}
	}
	if n := e.counted("UploadPart") + e.counted("PutObject"); n != 5 || r.code != 0 {
		t.Errorf("forced re-run: exit %d, sent %d data requests, want 5 (3 parts, 2 objects)", r.code, n)
	}
	e.checkRegistered("acceptance-dataset", "big.csv", big)

	// A changed file is uploaded again into the same resource.
	makeFile(t, dir, "notes.json", 999)
	r = e.upload(small, "--dataset", "acceptance-dataset")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "updated") {
		t.Fatalf("changed file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "notes.json", small)
	// The first run and the forced run registered their three files in one
	// package_revise call each.
	if n, c := e.ckan.CountCalls("package_revise", 200), e.ckan.CountCalls("resource_create", 200); n != 2 || c != 0 || len(e.ckan.Resources("acceptance-dataset")) != 3 {
		t.Errorf("%d package_revise and %d resource_create calls, %d resources; want 2, 0, 3", n, c, len(e.ckan.Resources("acceptance-dataset")))
	}
}

func TestUploadRecursiveAndProgressLines(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	dir := t.TempDir()
	makeFile(t, dir, "a.csv", 100)
	makeFile(t, dir, "sub/b.csv", 6<<20)
	r := e.upload(dir, "--dataset", "demo-dataset")
	if r.code != 2 || !strings.Contains(r.stderr, "--recursive") {
		t.Fatalf("directory without -r: exit %d\n%s", r.code, r.stderr)
	}
	r = e.upload(dir, "-r", "--dataset", "demo-dataset", "--key-prefix", "portal/")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	res := e.checkRegistered("demo-dataset", "sub/b.csv", filepath.Join(dir, "sub", "b.csv"))
	if k := res["s3_key"].(string); !strings.HasPrefix(k, "portal/"+e.world.DemoOrg.ID+"/"+e.world.DemoDataset.ID+"/") || !strings.HasSuffix(k, "/sub/b.csv") {
		t.Errorf("key %s", k)
	}
	e.checkRegistered("demo-dataset", "a.csv", filepath.Join(dir, "a.csv"))
	if !strings.Contains(r.stderr, "sub/b.csv: 100% (6.0 MiB of 6.0 MiB") {
		t.Errorf("no plain progress lines on stderr:\n%s", r.stderr)
	}
	if strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("stdout should hold one line per file:\n%s", r.stdout)
	}
}

func TestUploadDryRunUploadsNothing(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "plan.csv", 11<<20)
	r := e.upload(f, "--dataset", "acceptance-dataset", "--dry-run", "--part-size", "8MiB")
	if r.code != 0 || !strings.Contains(r.stdout, "2 parts of 8.0 MiB") || !strings.Contains(r.stdout, "create resource") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if len(e.ckan.Resources("acceptance-dataset")) != 0 || len(e.counts) != 0 {
		t.Errorf("dry run did something: %v", e.counts)
	}
	// Standard input's size is not known beforehand.
	r = e.run(context.Background(), "a,b\n", "upload", "-", "--name", "in.csv", "--dataset", "acceptance-dataset", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "-  unknown size  streamed in parts") || strings.Contains(r.stdout, "-1 B") {
		t.Errorf("dry run of standard input: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A dry run still checks the rights.
	e.vars["CKAN_API_TOKEN"] = e.world.Member.Token
	if r := e.upload(f, "--dataset", "acceptance-dataset", "--dry-run"); r.code != exitAuth {
		t.Errorf("dry run as member: exit %d", r.code)
	}
}

func TestUploadBadInput(t *testing.T) {
	dir := t.TempDir()
	good := makeFile(t, dir, "good.csv", 10)
	fifo := filepath.Join(dir, "fifo")
	hasFIFO := fifotest.Make(t, fifo)
	unreadable := makeFile(t, dir, "secret.csv", 10)
	os.Chmod(unreadable, 0)
	cases := []struct {
		name  string
		setup func(e *testEnv)
		args  []string
		code  int
		msg   string
	}{
		{"missing file", nil, []string{filepath.Join(dir, "nope.csv"), "--dataset", "acceptance-dataset"}, exitNotFound, "no such file"},
		{"no files", nil, []string{"--dataset", "acceptance-dataset"}, exitUsage, "at least one file"},
		{"no glob match", nil, []string{filepath.Join(dir, "*.xyz"), "--dataset", "acceptance-dataset"}, exitNotFound, "no file matches"},
		{"fifo", nil, []string{fifo, "--dataset", "acceptance-dataset"}, exitUsage, "not a regular file"},
		{"no dataset flag", nil, []string{good}, exitUsage, "--dataset is required"},
		{"bad part size", nil, []string{good, "--dataset", "x", "--part-size", "1MiB"}, exitUsage, "below the S3 minimum"},
		{"bad output", nil, []string{good, "--dataset", "x", "--output", "xml"}, exitUsage, "--output"},
		{"bad concurrency", nil, []string{good, "--dataset", "x", "--concurrency", "lots"}, exitUsage, "from 1 to 64, or auto"},
		{"concurrency 0", nil, []string{good, "--dataset", "x", "--concurrency", "0"}, exitUsage, "from 1 to 64, or auto"},
		{"concurrency 65", nil, []string{good, "--dataset", "x", "--concurrency", "65"}, exitUsage, "from 1 to 64, or auto"},
		{"unknown flag", nil, []string{good, "--dataset", "x", "--frobnicate"}, exitUsage, "unknown flag"},
		{"name with several files", nil, []string{good, good + "x", "--dataset", "x", "--name", "n"}, exitNotFound, "no such file"},
		{"dataset missing", nil, []string{good, "--dataset", "no-such-dataset"}, exitNotFound, "not found"},
		{"member may not edit", func(e *testEnv) { e.vars["CKAN_API_TOKEN"] = e.world.Member.Token }, []string{good, "--dataset", "acceptance-dataset"}, exitAuth, "not an editor"},
		{"not in organization", nil, []string{good, "--dataset", "other-dataset"}, exitAuth, "not allowed to edit"},
		{"private dataset", nil, []string{good, "--dataset", "other-private"}, exitAuth, "private"},
		{"invalid token", func(e *testEnv) { e.vars["CKAN_API_TOKEN"] = "not-a-real-token" }, []string{good, "--dataset", "acceptance-dataset"}, exitAuth, "did not accept the API token"},
		{"no token", func(e *testEnv) { delete(e.vars, "CKAN_API_TOKEN") }, []string{good, "--dataset", "acceptance-dataset"}, exitAuth, "ckanup login"},
		{"malformed CKAN URL", func(e *testEnv) { e.vars["CKAN_URL"] = "data.example.org" }, []string{good, "--dataset", "acceptance-dataset"}, exitUsage, "not an http(s) URL"},
		{"no bucket", func(e *testEnv) { delete(e.vars, "CKANUP_BUCKET") }, []string{good, "--dataset", "acceptance-dataset"}, exitUsage, "--bucket"},
		{"bucket missing", nil, []string{good, "--dataset", "acceptance-dataset", "--bucket", "no-such-bucket"}, exitNotFound, "does not exist"},
		{"S3 access denied", func(e *testEnv) { e.t.Setenv("AWS_ACCESS_KEY_ID", "WRONGKEY") }, []string{good, "--dataset", "acceptance-dataset"}, exitAuth, "the AWS credentials were refused"},
		{"CKAN answers HTML", func(e *testEnv) {
			e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<html><body>Please log in</body></html>"))
				return true
			})
		}, []string{good, "--dataset", "acceptance-dataset"}, exitConfig, "HTML page instead of the action API's JSON"},
		{"CKAN answers a bare string", func(e *testEnv) {
			e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
				if action != "package_show" {
					return false
				}
				w.WriteHeader(400)
				w.Write([]byte(`"Bad request - Action name not known: package_show"`))
				return true
			})
		}, []string{good, "--dataset", "acceptance-dataset"}, exitConfig, "Action name not known"},
	}
	if os.Geteuid() != 0 { // root reads anything
		cases = append(cases, struct {
			name  string
			setup func(e *testEnv)
			args  []string
			code  int
			msg   string
		}{"unreadable", nil, []string{unreadable, "--dataset", "acceptance-dataset"}, exitAuth, "permission denied"})
	}
	for _, tc := range cases {
		if tc.name == "fifo" && !hasFIFO {
			continue // no named pipes here
		}
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, "", "", "", "ckanup-test")
			if tc.setup != nil {
				tc.setup(e)
			}
			r := e.upload(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("exit %d (want %d), stderr:\n%s\n(want it to mention %q)", r.code, tc.code, r.stderr, tc.msg)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("stderr:\n%s", r.stderr)
			}
			e.ckan.SetIntercept(nil)
			if n := len(e.ckan.Resources("acceptance-dataset")); n != 0 {
				t.Errorf("%d resources registered", n)
			}
			if e.openUploads() != 0 {
				t.Errorf("multipart uploads left open")
			}
		})
	}
}

// One file failing registration: exit 3, the other file registered, and a
// re-run registers the first without uploading it again.
func TestPartialFailureThenRerunRegisters(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	dir := t.TempDir()
	a := makeFile(t, dir, "a.csv", 6<<20)
	b := makeFile(t, dir, "b.csv", 100)
	e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		if action == "resource_create" || action == "package_revise" {
			var body bytes.Buffer
			body.ReadFrom(r.Body)
			r.Body.Close()
			if strings.Contains(body.String(), `"name":"a.csv"`) {
				w.WriteHeader(409)
				w.Write([]byte(`{"success": false, "error": {"__type": "Validation Error", "url": ["Invalid URL"]}}`))
				return true
			}
			r.Body = readCloser{bytes.NewReader(body.Bytes())}
		}
		return false
	})
	r := e.upload(a, b, "--dataset", "acceptance-dataset")
	if r.code != exitPartial {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "re-run the same command to register it without uploading again") || !strings.Contains(r.stderr, "Invalid URL") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "b.csv", b)
	e.ckan.SetIntercept(nil)
	e.resetCounts()
	r = e.upload(a, "--dataset", "acceptance-dataset", "--output", "json")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || recs[0].Status != "created" || recs[0].Uploaded {
		t.Fatalf("re-run: exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	if e.counted("UploadPart")+e.counted("PutObject") != 0 {
		t.Errorf("re-run uploaded again: %v", e.counts)
	}
	e.checkRegistered("acceptance-dataset", "a.csv", a)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func TestUploadRetriesS3Errors(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "flaky.bin", 16<<20)
	n := 0
	e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Has("partNumber") {
			n++
			if n%3 == 1 {
				io.Copy(io.Discard, r.Body)
				s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
				return true
			}
		}
		return false
	}
	r := e.upload(f, "--dataset", "acceptance-dataset", "--verbose", "--concurrency", "1")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "retry: flaky.bin: UploadPart part 1 attempt 1 failed") || !strings.Contains(r.stderr, "SlowDown") {
		t.Errorf("retries not visible with --verbose:\n%s", r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "flaky.bin", f)
}

// interruptAt runs an upload that is cancelled (as by Ctrl-C) when part 3 arrives.
func (e *testEnv) interruptAt(part string, args ...string) runResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("partNumber") == part {
			cancel()
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	defer func() { e.s3Hook = nil }()
	return e.run(ctx, "", append([]string{"upload", "--concurrency", "1"}, args...)...)
}

func TestInterruptedUploadIsKeptThenResumed(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	e.vars["XDG_STATE_HOME"] = t.TempDir()
	f := makeFile(t, t.TempDir(), "big.bin", 30<<20)
	r := e.interruptAt("3", f, "--dataset", "acceptance-dataset")
	if r.code != exitInterrupted {
		t.Fatalf("exit %d, want 130\n%s", r.code, r.stderr)
	}
	want := "run the same command again to resume it: ckanup upload --concurrency 1 " + f + " --dataset acceptance-dataset"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not give the resume command:\n%s", r.stderr)
	}
	if e.openUploads() != 1 || len(e.ckan.Resources("acceptance-dataset")) != 0 {
		t.Fatalf("open uploads %d, resources %d", e.openUploads(), len(e.ckan.Resources("acceptance-dataset")))
	}
	// The journal holds what resuming needs and no secret.
	entries, _ := filepath.Glob(filepath.Join(e.vars["XDG_STATE_HOME"], "ckanup", "uploads", "*.json"))
	if len(entries) != 1 {
		t.Fatalf("journal entries %v", entries)
	}
	j, _ := os.ReadFile(entries[0])
	if fi, _ := os.Stat(entries[0]); fi.Mode().Perm() != 0o600 || strings.Contains(string(j), e.world.Editor.Token) || strings.Contains(string(j), testSecretKey) {
		t.Errorf("journal entry (mode %v) holds a secret or is readable by others", fi.Mode().Perm())
	}
	// Part 3 may have reached S3 though its answer was cut off: the resume
	// reports what S3 holds, not what the journal recorded.
	ups, err := e.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil || len(ups.Uploads) != 1 {
		t.Fatalf("list multipart uploads: %v", err)
	}
	lp, err := e.s3.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String(e.bucket), Key: ups.Uploads[0].Key, UploadId: ups.Uploads[0].UploadId})
	if err != nil {
		t.Fatalf("list parts: %v", err)
	}
	var heldBytes int64
	for _, p := range lp.Parts {
		heldBytes += aws.ToInt64(p.Size)
	}
	held := fmt.Sprintf("(%d parts, %s already in S3)", len(lp.Parts), upload.FormatSize(heldBytes))
	sent := e.counted("UploadPart")
	e.resetCounts()
	r = e.upload(f, "--dataset", "acceptance-dataset", "--concurrency", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "resuming the interrupted upload") || !strings.Contains(r.stderr, held) {
		t.Fatalf("resume: exit %d, want %q\n%s", r.code, held, r.stderr)
	}
	// Parts 1 and 2 were acknowledged; part 3 was in flight at the interrupt.
	if got := e.counted("UploadPart"); got > 6-2 || got < 6-3 || e.counted("CreateMultipartUpload") != 0 {
		t.Errorf("resume sent %d parts (first run sent %d of 6): %v", got, sent, e.counts)
	}
	e.checkRegistered("acceptance-dataset", "big.bin", f)
	if e.openUploads() != 0 {
		t.Error("upload left open")
	}
}

func TestNoResumeAbortsOnInterrupt(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	e.vars["XDG_STATE_HOME"] = t.TempDir()
	f := makeFile(t, t.TempDir(), "big.bin", 30<<20)
	r := e.interruptAt("2", f, "--dataset", "acceptance-dataset", "--no-resume")
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "aborted") {
		t.Fatalf("exit %d, want 130 and an aborted upload\n%s", r.code, r.stderr)
	}
	if e.openUploads() != 0 || len(e.ckan.Resources("acceptance-dataset")) != 0 {
		t.Errorf("open uploads %d, resources %d", e.openUploads(), len(e.ckan.Resources("acceptance-dataset")))
	}
}

func TestUpdateByResourceID(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "v1.csv", 10)
	if r := e.upload(f, "--dataset", "acceptance-dataset", "--name", "Daily counts", "--description", "counts"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	id := e.ckan.Resources("acceptance-dataset")[0]["id"].(string)
	g := makeFile(t, t.TempDir(), "v2.csv", 20)
	if r := e.upload(g, "--dataset", "acceptance-dataset", "--resource-id", id, "--format", "text/csv-ish"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	rs := e.ckan.Resources("acceptance-dataset")
	if len(rs) != 1 || rs[0]["id"] != id || rs[0]["size"] != int64(20) || rs[0]["format"] != "text/csv-ish" || rs[0]["description"] != "counts" {
		t.Errorf("resources %v", rs)
	}
	if r := e.upload(g, "--dataset", "acceptance-dataset", "--resource-id", "00000000-0000-0000-0000-000000000000"); r.code != exitNotFound {
		t.Errorf("unknown resource id: exit %d", r.code)
	}
}

// --concurrency auto is taken from the flag, the environment and the login
// profile; the JSON summary says where the pool got to.
func TestConcurrencyAuto(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	ctx := context.Background()
	f := makeFile(t, t.TempDir(), "a.csv", 11<<20)
	summaryOf := func(r runResult) map[string]any {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		var last map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last["type"] != "summary" {
			t.Fatalf("exit %d, last line %v (%v)\n%s%s", r.code, last, err, r.stdout, r.stderr)
		}
		return last
	}
	r := e.upload(f, "-d", "acceptance-dataset", "--concurrency", "auto", "-o", "json")
	sum := summaryOf(r)
	if n, _ := sum["concurrency"].(float64); r.code != 0 || n < 1 || n > 32 || sum["created"] != 1.0 {
		t.Errorf("--concurrency auto: exit %d, summary %v; want the pool's size, 1 to 32", r.code, sum)
	}
	r = e.upload(f, "-d", "acceptance-dataset", "--concurrency", "4", "-o", "json", "--force")
	if sum := summaryOf(r); r.code != 0 || sum["concurrency"] != nil {
		t.Errorf("--concurrency 4: exit %d, summary %v; want no concurrency field", r.code, sum)
	}

	if r := e.run(ctx, "", "config", "set", "concurrency", "auto"); r.code != 0 {
		t.Fatalf("config set concurrency auto: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run(ctx, "", "config", "set", "concurrency", "many"); r.code != exitUsage || !strings.Contains(r.stderr, "1 to 64, or auto") {
		t.Errorf("config set concurrency many: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run(ctx, "", "config", "show")
	if r.code != 0 || !regexp.MustCompile(`concurrency\s+auto\s+profile default`).MatchString(r.stdout) {
		t.Errorf("config show after set auto: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = e.upload(f, "-d", "acceptance-dataset", "-o", "json", "--force")
	if sum := summaryOf(r); r.code != 0 || sum["concurrency"] == nil {
		t.Errorf("auto from the profile: exit %d, summary %v", r.code, sum)
	}
	// A flag overrides the profile's auto; the environment does too.
	r = e.upload(f, "-d", "acceptance-dataset", "-o", "json", "--force", "--concurrency", "2")
	if sum := summaryOf(r); r.code != 0 || sum["concurrency"] != nil {
		t.Errorf("--concurrency 2 over the profile's auto: exit %d, summary %v", r.code, sum)
	}
	e.vars["CKANUP_CONCURRENCY"] = "3"
	r = e.upload(f, "-d", "acceptance-dataset", "-o", "json", "--force")
	if sum := summaryOf(r); r.code != 0 || sum["concurrency"] != nil {
		t.Errorf("CKANUP_CONCURRENCY=3 over the profile's auto: exit %d, summary %v", r.code, sum)
	}
	e.vars["CKANUP_CONCURRENCY"] = "Auto"
	if r := e.run(ctx, "", "config", "set", "concurrency", "5"); r.code != 0 {
		t.Fatalf("config set concurrency 5: exit %d\n%s", r.code, r.stderr)
	}
	r = e.upload(f, "-d", "acceptance-dataset", "-o", "json", "--force")
	if sum := summaryOf(r); r.code != 0 || sum["concurrency"] == nil {
		t.Errorf("CKANUP_CONCURRENCY=Auto: exit %d, summary %v", r.code, sum)
	}
}

// With --verbose, each decision of --concurrency auto is one line that says
// what was measured.
func TestConcurrencyAutoVerboseLines(t *testing.T) {
	var stderr bytes.Buffer
	r := &uploadRun{o: &UploadOptions{Deps: &Deps{Stderr: &stderr}, Global: &GlobalOptions{Verbose: true}}}
	for _, ch := range []upload.ConcurrencyChange{
		{From: 4, To: 8, Reason: upload.ReasonRose, Rate: 60 << 20},
		{From: 8, To: 16, Reason: upload.ReasonRose, Rate: 120 << 20, Best: 60 << 20},
		{From: 16, To: 8, Reason: upload.ReasonFlat, Rate: 125 << 20, Best: 120 << 20, Settled: true},
		{From: 32, To: 32, Reason: upload.ReasonCeiling, Rate: 400 << 20, Best: 300 << 20, Settled: true},
		{From: 8, To: 4, Reason: upload.ReasonThrottled, Settled: true},
	} {
		r.concurrencyChanged(ch)
	}
	want := `ckanup: concurrency auto: 4 → 8 requests in flight (60.0 MiB/s at 4)
ckanup: concurrency auto: 8 → 16 requests in flight (120.0 MiB/s at 8, up from 60.0 MiB/s)
ckanup: concurrency auto: 16 → 8 requests in flight, staying there: 125.0 MiB/s at 16 is not 15% above 120.0 MiB/s at 8
ckanup: concurrency auto: staying at 32 requests in flight, the ceiling (400.0 MiB/s)
ckanup: concurrency auto: 8 → 4 requests in flight: the store throttled requests; it grows no more
`
	if stderr.String() != want {
		t.Errorf("got\n%s\nwant\n%s", stderr.String(), want)
	}
	stderr.Reset()
	r.o.Global.Verbose = false
	r.concurrencyChanged(upload.ConcurrencyChange{From: 4, To: 8, Reason: upload.ReasonRose})
	if stderr.Len() != 0 {
		t.Errorf("without --verbose: %q", stderr.String())
	}
}
