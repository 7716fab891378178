package ckansim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

type simEnv struct {
	s  *Server
	w  *World
	hs *httptest.Server
}

func newSim(t *testing.T) *simEnv {
	s := New()
	w := Seed(s)
	hs := httptest.NewUnstartedServer(s)
	s.SiteURL = "http://" + hs.Listener.Addr().String()
	hs.Start()
	t.Cleanup(hs.Close)
	return &simEnv{s, w, hs}
}

// post calls an action with a JSON body and returns the status and the envelope.
func (e *simEnv) post(t *testing.T, action, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/api/3/action/"+action, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env
}

// ok calls an action that must succeed and returns its result.
func (e *simEnv) ok(t *testing.T, action, token string, body any) map[string]any {
	t.Helper()
	status, env := e.post(t, action, token, body)
	if status != 200 {
		t.Fatalf("HTTP %d: %v", status, env)
	}
	return env["result"].(map[string]any)
}

// TestUploadURLType: a url_type "upload" resource is served at CKAN's own
// download URL whatever url was sent; clearing url_type without a url keeps that
// download URL as a plain link; clearing it with a url serves the url.
func TestUploadURLType(t *testing.T) {
	e := newSim(t)
	tok := e.w.Editor.Token
	r := e.ok(t, "resource_create", tok, map[string]any{"package_id": "acceptance-dataset", "name": "Data File.csv",
		"url": "https://bucket.example.org/x/Data File.csv", "url_type": "upload"})
	id := r["id"].(string)
	download := e.hs.URL + "/dataset/" + e.w.AcceptanceDataset.ID + "/resource/" + id + "/download/data-file.csv"
	if r["url"] != download || r["url_type"] != "upload" {
		t.Fatalf("created: url %v url_type %v, want %s", r["url"], r["url_type"], download)
	}
	// A patch that keeps url_type "upload" and sends a new url still serves the
	// download URL (the old file).
	r = e.ok(t, "resource_patch", tok, map[string]any{"id": id, "url": "https://bucket.example.org/y/new.csv"})
	if want := e.hs.URL + "/dataset/" + e.w.AcceptanceDataset.ID + "/resource/" + id + "/download/new.csv"; r["url"] != want {
		t.Errorf("patched with upload kept: url %v, want %s", r["url"], want)
	}
	r = e.ok(t, "resource_patch", tok, map[string]any{"id": id, "url_type": ""})
	if want := e.hs.URL + "/dataset/" + e.w.AcceptanceDataset.ID + "/resource/" + id + "/download/new.csv"; r["url"] != want || r["url_type"] != "" {
		t.Errorf("url_type cleared without url: url %v url_type %v, want %s", r["url"], r["url_type"], want)
	}
	r = e.ok(t, "resource_patch", tok, map[string]any{"id": id, "url_type": "", "url": "https://bucket.example.org/z.csv"})
	if r["url"] != "https://bucket.example.org/z.csv" {
		t.Errorf("url_type cleared with url: %v", r["url"])
	}
}

// TestCreateExistingID: resource_create with an id the dataset holds saves onto
// it as real CKAN 2.10 does (seen in internal/ckan's TestRealCreateExistingID):
// url, description, mimetype… not sent are cleared, other core fields kept,
// extras not sent dropped, and the resource moves to the end.
func TestCreateExistingID(t *testing.T) {
	e := newSim(t)
	tok := e.w.Editor.Token
	r := e.ok(t, "resource_create", tok, map[string]any{"package_id": "acceptance-dataset", "name": "a.csv",
		"url": "https://b/a.csv", "size": 10, "s3_key": "k", "description": "first", "mimetype": "text/csv"})
	id := r["id"].(string)
	e.ok(t, "resource_create", tok, map[string]any{"package_id": "acceptance-dataset", "name": "b.csv", "url": "https://b/b.csv"})
	r = e.ok(t, "resource_create", tok, map[string]any{"package_id": "acceptance-dataset", "id": id, "url": "https://b/other"})
	if r["url"] != "https://b/other" || r["name"] != "a.csv" || r["size"] != float64(10) || r["format"] != "CSV" ||
		r["s3_key"] != nil || r["description"] != nil || r["mimetype"] != nil || r["position"] != float64(2) {
		t.Errorf("overwritten resource: %v", r)
	}
	res := e.s.Resources("acceptance-dataset")
	if len(res) != 2 || res[0]["name"] != "b.csv" || res[0]["position"] != 1 || res[1]["id"] != id {
		t.Errorf("dataset after: %v", res)
	}
}

