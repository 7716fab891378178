package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/scope"
)

// resource returns the simulator's stored resource with id.
func (e *env) resource(dataset, id string) map[string]any {
	e.t.Helper()
	for _, r := range e.sim.Resources(dataset) {
		if r["id"] == id {
			return r
		}
	}
	return nil
}

func sizeOf(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return -1
}

// Item 1: a url_type "upload" resource named like the file is repointed at the
// object (url_type emptied), and the next run skips the file because CKAN now
// serves that object.
func TestUploadTypeResourceRepointed(t *testing.T) {
	e := newEnv(t)
	id := e.sim.AddRawResource("acceptance-dataset", map[string]any{"name": "up.csv", "url": "up.csv", "url_type": "upload", "size": 3, "hash": "md5:00"})
	f := writeFile(t, t.TempDir(), "up.csv", 500, 11)
	r := e.run("acceptance-dataset", Options{}, f)[0]
	if r.Err != nil || r.Status != StatusUpdated || r.ResourceID != id {
		t.Fatalf("first run: %+v", r)
	}
	got := e.resource("acceptance-dataset", id)
	if got["url_type"] != "" || got["url"] != r.URL || sizeOf(got["size"]) != 500 {
		t.Errorf("CKAN holds url_type %v url %v size %v; want \"\", %s, 500", got["url_type"], got["url"], got["size"], r.URL)
	}
	r = e.run("acceptance-dataset", Options{}, f)[0]
	if r.Status != StatusSkipped || !strings.Contains(r.Reason, "already points at") {
		t.Errorf("second run: %s (%s)", r.Status, r.Reason)
	}
}

// Item 1: CKAN answering other values than were sent is a permanent failure.
func TestReadBackDifferenceFails(t *testing.T) {
	for _, tc := range []struct{ name, field string }{{"url", "url"}, {"size", "size"}, {"hash", "hash"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.sim.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
				if action != "resource_create" {
					return false
				}
				rw := httptest.NewRecorder()
				e.sim.SetIntercept(nil)
				e.sim.ServeHTTP(rw, r)
				body := rw.Body.String()
				switch tc.field { // what an extension rewriting the field would answer
				case "url":
					body = strings.Replace(body, `"url":"https://objects.example.org/`, `"url":"https://portal.example.org/download/`, 1)
				case "size":
					body = strings.Replace(body, `"size":700`, `"size":7`, 1)
				case "hash":
					body = strings.Replace(body, `"hash":"sha256:`, `"hash":"md5:`, 1)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
				return true
			})
			f := writeFile(t, t.TempDir(), "x.csv", 700, 12)
			r := e.run("acceptance-dataset", Options{}, f)[0]
			if r.Status != StatusFailed || !errors.Is(r.Err, ErrReadBack) || failure.KindOf(r.Err) != failure.Config {
				t.Fatalf("record %+v, kind %v", r, failure.KindOf(r.Err))
			}
			if !strings.Contains(r.Err.Error(), tc.field+" ") {
				t.Errorf("the error does not name %s: %v", tc.field, r.Err)
			}
		})
	}
}

// Item 1: a DataStore or extension resource is not repointed, and nothing is
// uploaded for it.
func TestManagedResourceRefused(t *testing.T) {
	for _, raw := range []map[string]any{
		{"name": "ds.csv", "url": "http://x/datastore/dump/1", "url_type": "datastore", "datastore_active": true},
		{"name": "ds.csv", "url": "http://x/a.csv", "url_type": "", "datastore_active": "True"},
		{"name": "ds.csv", "url": "http://x/a.csv", "url_type": "cloudstorage"},
	} {
		t.Run(fmt.Sprint(raw["url_type"], raw["datastore_active"]), func(t *testing.T) {
			e := newEnv(t)
			id := e.sim.AddRawResource("acceptance-dataset", raw)
			f := writeFile(t, t.TempDir(), "ds.csv", 100, 13)
			r := e.run("acceptance-dataset", Options{}, f)[0]
			if r.Status != StatusFailed || failure.KindOf(r.Err) != failure.Config || !strings.Contains(r.Err.Error(), "not repointed") {
				t.Fatalf("record %+v", r)
			}
			if e.sent(http.MethodPut) != 0 {
				t.Errorf("%d PUTs for a refused file", e.sent(http.MethodPut))
			}
			if got := e.resource("acceptance-dataset", id); got["url"] != raw["url"] {
				t.Errorf("url changed to %v", got["url"])
			}
		})
	}
}

