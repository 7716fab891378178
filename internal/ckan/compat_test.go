package ckan_test

// Tests of CKAN behaviour ckanup depends on, each run against the simulator
// and against a real CKAN (see internal/ckantest for how to switch that on),
// in its own throwaway dataset of acceptance-org.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/ckansim"
	"github.com/ckanup/ckanup/internal/ckantest"
)

// TestCompatRedirect: through a proxy that redirects to the real CKAN (as an
// http:// site redirecting to https:// does), every call — GET or POST — stops
// with a RedirectError naming the real site, and nothing reaches the dataset;
// login's SettledSiteURL finds the real site.
func TestCompatRedirect(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		d := site.Dataset(t)
		ctx := context.Background()
		for _, status := range []int{301, 302, 307, 308} {
			front := httptest.NewServer(&ckansim.Redirector{Target: site.URL, Status: status})
			c := ckantest.ClientFor(t, front.URL, site.EditorToken)
			_, err := c.PackageShow(ctx, d.ID)
			if re, ok := ckan.IsRedirect(err); !ok || re.SiteURL != site.URL {
				t.Errorf("%d package_show: %v", status, err)
			}
			_, err = c.ResourceCreateFields(ctx, ckan.ResourceFields{PackageID: d.ID, Name: "r.csv", URL: "https://example.org/r.csv"})
			if re, ok := ckan.IsRedirect(err); !ok || re.SiteURL != site.URL || ckan.IsTemporary(err) ||
				!strings.Contains(err.Error(), "use --ckan-url "+site.URL) {
				t.Errorf("%d resource_create: %v", status, err)
			}
			settled, err := c.SettledSiteURL(ctx)
			if err != nil || settled != site.URL {
				t.Errorf("%d settled: %q, %v", status, settled, err)
			}
			front.Close()
		}
		got, err := site.Client(t, site.EditorToken).PackageShow(ctx, d.ID)
		if err != nil || len(got.Resources) != 0 {
			t.Errorf("the dataset changed through a redirect: %v, %v", got, err)
		}
	})
}

// headerProxy is a reverse proxy to the real CKAN that drops the named request
// headers, as a proxy doing its own login on Authorization does.
func headerProxy(t *testing.T, target string, drop ...string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = u.Host
		for _, h := range drop {
			pr.Out.Header.Del(h)
		}
	}}
	hs := httptest.NewServer(rp)
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestCompatTokenHeader: CKAN 2.10 with default settings reads X-CKAN-API-Key,
// then Authorization. Through a proxy that passes only X-CKAN-API-Key, the
// default (both headers) and X-CKAN-API-Key work and Authorization alone is
// refused with an error naming the header and apitoken_header_name; through
// one that passes only Authorization, the converse.
func TestCompatTokenHeader(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		ctx := context.Background()
		for _, tc := range []struct {
			proxy  string
			header string
			ok     bool
		}{
			{"direct", "", true},
			{"direct", ckan.HeaderAuthorization, true},
			{"direct", ckan.HeaderAPIKey, true},
			{"drops Authorization", "", true},
			{"drops Authorization", ckan.HeaderAPIKey, true},
			{"drops Authorization", ckan.HeaderAuthorization, false},
			{"drops X-CKAN-API-Key", "", true},
			{"drops X-CKAN-API-Key", ckan.HeaderAuthorization, true},
			{"drops X-CKAN-API-Key", ckan.HeaderAPIKey, false},
		} {
			base := site.URL
			switch tc.proxy {
			case "drops Authorization":
				base = headerProxy(t, site.URL, "Authorization")
			case "drops X-CKAN-API-Key":
				base = headerProxy(t, site.URL, "X-CKAN-API-Key")
			}
			c := ckantest.ClientFor(t, base, site.EditorToken)
			c.TokenHeader = tc.header
			u, err := c.CurrentUser(ctx)
			name := fmt.Sprintf("%s, header %q", tc.proxy, tc.header)
			if tc.ok {
				if err != nil || u.Name == "" {
					t.Errorf("%s: %v, %v", name, u, err)
				}
				continue
			}
			var tre *ckan.TokenRefusedError
			if !errors.Is(err, ckan.ErrNotAuthenticated) || !errors.As(err, &tre) || !strings.Contains(err.Error(), tc.header) ||
				!strings.Contains(err.Error(), "apitoken_header_name") {
				t.Errorf("%s: err = %v", name, err)
			}
		}
	})
}

