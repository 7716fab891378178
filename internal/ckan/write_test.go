package ckan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestResourceFieldsJSON(t *testing.T) {
	size := int64(0)
	f := ResourceFields{ID: "r1", URL: "https://b/k", Size: &size, S3Key: "k",
		Extras: map[string]any{"sha256": "abc", "url_type": "upload", "s3_key": "other"}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	want := map[string]any{"id": "r1", "url": "https://b/k", "url_type": "", "size": float64(0), "s3_key": "k", "sha256": "abc"}
	if len(m) != len(want) {
		t.Errorf("sent %s", b)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (all: %s)", k, m[k], v, b)
		}
	}
	// A patch of nothing still sends url_type.
	b, _ = json.Marshal(ResourceFields{ID: "r1"})
	if string(b) != `{"id":"r1","url_type":""}` {
		t.Errorf("minimal patch: %s", b)
	}
}

// TestUploadTypeCleared: a resource CKAN serves from its own storage
// (url_type "upload") serves ckanup's URL once patched with the typed fields,
// which always clear url_type.
func TestUploadTypeCleared(t *testing.T) {
	_, w, url := sim(t)
	ctx := context.Background()
	c, _ := New(url, w.Editor.Token, nil)
	r, err := c.ResourceCreate(ctx, map[string]any{"package_id": "acceptance-dataset", "name": "data.csv", "url": "data.csv", "url_type": "upload"})
	if err != nil || r.URLType != "upload" || !strings.Contains(r.URL, "/download/data.csv") {
		t.Fatalf("created %+v, %v", r, err)
	}
	// The map-taking patch without url_type keeps serving CKAN's download URL.
	r, err = c.ResourcePatch(ctx, map[string]any{"id": r.ID, "url": "https://bucket.example.org/new/data.csv"})
	if err != nil || !strings.Contains(r.URL, "/download/data.csv") {
		t.Fatalf("patched without url_type: %+v, %v", r, err)
	}
	size := int64(5)
	r, err = c.ResourcePatchFields(ctx, ResourceFields{ID: r.ID, URL: "https://bucket.example.org/new/data.csv", Size: &size, Hash: "sha256:00"})
	if err != nil || r.URL != "https://bucket.example.org/new/data.csv" || r.URLType != "" || r.Size == nil || *r.Size != 5 {
		t.Fatalf("patched with fields: %+v, %v", r, err)
	}
	got, err := c.ResourceShow(ctx, r.ID)
	if err != nil || got.URL != r.URL || got.Hash != "sha256:00" {
		t.Errorf("read back %+v, %v", got, err)
	}
	r2, err := c.ResourceCreateFields(ctx, ResourceFields{PackageID: "acceptance-dataset", ID: "0b1c2d3e-0000-4000-8000-000000000001",
		Name: "b.csv", URL: "https://bucket.example.org/b.csv", S3Bucket: "bucket", S3Key: "b.csv"})
	if err != nil || r2.ID != "0b1c2d3e-0000-4000-8000-000000000001" || r2.Extra("s3_key") != "b.csv" || r2.Format != "CSV" {
		t.Errorf("created with fields: %+v, %v", r2, err)
	}
	if _, err := c.ResourceCreateFields(ctx, ResourceFields{Name: "x"}); err == nil {
		t.Error("resource_create without package_id was sent")
	}
	if err := c.ResourceDelete(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResourceShow(ctx, r2.ID); !IsNotFound(err) {
		t.Errorf("deleted resource: %v", err)
	}
}

func TestPackageCreatePatchDelete(t *testing.T) {
	_, w, url := sim(t)
	ctx := context.Background()
	c, _ := New(url, w.Editor.Token, nil)
	d, err := c.PackageCreate(ctx, map[string]any{"name": "throwaway-1", "owner_org": "acceptance-org", "title": "T"})
	if err != nil || d.Name != "throwaway-1" || d.OwnerOrg != w.AcceptanceOrg.ID {
		t.Fatalf("created %+v, %v", d, err)
	}
	if _, err := c.PackageCreate(ctx, map[string]any{"name": "throwaway-1", "owner_org": "acceptance-org"}); err == nil {
		t.Error("a second dataset with the same name was created")
	}
	if _, err := c.PackageCreate(ctx, map[string]any{"name": "throwaway-2", "owner_org": "other-org"}); !IsForbidden(err) {
		t.Errorf("dataset in an organization the user may not edit: %v", err)
	}
	d, err = c.PackagePatch(ctx, map[string]any{"id": d.ID, "title": "New"})
	if err != nil || d.Title != "New" {
		t.Fatalf("patched %+v, %v", d, err)
	}
	if err := c.PackageDelete(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PackageShow(ctx, "throwaway-1"); !IsNotFound(err) {
		t.Errorf("deleted dataset: %v", err)
	}
}

// TestPackageRevise: one call updates resources by id and appends new ones
// with client-chosen ids; a dataset that does not match, or an unknown
// resource id, changes nothing.
func TestPackageRevise(t *testing.T) {
	s, w, url := sim(t)
	ctx := context.Background()
	c, _ := New(url, w.Editor.Token, nil)
	a, err := c.ResourceCreateFields(ctx, ResourceFields{PackageID: "acceptance-dataset", Name: "a.csv", URL: "https://b/a.csv", Description: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	size := int64(7)
	d, err := c.PackageRevise(ctx, Revision{Dataset: w.AcceptanceDataset.ID,
		Update: []ResourceFields{{ID: a.ID, URL: "https://b/a2.csv", Size: &size}},
		Add: []ResourceFields{{ID: "11111111-2222-4333-8444-555555555555", Name: "b.csv", URL: "https://b/b.csv"},
			{Name: "c.csv", URL: "https://b/c.csv"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Resources) != 3 || d.Resources[0].URL != "https://b/a2.csv" || d.Resources[0].Description != "keep" ||
		*d.Resources[0].Size != 7 || d.Resources[1].ID != "11111111-2222-4333-8444-555555555555" || d.Resources[2].ID == "" {
		t.Fatalf("revised dataset: %+v", d.Resources)
	}
	before := s.Resources("acceptance-dataset")
	for name, rev := range map[string]Revision{
		"other dataset": {Dataset: "other-dataset", Add: []ResourceFields{{Name: "x", URL: "https://b/x"}}},
		"unknown id":    {Dataset: w.AcceptanceDataset.ID, Update: []ResourceFields{{ID: "99999999-0000-4000-8000-000000000000", URL: "https://b/y"}}, Add: []ResourceFields{{Name: "z"}}},
	} {
		if _, err := c.PackageRevise(ctx, rev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if after := s.Resources("acceptance-dataset"); len(after) != len(before) {
		t.Errorf("a refused revision changed the dataset: %d → %d resources", len(before), len(after))
	}
}

// TestPackageReviseMissing: a CKAN without package_revise answers 400 "Action
// name not known"; the error says so and matches ErrActionMissing.
func TestPackageReviseMissing(t *testing.T) {
	s, w, url := sim(t)
	s.SetIntercept(func(rw http.ResponseWriter, r *http.Request, action string) bool {
		if action != "package_revise" {
			return false
		}
		rw.Header().Set("Content-Type", "application/json;charset=utf-8")
		rw.WriteHeader(400)
		rw.Write([]byte(`"Bad request - Action name not known: package_revise"`))
		return true
	})
	c, _ := New(url, w.Editor.Token, nil)
	_, err := c.PackageRevise(context.Background(), Revision{Dataset: "acceptance-dataset", Add: []ResourceFields{{Name: "a"}}})
	var ame *ActionMissingError
	if !errors.Is(err, ErrActionMissing) || !errors.As(err, &ame) || ame.Action != "package_revise" || IsTemporary(err) {
		t.Fatalf("err = %v", err)
	}
	// Any other 400 is not "missing".
	s.SetIntercept(nil)
	if _, err := c.PackageRevise(context.Background(), Revision{Dataset: "no-such"}); errors.Is(err, ErrActionMissing) || !IsNotFound(err) {
		t.Errorf("missing dataset: %v", err)
	}
}

func TestDifferences(t *testing.T) {
	n, m := int64(5), int64(6)
	f := ResourceFields{ID: "r", URL: "https://b/k", Size: &n, Hash: "sha256:AB"}
	same := &Resource{URL: "https://b/k", Size: &n, Hash: "sha256:ab"}
	if d := f.Differences(same); len(d) != 0 {
		t.Errorf("same: %v", d)
	}
	other := &Resource{URL: "https://ckan/dataset/d/resource/r/download/k", Size: &m, Hash: "md5:x", URLType: "upload"}
	d := f.Differences(other)
	want := []string{`url: sent "https://b/k", CKAN has "https://ckan/dataset/d/resource/r/download/k"`,
		"size: sent 5, CKAN has 6", `hash: sent "sha256:AB", CKAN has "md5:x"`, `url_type: sent "", CKAN has "upload"`}
	if strings.Join(d, "|") != strings.Join(want, "|") {
		t.Errorf("differences:\n%v\nwant\n%v", d, want)
	}
	if d := f.Differences(&Resource{URL: "https://b/k", Hash: "sha256:ab"}); len(d) != 1 || !strings.Contains(d[0], "CKAN has none") {
		t.Errorf("no size: %v", d)
	}
}

func TestManagedElsewhere(t *testing.T) {
	for _, tc := range []struct {
		r    Resource
		want string
	}{
		{Resource{}, ""},
		{Resource{URLType: "upload"}, ""},
		{Resource{DatastoreActive: true}, "DataStore"},
		{Resource{URLType: "upload", DatastoreActive: true}, "DataStore"},
		{Resource{URLType: "datastore"}, `url_type "datastore"`},
	} {
		got := tc.r.ManagedElsewhere()
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want ~%q", tc.r, got, tc.want)
		}
	}
}

// TestPackageReviseRequest: the package_revise request sends each resource's
// fields as ResourceFields encodes them (url_type always, extras under keys
// the fields do not use, size as an integer) and no package_id: the dataset
// is the one matched.
func TestPackageReviseRequest(t *testing.T) {
	var sent map[string]json.RawMessage
	c := reviseRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		if err := json.NewDecoder(r.Body).Decode(&sent); err != nil {
			t.Errorf("request body: %v", err)
		}
		return false
	})
	big := int64(1)<<53 + 1 // not exact as a float64
	_, err := c.PackageRevise(context.Background(), Revision{Dataset: "ds",
		Update: []ResourceFields{{ID: "u1", PackageID: "ds", URL: "https://b/u", Extras: map[string]any{"custom": "x", "package_id": "other"}}},
		Add:    []ResourceFields{{ID: "a1", PackageID: "ds", URL: "https://b/a", Size: &big}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(sent["match"]) != `{"name":"ds"}` {
		t.Errorf("match: %s", sent["match"])
	}
	var upd map[string]any
	if err := json.Unmarshal(sent["update__resources__u1"], &upd); err != nil {
		t.Fatalf("update__resources__u1: %s", sent["update__resources__u1"])
	}
	if upd["custom"] != "x" || upd["url_type"] != "" || upd["url"] != "https://b/u" || upd["package_id"] != nil {
		t.Errorf("update__resources__u1: %v", upd)
	}
	var add []map[string]json.RawMessage
	if err := json.Unmarshal(sent["update__resources__extend"], &add); err != nil || len(add) != 1 {
		t.Fatalf("update__resources__extend: %s", sent["update__resources__extend"])
	}
	if string(add[0]["size"]) != "9007199254740993" || add[0]["package_id"] != nil || string(add[0]["url_type"]) != `""` {
		t.Errorf("update__resources__extend[0]: %s", sent["update__resources__extend"])
	}
}

// TestPackageReviseStreamedBody: the package_revise request is written as it
// is sent, with its length announced (Content-Length, not chunked: CKAN
// behind uWSGI may refuse a chunked body), and written again, the same, when
// the call is retried.
func TestPackageReviseStreamedBody(t *testing.T) {
	type attempt struct {
		length   int64
		chunked  bool
		body     string
		received int
	}
	var attempts []attempt
	c := reviseRecorder(t, func(w http.ResponseWriter, r *http.Request) bool {
		b, _ := io.ReadAll(r.Body)
		attempts = append(attempts, attempt{r.ContentLength, len(r.TransferEncoding) > 0, string(b), len(b)})
		if len(attempts) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	var add []ResourceFields
	for i := range 300 {
		size := int64(i)
		add = append(add, ResourceFields{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), URL: "https://b/k", Size: &size,
			Extras: map[string]any{"b": i, "a": "x"}})
	}
	if _, err := c.PackageRevise(context.Background(), Revision{Dataset: "ds", Add: add,
		Update: []ResourceFields{{ID: "u1", Description: "d"}}}); err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempts, want 2", len(attempts))
	}
	for i, a := range attempts {
		if a.chunked || a.length != int64(a.received) {
			t.Errorf("attempt %d: Content-Length %d, chunked %v, %d bytes received", i+1, a.length, a.chunked, a.received)
		}
	}
	if attempts[0].body != attempts[1].body {
		t.Errorf("the retried request differs from the first")
	}
	var sent map[string]json.RawMessage
	if err := json.Unmarshal([]byte(attempts[1].body), &sent); err != nil || len(sent) != 3 {
		t.Fatalf("request body (%v): %.300s", err, attempts[1].body)
	}
	var got []map[string]any
	if err := json.Unmarshal(sent["update__resources__extend"], &got); err != nil || len(got) != 300 || got[299]["b"] != float64(299) {
		t.Errorf("update__resources__extend: %v, %d resources", err, len(got))
	}
}

// reviseRecorder is a client of a server that hands each request to seen and
// then, unless seen answered it (returned true), answers as package_revise
// does for a dataset of no resources. Retries wait 1 ms.
func reviseRecorder(t *testing.T, seen func(w http.ResponseWriter, r *http.Request) bool) *Client {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success": true, "result": {"package": {"id": "d1", "name": "ds", "resources": []}}}`))
	}))
	t.Cleanup(hs.Close)
	c, err := New(hs.URL, "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.InitialInterval = time.Millisecond
	return c
}