// Item 5: a resource renamed in CKAN keeps its file; the next upload of the
// old name creates a new resource with another id, and a re-run finds it.
func TestRenamedResourceNotOverwritten(t *testing.T) {
	e := newEnv(t)
	f := writeFile(t, t.TempDir(), "a.csv", 300, 14)
	first := e.run("acceptance-dataset", Options{}, f)[0]
	if first.Status != StatusCreated {
		t.Fatalf("first: %+v", first)
	}
	if _, err := e.client.ResourcePatch(context.Background(), map[string]any{"id": first.ResourceID, "name": "a (2019).csv"}); err != nil {
		t.Fatal(err)
	}
	g := writeFile(t, t.TempDir(), "a.csv", 400, 15)
	second := e.run("acceptance-dataset", Options{}, g)[0]
	if second.Status != StatusCreated || second.ResourceID == first.ResourceID {
		t.Fatalf("second: %+v (first id %s)", second, first.ResourceID)
	}
	old := e.resource("acceptance-dataset", first.ResourceID)
	if old["name"] != "a (2019).csv" || old["url"] != first.URL || sizeOf(old["size"]) != 300 {
		t.Errorf("the renamed resource was changed: %v", old)
	}
	if second.ResourceID != candidateID(e.client.SiteURL(), e.world.AcceptanceDataset.ID, "a.csv", 2) {
		t.Errorf("second id %s is not the second candidate", second.ResourceID)
	}
	third := e.run("acceptance-dataset", Options{}, g)[0]
	if third.Status != StatusSkipped || third.ResourceID != second.ResourceID {
		t.Errorf("third: %+v", third)
	}
}

// Item 5: an id held in another dataset (or the site) is not taken over; a
// failed registration under the chosen id is found again by the next run.
func TestIDHeldElsewhereNotTaken(t *testing.T) {
	e := newEnv(t)
	site, ds := e.client.SiteURL(), e.world.AcceptanceDataset.ID
	taken := DerivedResourceID(site, ds, "b.csv")
	e.sim.AddRawResource("other-dataset", map[string]any{"id": taken, "name": "theirs.csv", "url": "http://x/theirs.csv"})
	// The second candidate is a resource of a private dataset the editor
	// cannot read (CKAN answers 403).
	e.sim.AddRawResource("other-private", map[string]any{"id": candidateID(site, ds, "b.csv", 2), "name": "secret.csv", "url": "http://x/s.csv"})
	failing := true
	e.sim.SetIntercept(func(w http.ResponseWriter, _ *http.Request, action string) bool {
		if action == "resource_create" && failing {
			http.Error(w, `{"success": false, "error": {"__type": "Validation Error", "message": "refused"}}`, http.StatusConflict)
			return true
		}
		return false
	})
	f := writeFile(t, t.TempDir(), "b.csv", 200, 16)
	r := e.run("acceptance-dataset", Options{}, f)[0]
	want := candidateID(site, ds, "b.csv", 3)
	if r.Status != StatusFailed || r.ResourceID != want || !r.Uploaded {
		t.Fatalf("first run: %+v, want id %s", r, want)
	}
	failing = false
	puts := e.sent(http.MethodPut)
	r = e.run("acceptance-dataset", Options{}, f)[0]
	if r.Status != StatusCreated || r.ResourceID != want || r.Uploaded || e.sent(http.MethodPut) != puts {
		t.Errorf("re-run: %+v, %d more PUTs", r, e.sent(http.MethodPut)-puts)
	}
	if theirs := e.resource("other-dataset", taken); theirs == nil || theirs["name"] != "theirs.csv" {
		t.Errorf("the other dataset's resource changed: %v", theirs)
	}
}

