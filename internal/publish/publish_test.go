package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/ckansim"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/s3store"
	"github.com/ckanup/ckanup/internal/scope"
	"github.com/ckanup/ckanup/internal/upload"
)

// env is a CKAN simulator and an in-process S3 store, with a counter of the S3
// requests by method, and what a Publisher needs to talk to them. Nothing is
// read from the process environment.
type env struct {
	t       *testing.T
	sim     *ckansim.Server
	world   *ckansim.World
	client  *ckan.Client
	s3      *s3.Client
	bucket  string
	journal *journal.Store

	mu       sync.Mutex
	requests map[string]int // "PUT", "POST", "HEAD", …; "LIST" for ListObjectsV2
	// refuseList answers ListObjectsV2 with 403, as a bucket policy
	// without s3:ListBucket does.
	refuseList bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, sim: ckansim.New(), bucket: "portal", requests: map[string]int{}}
	e.world = ckansim.Seed(e.sim)
	cs := httptest.NewServer(e.sim)
	t.Cleanup(cs.Close)
	e.sim.SiteURL = cs.URL
	st, err := s3store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st.AccessKey = "AKIDPUBLISHTEST"
	if err := st.CreateBucket(e.bucket); err != nil {
		t.Fatal(err)
	}
	ss := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.requests[r.Method]++
		list := r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2"
		if list {
			e.requests["LIST"]++
		}
		refuse := e.refuseList
		e.mu.Unlock()
		if list && refuse {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		st.ServeHTTP(w, r)
	}))
	t.Cleanup(ss.Close)
	e.s3 = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ss.URL), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDPUBLISHTEST", "secret", ""),
		RetryMaxAttempts: 1})
	if e.client, err = ckan.New(cs.URL, e.world.Editor.Token, nil); err != nil {
		t.Fatal(err)
	}
	if e.journal, err = journal.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) sent(method string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[method]
}

// publisher looks the dataset up afresh, as each run does, and returns a
// Publisher for it with o's settings.
func (e *env) publisher(dataset string, o Options) *Publisher {
	e.t.Helper()
	d, err := e.client.PackageShow(context.Background(), dataset)
	if err != nil {
		e.t.Fatal(err)
	}
	o.CKAN, o.Dataset, o.User, o.S3 = e.client, d, "uploader", e.s3
	o.Target = creds.Target{Bucket: e.bucket, DatasetPrefix: scope.DatasetPrefix("", d.OwnerOrg, d.ID)}
	o.Uploader = upload.New(e.s3, upload.Options{PartSize: upload.MinPartSize, MaxAttempts: 2})
	o.Journal = e.journal
	o.ObjectURL = func(key string) string { return "https://objects.example.org/" + scope.EscapeKey(key) }
	return New(o)
}

func (e *env) run(dataset string, o Options, files ...File) []*Record {
	e.t.Helper()
	p := e.publisher(dataset, o)
	items, err := p.Plan(files)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Run(context.Background(), items, nil)
}

// writeFiles writes n files of size bytes named fmt.Sprintf(pattern, i), the
// i-th from seed+i.
func writeFiles(t *testing.T, dir, pattern string, n, size int, seed uint64) []File {
	t.Helper()
	files := make([]File, n)
	for i := range files {
		files[i] = writeFile(t, dir, fmt.Sprintf(pattern, i), size, seed+uint64(i))
	}
	return files
}

func writeFile(t *testing.T, dir, name string, size int, seed uint64) File {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return File{Path: p, Name: name, Size: int64(size)}
}

