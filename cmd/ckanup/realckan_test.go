package main

// Command-level tests of what ckanup does to a CKAN dataset (issue 8: cases 1,
// 2, 4, 5, 6 and 7), each run against the simulator and against a real CKAN
// (internal/ckantest: set CKANUP_IT_CKAN_URL and the token files, e.g. with
// `. /tmp/ckan-it/env.sh`; skipped saying so otherwise), in a throwaway
// dataset of acceptance-org, with the in-process S3 store for the objects.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/ckansim"
	"github.com/ckanup/ckanup/internal/ckantest"
	"github.com/ckanup/ckanup/internal/publish"
)

// siteEnv is a command test environment whose CKAN is site (the simulator or
// a real one), with a throwaway dataset there and an editor's client.
type siteEnv struct {
	*testEnv
	site   *ckantest.Site
	d      *ckan.Dataset
	client *ckan.Client
}

func newSiteEnv(t *testing.T, site *ckantest.Site) *siteEnv {
	t.Helper()
	e := newTestEnv(t, "", "", "", "ckanup-it")
	e.vars["CKAN_URL"] = site.URL
	e.vars["CKAN_API_TOKEN"] = site.EditorToken
	return &siteEnv{testEnv: e, site: site, d: site.Dataset(t), client: site.Client(t, site.EditorToken)}
}

// put runs upload into the throwaway dataset with JSON output and returns the
// exit code and records.
func (s *siteEnv) put(args ...string) (runResult, []publish.Record) {
	s.t.Helper()
	r := s.upload(append(args, "--dataset", s.d.Name, "--output", "json", "--verbose")...)
	return r, records(s.t, r.stdout)
}

func (s *siteEnv) show(id string) *ckan.Resource {
	s.t.Helper()
	r, err := s.client.ResourceShow(context.Background(), id)
	if err != nil {
		s.t.Fatalf("resource_show %s: %v", id, err)
	}
	return r
}

func (s *siteEnv) resources() []ckan.Resource {
	s.t.Helper()
	d, err := s.client.PackageShow(context.Background(), s.d.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	return d.Resources
}

// checkServes: CKAN holds the record's url, size and hash, with url_type "".
func (s *siteEnv) checkServes(rec publish.Record) {
	s.t.Helper()
	got := s.show(rec.ResourceID)
	if got.URL != rec.URL || got.URLType != "" || got.Size == nil || *got.Size != rec.Size || got.Hash != "sha256:"+rec.SHA256 {
		s.t.Errorf("CKAN holds url %q url_type %q size %v hash %q; want %q, \"\", %d, sha256:%s", got.URL, got.URLType, got.Size, got.Hash, rec.URL, rec.Size, rec.SHA256)
	}
}

// Case 1: a url_type "upload" resource named like the file is repointed at
// the object and CKAN then serves it; a DataStore or extension resource is
// refused with a permanent error, and nothing is uploaded for it.
func TestSiteURLTypeUpload(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		ctx := context.Background()
		old, err := s.client.ResourceCreate(ctx, map[string]any{"package_id": s.d.ID, "name": "data.csv", "url": "data.csv", "url_type": "upload"})
		if err != nil {
			t.Fatal(err)
		}
		f := makeFile(t, t.TempDir(), "data.csv", 1500)
		r, recs := s.put(f)
		if r.code != 0 || len(recs) != 1 || recs[0].Status != "updated" || recs[0].ResourceID != old.ID {
			t.Fatalf("exit %d %+v\n%s", r.code, recs, r.stderr)
		}
		s.checkServes(recs[0])
		r, recs = s.put(f)
		if r.code != 0 || recs[0].Status != "skipped" {
			t.Errorf("re-run: exit %d %+v", r.code, recs)
		}

		for _, raw := range []map[string]any{
			{"name": "ds.csv", "url": "http://example.org/datastore/dump/1", "url_type": "datastore", "datastore_active": true},
			{"name": "ext.csv", "url": "http://example.org/ext.csv", "url_type": "cloudstorage"},
		} {
			raw["package_id"] = s.d.ID
			res, err := s.client.ResourceCreate(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			s.resetCounts()
			f := makeFile(t, t.TempDir(), raw["name"].(string), 100)
			r, _ := s.put(f)
			if r.code != exitConfig || !strings.Contains(r.stderr, "not repointed") || !strings.Contains(r.stderr, "--name") {
				t.Errorf("%s: exit %d\n%s", raw["name"], r.code, r.stderr)
			}
			if n := s.counted("PutObject") + s.counted("UploadPart"); n != 0 {
				t.Errorf("%s: %d objects sent for a refused resource", raw["name"], n)
			}
			if got := s.show(res.ID); got.URL != res.URL || got.URLType != res.URLType {
				t.Errorf("%s changed: url %q url_type %q", raw["name"], got.URL, got.URLType)
			}
		}
	})
}