// Item 7: skip only when the resource points at this run's object and that
// object holds the file.
func TestSkipOnlyWhenPointingAtThisObject(t *testing.T) {
	e := newEnv(t)
	f := writeFile(t, t.TempDir(), "c.csv", 250, 17)
	first := e.run("acceptance-dataset", Options{}, f)[0]
	if first.Status != StatusCreated {
		t.Fatal(first)
	}

	// The object is gone: sent again.
	if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(first.Key)}); err != nil {
		t.Fatal(err)
	}
	r := e.run("acceptance-dataset", Options{}, f)[0]
	if r.Status != StatusUpdated || !r.Uploaded || !strings.Contains(r.Reason, "missing") {
		t.Errorf("object gone: %+v", r)
	}

	// Unchanged, same target, object there: skipped, and says why.
	r = e.run("acceptance-dataset", Options{}, f)[0]
	if r.Status != StatusSkipped || r.Reason == "" {
		t.Errorf("unchanged: %+v", r)
	}

	// A bucket that does not exist is a failure, not a skip.
	p := e.publisher("acceptance-dataset", Options{})
	p.o.Target.Bucket = "no-such-bucket"
	items, _ := p.Plan([]File{f})
	r = p.Run(context.Background(), items, nil)[0]
	if r.Status != StatusFailed {
		t.Errorf("missing bucket: %+v", r)
	}

	// Another public URL base: re-registered (the object is in place, nothing sent).
	puts := e.sent(http.MethodPut)
	p = e.publisher("acceptance-dataset", Options{})
	p.o.ObjectURL = func(key string) string { return "https://cdn.example.org/" + scope.EscapeKey(key) }
	items, _ = p.Plan([]File{f})
	r = p.Run(context.Background(), items, nil)[0]
	if r.Status != StatusUpdated || r.Uploaded || e.sent(http.MethodPut) != puts || !strings.Contains(r.Reason, "points at") {
		t.Errorf("new URL base: %+v, %d more PUTs", r, e.sent(http.MethodPut)-puts)
	}
	if got := e.resource("acceptance-dataset", first.ResourceID); !strings.HasPrefix(got["url"].(string), "https://cdn.example.org/") {
		t.Errorf("url not moved: %v", got["url"])
	}
}

// Issue 12: files are registered in package_revise calls of BatchSize, the
// rest one at a time, updates included, with no duplicate on a re-run.
func TestBatchRegistration(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	var files []File
	for i := range 7 {
		files = append(files, writeFile(t, dir, fmt.Sprintf("f%d.csv", i), 100+i, uint64(20+i)))
	}
	o := Options{BatchSize: 3, BatchWait: time.Hour, FilesInFlight: 2}
	recs := e.run("acceptance-dataset", o, files...)
	for _, r := range recs {
		if r.Status != StatusCreated {
			t.Fatalf("%+v", r)
		}
	}
	if n, c := e.sim.CountCalls("package_revise", 200), e.sim.CountCalls("resource_create", 200); n != 2 || c != 1 {
		t.Errorf("%d package_revise and %d resource_create calls, want 2 and 1", n, c)
	}
	if n := len(e.sim.Resources("acceptance-dataset")); n != 7 {
		t.Errorf("dataset holds %d resources", n)
	}
	// Changed files: updated in place, in batches, no duplicate.
	for i := range files {
		files[i] = writeFile(t, dir, fmt.Sprintf("f%d.csv", i), 200+i, uint64(40+i))
	}
	recs = e.run("acceptance-dataset", o, files...)
	for _, r := range recs {
		if r.Status != StatusUpdated {
			t.Errorf("%+v", r)
		}
	}
	if n := e.sim.CountCalls("package_revise", 200); n != 4 {
		t.Errorf("%d package_revise calls in all, want 4", n)
	}
	for _, res := range e.sim.Resources("acceptance-dataset") {
		if sizeOf(res["size"]) < 200 {
			t.Errorf("resource %v not updated", res["name"])
		}
	}
	if n := len(e.sim.Resources("acceptance-dataset")); n != 7 {
		t.Errorf("dataset holds %d resources after the re-run", n)
	}
}