func TestCreateThenSkipThenUpdate(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "a.csv", 1000, 1)

	// Every record names the object and the URL CKAN holds, whatever befell
	// the file.
	placed := func(rec *Record) {
		t.Helper()
		res := e.sim.Resources("acceptance-dataset")
		if len(res) != 1 || rec.Key == "" || res[0]["s3_key"] != rec.Key || res[0]["url"] != rec.URL {
			t.Errorf("record key %q url %q; CKAN holds %v", rec.Key, rec.URL, res)
		}
	}
	recs := e.run("acceptance-dataset", Options{}, f)
	if len(recs) != 1 || recs[0].Status != StatusCreated || !recs[0].Uploaded || recs[0].Err != nil {
		t.Fatalf("first run: %+v", recs[0])
	}
	placed(recs[0])
	if want := DerivedResourceID(e.client.SiteURL(), e.world.AcceptanceDataset.ID, "a.csv"); recs[0].ResourceID != want {
		t.Errorf("resource id %s, want the derived %s", recs[0].ResourceID, want)
	}
	puts := e.sent(http.MethodPut)

	recs = e.run("acceptance-dataset", Options{}, f)
	if recs[0].Status != StatusSkipped || e.sent(http.MethodPut) != puts {
		t.Errorf("unchanged file: status %s, %d more PUTs", recs[0].Status, e.sent(http.MethodPut)-puts)
	}
	placed(recs[0])

	g := writeFile(t, dir, "a.csv", 2000, 2)
	recs = e.run("acceptance-dataset", Options{}, g)
	if recs[0].Status != StatusUpdated || recs[0].Size != 2000 || e.sent(http.MethodPut) != puts+1 {
		t.Errorf("changed file: %+v, %d more PUTs", recs[0], e.sent(http.MethodPut)-puts)
	}
	placed(recs[0])
	res := e.sim.Resources("acceptance-dataset")
	if len(res) != 1 || res[0]["size"] != float64(2000) && res[0]["size"] != int64(2000) && res[0]["size"] != 2000 {
		t.Errorf("CKAN holds %v", res)
	}
}

func TestForceSendsAgain(t *testing.T) {
	e := newEnv(t)
	f := writeFile(t, t.TempDir(), "b.csv", 100, 3)
	e.run("acceptance-dataset", Options{}, f)
	puts := e.sent(http.MethodPut)
	recs := e.run("acceptance-dataset", Options{Force: true}, f)
	if recs[0].Status != StatusUpdated || !recs[0].Uploaded || e.sent(http.MethodPut) != puts+1 {
		t.Errorf("--force: %+v, %d more PUTs", recs[0], e.sent(http.MethodPut)-puts)
	}
}

// A registration that failed leaves the object in place; the next run
// registers it without sending the file again.
func TestRegistrationRetriedWithoutUpload(t *testing.T) {
	e := newEnv(t)
	f := writeFile(t, t.TempDir(), "c.csv", int(upload.MinPartSize)+10, 4) // multipart: journal and composite checksum
	failing := true
	e.sim.SetIntercept(func(w http.ResponseWriter, _ *http.Request, action string) bool {
		if action == "resource_create" && failing {
			http.Error(w, `{"success": false, "error": {"__type": "Validation Error", "message": "refused"}}`, http.StatusConflict)
			return true
		}
		return false
	})
	recs := e.run("acceptance-dataset", Options{}, f)
	if recs[0].Status != StatusFailed || recs[0].Err == nil || !recs[0].Uploaded {
		t.Fatalf("first run: %+v", recs[0])
	}
	failing = false
	puts := e.sent(http.MethodPut)
	recs = e.run("acceptance-dataset", Options{}, f)
	if recs[0].Status != StatusCreated || recs[0].Uploaded || e.sent(http.MethodPut) != puts {
		t.Errorf("second run: %+v, %d more PUTs", recs[0], e.sent(http.MethodPut)-puts)
	}
	if l, err := e.journal.List(); err != nil || len(l) != 0 {
		t.Errorf("journal after success: %v %v", l, err)
	}
}

func TestPlanNamesResourceAndKey(t *testing.T) {
	e := newEnv(t)
	f := writeFile(t, t.TempDir(), "d.csv", 10, 5)
	first := e.run("acceptance-dataset", Options{Description: "first"}, f)[0]

	p := e.publisher("acceptance-dataset", Options{ResourceID: first.ResourceID})
	items, err := p.Plan([]File{{Path: f.Path, Name: "other name.csv", Size: f.Size}})
	if err != nil {
		t.Fatal(err)
	}
	it := items[0]
	if !it.Existing() || it.ResourceID != first.ResourceID {
		t.Errorf("--resource-id: planned %+v", it)
	}
	wantKey := scope.DatasetPrefix("", e.world.AcceptanceOrg.ID, e.world.AcceptanceDataset.ID) + first.ResourceID + "/other name.csv"
	if it.Key() != wantKey || p.objectURL(it) != "https://objects.example.org/"+scope.EscapeKey(wantKey) {
		t.Errorf("key %q url %q, want key %q", it.Key(), p.objectURL(it), wantKey)
	}
	if it.File.Format != "CSV" {
		t.Errorf("format %q", it.File.Format)
	}

	p = e.publisher("acceptance-dataset", Options{ResourceID: "00000000-0000-0000-0000-000000000000"})
	if _, err := p.Plan([]File{f}); err == nil {
		t.Error("a resource id the dataset does not hold was accepted")
	}
}