// TestCompatLegacyFields: what a real CKAN 2.10 stores and answers for loosely
// typed input, read back through the client. CKAN 2.10 itself turns "1234"
// into 1234 and "" into null for size, and keeps extras as sent, so a string
// "True" for datastore_active comes back as a string.
func TestCompatLegacyFields(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		d := site.Dataset(t)
		ctx := context.Background()
		c := site.Client(t, site.EditorToken)
		for _, f := range []map[string]any{
			{"name": "string-size.csv", "size": "1234", "datastore_active": "True", "url": "https://example.org/a.csv"},
			{"name": "empty-size.csv", "size": "", "datastore_active": "false", "url": "https://example.org/b.csv"},
			{"name": 2019, "description": 42, "url": "https://example.org/c.csv", "extra_number": 3.5},
		} {
			f["package_id"] = d.ID
			if _, err := c.ResourceCreate(ctx, f); err != nil {
				t.Fatalf("create %v: %v", f["name"], err)
			}
		}
		if _, err := c.ResourceCreate(ctx, map[string]any{"package_id": d.ID, "name": "none.csv", "size": "None"}); err == nil {
			t.Error(`CKAN 2.10 accepted size "None"`)
		} else {
			t.Logf(`size "None" on create: %v`, err)
		}
		got, err := c.PackageShow(ctx, d.ID)
		if err != nil {
			t.Fatalf("package_show: %v", err)
		}
		if len(got.Resources) != 3 {
			t.Fatalf("%d resources", len(got.Resources))
		}
		r0, r1, r2 := got.Resources[0], got.Resources[1], got.Resources[2]
		t.Logf("stored: size %s / %s, datastore_active %v / %v, name %q, description %q",
			fmtSize(r0.Size), fmtSize(r1.Size), r0.DatastoreActive, r1.DatastoreActive, r2.Name, r2.Description)
		if r0.Size == nil || *r0.Size != 1234 || !r0.DatastoreActive || r0.Position != 0 {
			t.Errorf("string-size.csv: %+v", r0)
		}
		if r1.Size != nil || r1.DatastoreActive || r1.Position != 1 {
			t.Errorf("empty-size.csv: %+v", r1)
		}
		if r2.Name != "2019" || r2.Description != "42" {
			t.Errorf("numeric name: %+v", r2)
		}
	})
}

// TestCompatUploadURLType: a resource CKAN believes is in its own storage
// (url_type "upload") is served at CKAN's download URL whatever url is sent,
// until url_type is cleared.
func TestCompatUploadURLType(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		d := site.Dataset(t)
		ctx := context.Background()
		c := site.Client(t, site.EditorToken)
		r, err := c.ResourceCreate(ctx, map[string]any{"package_id": d.ID, "name": "Data File.csv", "url": "Data File.csv", "url_type": "upload"})
		if err != nil {
			t.Fatal(err)
		}
		download := fmt.Sprintf("%s/dataset/%s/resource/%s/download/", site.URL, d.ID, r.ID)
		t.Logf("created url_type %q url %q", r.URLType, r.URL)
		if r.URLType != "upload" || r.URL != download+"data-file.csv" {
			t.Errorf("created: url_type %q url %q, want %sdata-file.csv", r.URLType, r.URL, download)
		}
		// Patched with a new url but url_type left alone: still CKAN's URL.
		r, err = c.ResourcePatch(ctx, map[string]any{"id": r.ID, "url": "https://bucket.example.org/k/new.csv"})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("patched url only: url_type %q url %q", r.URLType, r.URL)
		if r.URLType != "upload" || r.URL != download+"new.csv" {
			t.Errorf("patched url only: url_type %q url %q", r.URLType, r.URL)
		}
		// Reading back shows it: the url CKAN serves is not the one sent.
		if d := (ckan.ResourceFields{URL: "https://bucket.example.org/k/new.csv"}).Differences(r); len(d) != 2 {
			t.Errorf("differences after an url-only patch: %v", d)
		}
		// url_type "" without a url: the download URL stays, now as a plain link.
		r, err = c.ResourcePatchFields(ctx, ckan.ResourceFields{ID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf(`patched url_type "" only: url_type %q url %q`, r.URLType, r.URL)
		if r.URLType != "" || r.URL != download+"new.csv" {
			t.Errorf(`url_type "" only: url_type %q url %q`, r.URLType, r.URL)
		}
		// With the typed fields (url and url_type ""), the url is ckanup's.
		r2, err := c.ResourceCreate(ctx, map[string]any{"package_id": d.ID, "name": "b.csv", "url": "b.csv", "url_type": "upload"})
		if err != nil {
			t.Fatal(err)
		}
		r2, err = c.ResourcePatchFields(ctx, ckan.ResourceFields{ID: r2.ID, URL: "https://bucket.example.org/k/b.csv"})
		if err != nil || r2.URL != "https://bucket.example.org/k/b.csv" || r2.URLType != "" {
			t.Errorf("typed patch: %+v, %v", r2, err)
		}
		shown, err := c.ResourceShow(ctx, r2.ID)
		if err != nil || shown.URL != "https://bucket.example.org/k/b.csv" {
			t.Errorf("read back: %+v, %v", shown, err)
		}
	})
}