// Case 2: through a front that redirects to CKAN, the first call stops the run
// with an error naming the URL to use; nothing reaches S3 or the dataset.
func TestSiteRedirectStopsFirst(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		f := makeFile(t, t.TempDir(), "r.csv", 100)
		for _, status := range []int{301, 302, 307, 308} {
			front := httptest.NewServer(&ckansim.Redirector{Target: site.URL, Status: status})
			s.vars["CKAN_URL"] = front.URL
			s.resetCounts()
			r, _ := s.put(f)
			front.Close()
			if r.code != exitConfig || !strings.Contains(r.stderr, "--ckan-url "+site.URL) || strings.Contains(r.stderr, "re-run") {
				t.Errorf("%d: exit %d\n%s", status, r.code, r.stderr)
			}
			if n := len(s.counts); n != 0 {
				t.Errorf("%d: S3 requests %v", status, s.counts)
			}
		}
		if n := len(s.resources()); n != 0 {
			t.Errorf("%d resources registered through a redirect", n)
		}
	})
}

// Case 4: through a proxy that passes only X-CKAN-API-Key (it drops
// Authorization), the default token headers work.
func TestSiteTokenHeaderProxy(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		u, err := url.Parse(site.URL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = u.Host
			pr.Out.Header.Del("Authorization")
		}})
		defer proxy.Close()
		s.vars["CKAN_URL"] = proxy.URL
		f := makeFile(t, t.TempDir(), "h.csv", 300)
		r, recs := s.put(f)
		if r.code != 0 || len(recs) != 1 || recs[0].Status != "created" {
			t.Fatalf("exit %d %+v\n%s", r.code, recs, r.stderr)
		}
		s.checkServes(recs[0])
	})
}