// A portal without package_revise (CKAN < 2.9) gets one call per file.
func TestBatchFallsBackWithoutPackageRevise(t *testing.T) {
	e := newEnv(t)
	e.sim.SetIntercept(func(w http.ResponseWriter, _ *http.Request, action string) bool {
		if action == "package_revise" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`"Bad request - Action name not known: package_revise"`))
			return true
		}
		return false
	})
	dir := t.TempDir()
	files := writeFiles(t, dir, "g%d.csv", 5, 50, 60)
	var notes bytes.Buffer
	recs := e.run("acceptance-dataset", Options{BatchSize: 2, BatchWait: time.Hour, Events: noteEvents{&notes}}, files...)
	for _, r := range recs {
		if r.Status != StatusCreated {
			t.Errorf("%+v", r)
		}
	}
	if c := e.sim.CountCalls("resource_create", 200); c != 5 {
		t.Errorf("%d resource_create calls, want 5", c)
	}
	if got := strings.Count(notes.String(), "\n"); got != 1 {
		t.Errorf("told %d times about package_revise: %s", got, notes.String())
	}
}

// A batch that fails for a reason CKAN may get past fails each of its files
// with a message naming the batch; their objects are in place, and the next
// run registers them without uploading. An answer lost after CKAN saved the
// batch is found by reading the dataset back.
func TestFailedBatchExplained(t *testing.T) {
	e := newEnv(t)
	e.client.MaxAttempts = 1
	mode := "down"
	e.sim.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		if action != "package_revise" {
			return false
		}
		if mode == "lost" { // CKAN saves, the answer never arrives
			e.sim.SetIntercept(nil)
			e.sim.ServeHTTP(httptest.NewRecorder(), r)
		}
		http.Error(w, "<html>bad gateway</html>", http.StatusInternalServerError)
		return true
	})
	dir := t.TempDir()
	files := writeFiles(t, dir, "h%d.csv", 4, 80, 80)
	o := Options{BatchSize: 4, BatchWait: time.Hour}
	for _, r := range e.run("acceptance-dataset", o, files...) {
		if r.Status != StatusFailed || !strings.Contains(r.Err.Error(), "package_revise with 4 files") || !r.Uploaded {
			t.Errorf("down: %+v", r)
		}
	}
	if n := len(e.sim.Resources("acceptance-dataset")); n != 0 {
		t.Errorf("%d resources registered by a failed batch", n)
	}
	puts := e.sent(http.MethodPut)
	mode = "lost"
	for _, r := range e.run("acceptance-dataset", o, files...) {
		if r.Status != StatusCreated || r.Uploaded {
			t.Errorf("lost answer: %+v", r)
		}
	}
	if e.sent(http.MethodPut) != puts || len(e.sim.Resources("acceptance-dataset")) != 4 {
		t.Errorf("%d more PUTs, %d resources", e.sent(http.MethodPut)-puts, len(e.sim.Resources("acceptance-dataset")))
	}
}

type noteEvents struct{ b *bytes.Buffer }

func (n noteEvents) Track(string, int64) Progress { return nopProgress{} }
func (n noteEvents) Notef(f string, a ...any)     { fmt.Fprintf(n.b, f+"\n", a...) }
func (n noteEvents) Logf(string, ...any)          {}