// TestCompatCreateExistingID: resource_create with an id the dataset already
// holds answers 200 and saves onto that resource.
func TestCompatCreateExistingID(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		d := site.Dataset(t)
		ctx := context.Background()
		c := site.Client(t, site.EditorToken)
		size := int64(10)
		a, err := c.ResourceCreateFields(ctx, ckan.ResourceFields{PackageID: d.ID, Name: "a.csv", URL: "https://example.org/a.csv",
			Size: &size, Description: "first", S3Key: "k/a.csv"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.ResourceCreateFields(ctx, ckan.ResourceFields{PackageID: d.ID, Name: "b.csv", URL: "https://example.org/b.csv"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.ResourceCreate(ctx, map[string]any{"package_id": d.ID, "id": a.ID, "url": "https://example.org/overwritten"})
		if err != nil {
			t.Fatalf("resource_create with an existing id: %v", err)
		}
		got, err := c.PackageShow(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got.Resources {
			ids = append(ids, fmt.Sprintf("%s=%s@%d", r.Name, r.ID[:8], r.Position))
		}
		t.Logf("after: answer name %q url %q size %d description %q s3_key %q position %d; dataset %v",
			again.Name, again.URL, *again.Size, again.Description, again.Extra("s3_key"), again.Position, ids)
		if again.ID != a.ID || again.URL != "https://example.org/overwritten" || again.Extra("s3_key") != "" {
			t.Errorf("overwrite: %+v", again)
		}
		// CKAN clears the columns it marks remove_if_not_provided (url,
		// description, resource_type, mimetype, mimetype_inner) and keeps the
		// others (name, size, format, hash, url_type, …); the resource moves to
		// the end of the dataset.
		if again.Name != "a.csv" || again.Size == nil || *again.Size != 10 || again.Description != "" {
			t.Errorf("core fields: %+v", again)
		}
		if len(got.Resources) != 2 || got.Resources[0].ID != b.ID || got.Resources[1].ID != a.ID || got.Resources[1].Position != 2 {
			t.Errorf("dataset after: %v", ids)
		}
	})
}

// TestCompatPackageRevise: one package_revise updates a resource by id and adds
// new ones with client-chosen ids; a revision naming an id the dataset does
// not hold is refused whole.
func TestCompatPackageRevise(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		d := site.Dataset(t)
		ctx := context.Background()
		c := site.Client(t, site.EditorToken)
		a, err := c.ResourceCreateFields(ctx, ckan.ResourceFields{PackageID: d.ID, Name: "a.csv", URL: "a.csv", URLType: "upload", Description: "keep"})
		if err != nil {
			t.Fatal(err)
		}
		size := int64(7)
		newID := "6f0c9a52-1b0e-4c53-9a57-0d7a3c1e2f40"
		got, err := c.PackageRevise(ctx, ckan.Revision{Dataset: d.ID,
			Update: []ckan.ResourceFields{{ID: a.ID, URL: "https://bucket.example.org/a.csv", Size: &size, Hash: "sha256:00"}},
			Add: []ckan.ResourceFields{{ID: newID, Name: "b.csv", URL: "https://bucket.example.org/b.csv", S3Key: "k/b.csv"},
				{Name: "c.csv", URL: "https://bucket.example.org/c.csv"}}})
		if err != nil {
			t.Fatalf("package_revise: %v", err)
		}
		if len(got.Resources) != 3 {
			t.Fatalf("%d resources after revise", len(got.Resources))
		}
		r0, r1 := got.Resources[0], got.Resources[1]
		t.Logf("revised: %q url_type %q size %d description %q; added %s %q s3_key %q", r0.URL, r0.URLType, *r0.Size, r0.Description, r1.ID, r1.URL, r1.S3Key)
		if r0.URL != "https://bucket.example.org/a.csv" || r0.URLType != "" || r0.Size == nil || *r0.Size != 7 || r0.Description != "keep" {
			t.Errorf("updated resource: %+v", r0)
		}
		if r1.ID != newID || r1.S3Key != "k/b.csv" || got.Resources[2].ID == "" {
			t.Errorf("added resources: %+v / %+v", r1, got.Resources[2])
		}
		_, err = c.PackageRevise(ctx, ckan.Revision{Dataset: d.ID,
			Update: []ckan.ResourceFields{{ID: "00000000-dead-4000-8000-000000000000", URL: "https://x/y"}},
			Add:    []ckan.ResourceFields{{Name: "d.csv", URL: "https://x/d.csv"}}})
		t.Logf("unknown id: %v", err)
		var ae *ckan.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
			t.Errorf("unknown id: %v", err)
		}
		if after, err := c.PackageShow(ctx, d.ID); err != nil || len(after.Resources) != 3 {
			t.Errorf("a refused revision changed the dataset: %v", err)
		}
		other, err := c.PackageShow(ctx, "other-dataset")
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"other-dataset", other.ID} {
			_, err = c.PackageRevise(ctx, ckan.Revision{Dataset: ref, Add: []ckan.ResourceFields{{Name: "x", URL: "https://x/x"}}})
			if !ckan.IsForbidden(err) {
				t.Errorf("revise %s of another organization: %v", ref, err)
			}
		}
		// Extending with an id the dataset already holds overwrites that resource
		// silently and moves it to the end, like resource_create.
		got, err = c.PackageRevise(ctx, ckan.Revision{Dataset: d.ID, Add: []ckan.ResourceFields{{ID: newID, Name: "b2.csv", URL: "https://x/b2.csv"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Resources) != 1 || got.Resources[0].ID != newID || got.Resources[0].Name != "b2.csv" {
			t.Errorf("extend with an existing id: the answer holds %+v, want only the resource named", got.Resources)
		}
		after, err := c.PackageShow(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range after.Resources {
			names = append(names, r.Name+"@"+r.ID[:8])
		}
		t.Logf("extend with an existing id: resources %v", names)
		if len(after.Resources) != 3 || after.Resources[2].ID != newID || after.Resources[2].Name != "b2.csv" {
			t.Errorf("extend with an existing id: %v", names)
		}
	})
}

// TestCompatGETOnPostOnly: CKAN refuses a GET of an action with side effects
// with a bare-string 400 (so a client that turned a redirected POST into a
// GET would fail this way), and creates nothing.
func TestCompatGETOnPostOnly(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		d := site.Dataset(t)
		req, _ := http.NewRequest(http.MethodGet, site.URL+"/api/3/action/resource_create?package_id="+d.ID+"&url=https://x/y.csv", nil)
		req.Header.Set("Authorization", site.EditorToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var bare string
		if err := json.NewDecoder(resp.Body).Decode(&bare); err != nil || resp.StatusCode != 400 ||
			!strings.Contains(bare, "Please use POST method") {
			t.Errorf("GET resource_create: HTTP %d %q (%v)", resp.StatusCode, bare, err)
		}
		got, err := site.Client(t, site.EditorToken).PackageShow(context.Background(), d.ID)
		if err != nil || len(got.Resources) != 0 {
			t.Errorf("after the GET: %v, %v", got, err)
		}
	})
}

// fmtSize prints a resource's size, "none" when unset.
func fmtSize(n *int64) string {
	if n == nil {
		return "none"
	}
	return fmt.Sprint(*n)
}