func TestUploadsListAndAbort(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.world.AcceptanceDataset
	prefix := scope.DatasetPrefix("", e.world.AcceptanceOrg.ID, d.ID)
	out, err := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(e.bucket), Key: aws.String(prefix + "r/x.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(e.bucket), Key: aws.String(prefix + "r/x.bin"),
		UploadId: out.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, 1234))}); err != nil {
		t.Fatal(err)
	}
	// Another dataset's upload is not listed under this prefix.
	if _, err := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(e.bucket), Key: aws.String("elsewhere/y.bin")}); err != nil {
		t.Fatal(err)
	}
	open, err := StoreUploads(ctx, e.s3, e.bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	list, err := Uploads(ctx, e.s3, UploadsQuery{Bucket: e.bucket, Prefix: prefix, Open: open, Journal: e.journal})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].UploadID != aws.ToString(out.UploadId) || list[0].Parts != 1 || list[0].Bytes != 1234 || !list[0].InStore {
		t.Fatalf("listed %+v", list)
	}
	if failed := Abort(ctx, e.s3, e.journal, list, true); failed != 0 || list[0].Status != "would abort" {
		t.Errorf("dry run: %d failed, status %q", failed, list[0].Status)
	}
	if open, _ := StoreUploads(ctx, e.s3, e.bucket, prefix); len(open) != 1 {
		t.Errorf("a dry run aborted something: %d left", len(open))
	}
	if failed := Abort(ctx, e.s3, e.journal, list, false); failed != 0 || list[0].Status != "aborted" {
		t.Errorf("abort: %d failed, status %q", failed, list[0].Status)
	}
	if open, _ := StoreUploads(ctx, e.s3, e.bucket, prefix); len(open) != 0 {
		t.Errorf("still open after abort: %+v", open)
	}
}

func TestResumeCommandQuotes(t *testing.T) {
	got := ResumeCommand([]string{"upload", "my file.csv", "--dataset", "it's"})
	if want := `ckanup upload 'my file.csv' --dataset 'it'\''s'`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// New small files cost one PutObject each: the look for an earlier upload is
// one listing of the dataset's prefix for the run, and the PutObject answer is
// the read-back. Where listing is refused, each file gets its HEAD again (one
// refused listing per run), and a re-run still finds and skips every file.
func TestSmallFilesRequests(t *testing.T) {
	for _, refused := range []bool{false, true} {
		e := newEnv(t)
		e.refuseList = refused
		dir := t.TempDir()
		var files []File
		for i := range 5 {
			files = append(files, writeFile(t, dir, fmt.Sprintf("f%d.csv", i), 1000+i, uint64(10+i)))
		}
		recs := e.run("acceptance-dataset", Options{}, files...)
		for _, r := range recs {
			if r.Status != StatusCreated || !r.Uploaded || r.Err != nil {
				t.Fatalf("refused=%v: %+v", refused, r)
			}
		}
		wantHeads := 0
		if refused {
			wantHeads = len(files)
		}
		if e.sent("PUT") != len(files) || e.sent("HEAD") != wantHeads || e.sent("LIST") != 1 {
			t.Errorf("refused=%v: %d PUT, %d HEAD, %d listings; want %d, %d, 1", refused, e.sent("PUT"), e.sent("HEAD"), e.sent("LIST"), len(files), wantHeads)
		}
		recs = e.run("acceptance-dataset", Options{}, files...)
		for _, r := range recs {
			if r.Status != StatusSkipped {
				t.Errorf("refused=%v: re-run: %+v", refused, r)
			}
		}
		if e.sent("PUT") != len(files) {
			t.Errorf("refused=%v: the re-run sent %d PUTs", refused, e.sent("PUT")-len(files))
		}
	}
}

// trackEvents records the order files start in and the most goroutines seen
// while they do.
type trackEvents struct {
	mu      sync.Mutex
	started []string
	maxG    int
}

func (e *trackEvents) Track(name string, _ int64) Progress {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, name)
	e.maxG = max(e.maxG, runtime.NumGoroutine())
	return nopProgress{}
}
func (e *trackEvents) Notef(string, ...any) {}
func (e *trackEvents) Logf(string, ...any)  {}