func TestMungeFilename(t *testing.T) {
	for in, want := range map[string]string{
		"Data File.csv": "data-file.csv", "a": "a__", "x/y/Z.CSV": "z.csv", "a  b.csv": "a-b.csv", "é.csv": "_.csv",
	} {
		if got := mungeFilename(in); got != want {
			t.Errorf("mungeFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGETOnPostOnlyAction: CKAN answers a GET of an action with side effects
// with a bare-string 400 and does nothing; a GET of a read action works.
func TestGETOnPostOnlyAction(t *testing.T) {
	e := newSim(t)
	for action := range postOnly {
		req, _ := http.NewRequest(http.MethodGet, e.hs.URL+"/api/3/action/"+action+"?package_id=acceptance-dataset&url=x", nil)
		req.Header.Set("Authorization", e.w.Editor.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var bare string
		derr := json.NewDecoder(resp.Body).Decode(&bare)
		resp.Body.Close()
		if resp.StatusCode != 400 || derr != nil || bare != getOnPostOnly {
			t.Errorf("GET %s: HTTP %d %q (%v)", action, resp.StatusCode, bare, derr)
		}
	}
	if n := len(e.s.Resources("acceptance-dataset")); n != 0 {
		t.Errorf("a GET created %d resources", n)
	}
	resp, err := http.Get(e.hs.URL + "/api/3/action/package_show?id=acceptance-dataset")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET package_show: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestResourceLookupFollowsChanges: resources are found by id through an
// index; every change that adds, moves or removes one must show in the next
// lookup, also within one call: an id sent twice in one package_revise is
// saved onto the first (as CKAN 2.10 does), a resource taken over from
// another dataset leaves it, a deleted one is gone. (Positions as CKAN 2.10
// leaves them: the one saved onto gets len(resources) at the time.)
func TestResourceLookupFollowsChanges(t *testing.T) {
	e := newSim(t)
	tok := e.w.Editor.Token
	show := func(id string) (int, map[string]any) {
		status, env := e.post(t, "resource_show", tok, map[string]any{"id": id})
		r, _ := env["result"].(map[string]any)
		return status, r
	}
	a := e.ok(t, "resource_create", tok, map[string]any{"package_id": "legacy-dataset", "name": "a.csv", "url": "https://b/a.csv"})["id"].(string)
	if _, r := show(a); r["package_id"] != e.s.datasetByRef("legacy-dataset").ID {
		t.Fatalf("resource_show %s: %v", a, r)
	}
	const dup = "6a0c9f7e-1d1b-4e8e-9c55-3a3a3a3a3a3a"
	e.ok(t, "package_revise", tok, map[string]any{"match": map[string]any{"name": "acceptance-dataset"},
		"update__resources__extend": []any{
			map[string]any{"id": dup, "name": "first", "url": "https://b/1"},
			map[string]any{"id": dup, "name": "second", "url": "https://b/2"},
			map[string]any{"id": a, "name": "taken", "url": "https://b/t"},
		}})
	acc := e.s.datasetByRef("acceptance-dataset").ID
	if n := len(e.s.Resources("acceptance-dataset")); n != 2 {
		t.Errorf("acceptance-dataset holds %d resources, want 2 (the id sent twice saved once)", n)
	}
	if n := len(e.s.Resources("legacy-dataset")); n != len(LegacyResources()) {
		t.Errorf("legacy-dataset holds %d resources after the take-over, want %d", n, len(LegacyResources()))
	}
	if _, r := show(dup); r["name"] != "second" || r["package_id"] != acc || r["position"] != float64(1) {
		t.Errorf("resource_show %s: %v", dup, r)
	}
	if _, r := show(a); r["name"] != "taken" || r["package_id"] != acc || r["position"] != float64(1) {
		t.Errorf("resource_show %s after the take-over: %v", a, r)
	}
	e.ok(t, "resource_patch", tok, map[string]any{"id": dup, "description": "patched"})
	if _, r := show(dup); r["description"] != "patched" {
		t.Errorf("resource_show %s after resource_patch: %v", dup, r)
	}
	if status, _ := e.post(t, "resource_delete", tok, map[string]any{"id": a}); status != 200 {
		t.Fatalf("resource_delete: HTTP %d", status)
	}
	if status, _ := show(a); status != 404 {
		t.Errorf("resource_show of a deleted resource: HTTP %d, want 404", status)
	}
	if _, r := show(dup); r["name"] != "second" {
		t.Errorf("resource_show %s after deleting another: %v", dup, r)
	}
}