// Case 5: a resource renamed in CKAN, a resource of another dataset and a
// deleted one that hold the id ckanup would derive keep their files; new
// resources get ids no resource holds, and a re-run finds them.
func TestSiteNothingUnnamedOverwritten(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		ctx := context.Background()
		dir := t.TempDir()
		a := makeFile(t, dir, "a.csv", 300)
		_, recs := s.put(a)
		if len(recs) != 1 || recs[0].Status != "created" {
			t.Fatalf("%+v", recs)
		}
		first := recs[0]
		if _, err := s.client.ResourcePatch(ctx, map[string]any{"id": first.ResourceID, "name": "a (2019).csv"}); err != nil {
			t.Fatal(err)
		}
		a2 := makeFile(t, t.TempDir(), "a.csv", 400)
		r, recs := s.put(a2)
		if r.code != 0 || recs[0].Status != "created" || recs[0].ResourceID == first.ResourceID {
			t.Fatalf("second a.csv: exit %d %+v\n%s", r.code, recs, r.stderr)
		}
		if old := s.show(first.ResourceID); old.Name != "a (2019).csv" || old.URL != first.URL || old.Size == nil || *old.Size != 300 {
			t.Errorf("renamed resource changed: %+v", old)
		}

		// Another dataset's resource holds the id derived for b.csv here.
		other := site.Dataset(t)
		siteURL := ckantest.ClientFor(t, site.URL, "").SiteURL()
		taken := publish.DerivedResourceID(siteURL, s.d.ID, "b.csv")
		size := int64(5)
		if _, err := s.client.ResourceCreateFields(ctx, ckan.ResourceFields{ID: taken, PackageID: other.ID, Name: "theirs.csv",
			URL: "https://example.org/theirs.csv", Size: &size}); err != nil {
			t.Fatal(err)
		}
		b := makeFile(t, dir, "b.csv", 200)
		r, recs = s.put(b)
		if r.code != 0 || recs[0].Status != "created" || recs[0].ResourceID == taken {
			t.Fatalf("b.csv: exit %d %+v\n%s", r.code, recs, r.stderr)
		}
		if theirs := s.show(taken); theirs.PackageID != other.ID || theirs.Name != "theirs.csv" || theirs.URL != "https://example.org/theirs.csv" {
			t.Errorf("the other dataset's resource changed: %+v", theirs)
		}

		// A deleted resource of this dataset holds the id derived for c.csv:
		// CKAN keeps it, and creating with its id would bring it back.
		gone := publish.DerivedResourceID(siteURL, s.d.ID, "c.csv")
		if _, err := s.client.ResourceCreateFields(ctx, ckan.ResourceFields{ID: gone, PackageID: s.d.ID, Name: "old c.csv",
			URL: "https://example.org/old.csv"}); err != nil {
			t.Fatal(err)
		}
		if err := s.client.ResourceDelete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		c := makeFile(t, dir, "c.csv", 120)
		r, recs = s.put(c)
		if r.code != 0 || recs[0].Status != "created" || recs[0].ResourceID == gone {
			t.Fatalf("c.csv: exit %d %+v\n%s", r.code, recs, r.stderr)
		}

		_, again := s.put(a2, b, c)
		for _, rec := range again {
			if rec.Status != "skipped" {
				t.Errorf("re-run: %+v", rec)
			}
		}
		if n := len(s.resources()); n != 4 {
			t.Errorf("%d resources, want 4", n)
		}
	})
}

// Case 6: two files with one resource name stop the run with advice that
// keeps both, and following it does.
func TestSiteSameNameAdvice(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		dir := t.TempDir()
		a := makeFile(t, dir, "y2023/data.csv", 100)
		b := makeFile(t, dir, "y2024/data.csv", 200)
		r, _ := s.put(a, b)
		if r.code != exitUsage || !strings.Contains(r.stderr, "to keep both") || strings.Contains(r.stderr, "separate runs") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		r, recs := s.put(dir, "--recursive")
		if r.code != 0 || len(recs) != 2 {
			t.Fatalf("--recursive: exit %d %+v\n%s", r.code, recs, r.stderr)
		}
		names := map[string]bool{}
		for _, res := range s.resources() {
			names[res.Name] = true
		}
		if !names["y2023/data.csv"] || !names["y2024/data.csv"] {
			t.Errorf("resources %v", names)
		}
	})
}

// Case 7: skipped only when the resource points at this run's object and the
// object holds the file; another URL base is applied, a missing bucket fails.
func TestSiteSkipOnlyWhenPointing(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		f := makeFile(t, t.TempDir(), "c.csv", 250)
		_, recs := s.put(f)
		if len(recs) != 1 || recs[0].Status != "created" {
			t.Fatalf("%+v", recs)
		}
		r, recs := s.put(f)
		if r.code != 0 || recs[0].Status != "skipped" || recs[0].Reason == "" {
			t.Errorf("unchanged: exit %d %+v", r.code, recs)
		}
		r, recs = s.put(f, "--bucket", "no-such-bucket")
		if r.code == 0 || recs[0].Status != "failed" {
			t.Errorf("missing bucket: exit %d %+v\n%s", r.code, recs, r.stderr)
		}
		r, recs = s.put(f, "--public-url-base", "https://cdn.example.org/files")
		if r.code != 0 || recs[0].Status != "updated" || recs[0].Uploaded || !strings.Contains(recs[0].Reason, "points at") {
			t.Errorf("new URL base: exit %d %+v\n%s", r.code, recs, r.stderr)
		}
		if got := s.show(recs[0].ResourceID); !strings.HasPrefix(got.URL, "https://cdn.example.org/files/") {
			t.Errorf("url %q", got.URL)
		}
		if !strings.Contains(r.stderr, "points at") {
			t.Errorf("--verbose does not say why:\n%s", r.stderr)
		}
	})
}