// Run starts the files in order with FilesInFlight workers: the goroutines
// alive do not grow with the number of files (a goroutine per file held
// every file's stack for the whole run).
func TestRunWorkersInOrder(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	const n = 300
	var files []File
	for i := range n {
		files = append(files, writeFile(t, dir, fmt.Sprintf("f%03d.csv", i), 10, uint64(i)))
	}
	ev := &trackEvents{}
	recs := e.run("acceptance-dataset", Options{FilesInFlight: 1, Events: ev}, files...)
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for _, r := range recs {
		if r.Status != StatusCreated {
			t.Fatalf("%+v", r)
		}
	}
	for i, name := range ev.started {
		if want := files[i].Name; name != want {
			t.Fatalf("file %d to start was %s, want %s", i+1, name, want)
		}
	}
	// The test's HTTP servers and clients have goroutines of their own; a
	// goroutine per file would be n more.
	if ev.maxG >= n/2 {
		t.Errorf("%d goroutines while %d files were sent one at a time", ev.maxG, n)
	}
}

// A cancelled run reports every file not started as interrupted, with an
// error that wraps the context's, and sends nothing.
func TestRunCancelled(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	files := writeFiles(t, dir, "c%02d.csv", 20, 10, 0)
	p := e.publisher("acceptance-dataset", Options{FilesInFlight: 3})
	items, err := p.Plan(files)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var done int
	recs := p.Run(ctx, items, func(*Record) { done++ })
	if len(recs) != len(files) || done != len(files) {
		t.Fatalf("%d records, %d reported, want %d", len(recs), done, len(files))
	}
	for _, r := range recs {
		var ie *InterruptedError
		if r.Status != StatusInterrupted || !errors.Is(r.Err, context.Canceled) || !errors.As(r.Err, &ie) || !strings.Contains(r.Error, "interrupted") {
			t.Errorf("%+v", r)
		}
	}
	if e.sent("PUT") != 0 {
		t.Errorf("%d PUTs after the cancellation", e.sent("PUT"))
	}
}

// Each reports every file once, taking each once and planning it then. A
// file Plan would refuse fails alone, with Plan's error.
func TestEachTakesEachFileOnce(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	files := writeFiles(t, dir, "e%02d.csv", 12, 10, 0)
	p := e.publisher("acceptance-dataset", Options{FilesInFlight: 3})
	at := func(fs []File) func(int) File { return func(i int) File { return fs[i] } }
	if err := p.Check(len(files), at(files)); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(files)
	long := File{Path: files[0].Path, Name: strings.Repeat("n", 1100), Size: files[0].Size}
	files = append(files, long)
	if err := p.Check(len(files), at(files)); err == nil || !strings.Contains(err.Error(), "1,024") {
		t.Errorf("Check of a name too long for an object key: %v", err)
	}
	seen := map[string]int{}
	var refused *Record
	taken := make([]int, len(files))
	p.Each(context.Background(), len(files), func(i int) File {
		taken[i]++
		return files[i]
	}, func(r *Record) {
		seen[r.Name]++
		if r.Name == long.Name {
			refused = r
			return
		}
		if r.Status != StatusCreated {
			t.Errorf("%+v", r)
		}
	})
	for _, f := range want {
		if seen[f.Name] != 1 {
			t.Errorf("%s reported %d times", f.Name, seen[f.Name])
		}
	}
	if refused == nil || refused.Status != StatusFailed || refused.File != long.Path || refused.Err == nil || !strings.Contains(refused.Err.Error(), "1,024") {
		t.Errorf("the file Plan refuses: %+v", refused)
	}
	for i, n := range taken {
		if n != 1 {
			t.Errorf("file %d taken %d times", i, n)
		}
	}
}