// Many files into one dataset: registered in package_revise batches, each
// resource once, and a re-run skips them all.
func TestSiteManyFilesBatched(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		dir := t.TempDir()
		for i := range 25 {
			makeFile(t, dir, fmt.Sprintf("f%02d.csv", i), int64(100+i))
		}
		r, recs := s.put(dir, "-r", "--register-batch", "10")
		if r.code != 0 || len(recs) != 25 {
			t.Fatalf("exit %d, %d records\n%s", r.code, len(recs), r.stderr)
		}
		if !strings.Contains(r.stderr, "in one package_revise call") {
			t.Errorf("no batch registration reported:\n%s", r.stderr)
		}
		if site.Sim != nil {
			if n := site.Sim.CountCalls("package_revise", 200); n < 3 {
				t.Errorf("%d package_revise calls for 25 files in batches of 10", n)
			}
		}
		for _, rec := range recs {
			if rec.Status != "created" {
				t.Errorf("%+v", rec)
			}
		}
		if n := len(s.resources()); n != 25 {
			t.Errorf("%d resources, want 25", n)
		}
		r, recs = s.put(dir, "-r")
		for _, rec := range recs {
			if rec.Status != "skipped" {
				t.Errorf("re-run: %+v", rec)
			}
		}
	})
}

// TestSiteRegistrationTiming measures `ckanup upload DIR -r` of N tiny files
// into a fresh dataset, batched and one call per file, for the sizes listed
// in CKANUP_IT_MEASURE (e.g. "300,1000"; "300:1" measures one call per file
// too). It reports durations and asserts none.
func TestSiteRegistrationTiming(t *testing.T) {
	spec := os.Getenv("CKANUP_IT_MEASURE")
	if spec == "" {
		t.Skip("measurement skipped: set CKANUP_IT_MEASURE=300,1000 (and '300:1' for one call per file) with a real CKAN")
	}
	site := ckantest.Real(t)
	for _, item := range strings.Split(spec, ",") {
		nStr, batch, _ := strings.Cut(item, ":")
		n, err := strconv.Atoi(nStr)
		if err != nil {
			t.Fatalf("CKANUP_IT_MEASURE: %v", err)
		}
		args := []string{"-r", "--output", "json"}
		if batch != "" {
			args = append(args, "--register-batch", batch)
		} else {
			batch = "default"
		}
		t.Run(fmt.Sprintf("%d-files-batch-%s", n, batch), func(t *testing.T) {
			s := newSiteEnv(t, site)
			dir := t.TempDir()
			for i := range n {
				makeFile(t, filepath.Join(dir, fmt.Sprintf("d%d", i/100)), fmt.Sprintf("f%04d.csv", i), 2048)
			}
			start := time.Now()
			r := s.upload(append([]string{dir, "--dataset", s.d.Name}, args...)...)
			took := time.Since(start)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if got := len(s.resources()); got != n {
				t.Errorf("%d resources, want %d", got, n)
			}
			start = time.Now()
			r = s.upload(append([]string{dir, "--dataset", s.d.Name}, args...)...)
			again := time.Since(start)
			t.Logf("MEASURE %d files × 2 KiB, --register-batch %s: upload and register %.1f s (%.0f files/s); unchanged re-run %.1f s",
				n, batch, took.Seconds(), float64(n)/took.Seconds(), again.Seconds())
		})
	}
}
