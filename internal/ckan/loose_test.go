package ckan

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ckanup/ckanup/internal/ckansim"
)

func TestLooseInt(t *testing.T) {
	cases := []struct {
		raw  string
		want int64
		ok   bool
	}{
		{`1234`, 1234, true},
		{`"1234"`, 1234, true},
		{`" 1234 "`, 1234, true},
		{`1234.0`, 1234, true},
		{`"1234.0"`, 1234, true},
		{`1e3`, 1000, true},
		{`-7`, -7, true},
		{`0`, 0, true},
		{`9223372036854775807`, 9223372036854775807, true},
		{`9223372036854775808`, 0, false},
		{`1e300`, 0, false},
		{`12.5`, 0, false},
		{`"12.5"`, 0, false},
		{`""`, 0, false},
		{`"None"`, 0, false},
		{`"null"`, 0, false},
		{`null`, 0, false},
		{`true`, 0, false},
		{`{}`, 0, false},
		{`[1]`, 0, false},
		{`"NaN"`, 0, false},
		{`"Inf"`, 0, false},
		{``, 0, false},
	}
	for _, tc := range cases {
		got, ok := LooseInt([]byte(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("LooseInt(%s) = %d, %v; want %d, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLooseBool(t *testing.T) {
	cases := map[string]bool{
		`true`: true, `false`: false, `"True"`: true, `"true"`: true, `"TRUE"`: true, `"yes"`: true,
		`"on"`: true, `"1"`: true, `"t"`: true, `"y"`: true, `1`: true, `1.0`: true, `2`: true,
		`"False"`: false, `"false"`: false, `"no"`: false, `"0"`: false, `0`: false, `""`: false,
		`"None"`: false, `null`: false, `{}`: false, `[]`: false, `"maybe"`: false, `0.0`: false,
	}
	for raw, want := range cases {
		var b Bool
		if err := json.Unmarshal([]byte(raw), &b); err != nil || bool(b) != want {
			t.Errorf("Bool from %s = %v, %v; want %v", raw, b, err, want)
		}
	}
}

func TestLooseString(t *testing.T) {
	cases := map[string]string{
		`"a"`: "a", `2019`: "2019", `1.5`: "1.5", `true`: "true", `null`: "", `{}`: "", `[1]`: "", `""`: "",
	}
	for raw, want := range cases {
		if got := looseString([]byte(raw)); got != want {
			t.Errorf("looseString(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestIntJSONRoundTrip(t *testing.T) {
	var v struct{ N, M Int }
	if err := json.Unmarshal([]byte(`{"N": "42", "M": "None"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.N.Ptr() == nil || *v.N.Ptr() != 42 || v.M.Ptr() != nil {
		t.Fatalf("decoded %+v", v)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"N":42,"M":null}` {
		t.Errorf("encoded %s", b)
	}
}

func legacyAnswer(t testing.TB) []byte {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "ckan-legacy", "package_show_legacy.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeLegacyDataset reads a dataset whose resources hold the values older
// portals store: every resource is there, each field as far as it is readable.
func TestDecodeLegacyDataset(t *testing.T) {
	var d Dataset
	if err := decode("package_show", 200, "application/json", legacyAnswer(t), &d); err != nil {
		t.Fatalf("legacy dataset: %v", err)
	}
	if d.Private || d.Organization == nil || d.Organization.Name != "legacy-org" {
		t.Errorf("dataset fields: %+v", d)
	}
	type want struct {
		name     string
		size     int64 // -1: nil
		position int
		ds       bool
		urlType  string
	}
	wants := []want{
		{"old.csv", -1, 0, false, ""},
		{"empty-size.csv", -1, 1, false, ""},
		{"string-size.csv", 1234, 2, true, ""},
		{"float-size.csv", 1234, 3, true, ""},
		{"2019", -1, -1, false, ""},
		{"datastore.csv", -1, 5, true, "datastore"},
		{"data.csv", 2048, 6, false, "upload"},
		{"neg.csv", -1, -1, false, ""},
	}
	if len(d.Resources) != len(wants) {
		t.Fatalf("%d resources, want %d", len(d.Resources), len(wants))
	}
	for i, w := range wants {
		r := d.Resources[i]
		size := int64(-1)
		if r.Size != nil {
			size = *r.Size
		}
		if r.Name != w.name || size != w.size || r.Position != w.position || r.DatastoreActive != w.ds || r.URLType != w.urlType {
			t.Errorf("resource %d: name %q size %d position %d datastore %v url_type %q; want %+v",
				i, r.Name, size, r.Position, r.DatastoreActive, r.URLType, w)
		}
		if r.Fields()["id"] != r.ID || r.ID == "" || r.Extra("id") != r.ID {
			t.Errorf("resource %d: the dict lost the id: %v", i, r.Fields())
		}
	}
	if d.Resources[4].Description != "42" {
		t.Errorf("numeric description read as %q", d.Resources[4].Description)
	}
}

// TestDecodeOddEntries: entries that are not resources at all are left out
// without failing the dataset; a dataset whose resources are not a list fails.
func TestDecodeOddEntries(t *testing.T) {
	var d Dataset
	body := `{"success": true, "result": {"name": "x", "private": "yes", "resources": [null, "junk", 3, [], {"id": "r1", "name": "ok.csv", "size": "None"}]}}`
	if err := decode("package_show", 200, "", []byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Private || len(d.Resources) != 1 || d.Resources[0].ID != "r1" || d.Resources[0].Size != nil {
		t.Errorf("decoded %+v", d)
	}
	body = `{"success": true, "result": {"name": "x", "resources": "none"}}`
	if err := decode("package_show", 200, "", []byte(body), &d); err == nil {
		t.Error("resources that are not a list were accepted")
	}
	var u User
	if err := decode("user_show", 200, "", []byte(`{"success": true, "result": {"name": "u", "sysadmin": "True"}}`), &u); err != nil || !u.Sysadmin {
		t.Errorf("user %+v, %v", u, err)
	}
}

// TestLegacyDatasetFromSimulator reads the simulator's legacy dataset through
// the client: the odd resources are all there and the dataset is usable.
func TestLegacyDatasetFromSimulator(t *testing.T) {
	_, w, url := sim(t)
	c, _ := New(url, w.Editor.Token, nil)
	d, err := c.PackageShow(context.Background(), "legacy-dataset")
	if err != nil {
		t.Fatalf("legacy dataset: %v", err)
	}
	if len(d.Resources) != len(ckansim.LegacyResources()) {
		t.Fatalf("%d resources, want %d", len(d.Resources), len(ckansim.LegacyResources()))
	}
	byName := map[string]Resource{}
	for _, r := range d.Resources {
		byName[r.Name] = r
	}
	if r := byName["string-size.csv"]; r.Size == nil || *r.Size != 1234 || !r.DatastoreActive {
		t.Errorf("string-size.csv: %+v", r)
	}
	if r := byName["old.csv"]; r.Size != nil || r.DatastoreActive || r.Position != 0 {
		t.Errorf("old.csv: %+v", r)
	}
	up := byName["uploaded.csv"]
	if up.URLType != "upload" || up.URL != url+"/dataset/"+d.ID+"/resource/"+up.ID+"/download/uploaded.csv" {
		t.Errorf("uploaded.csv: url_type %q url %q", up.URLType, up.URL)
	}
	if _, ok := byName["2019"]; !ok {
		t.Errorf("the resource named by a number is missing: %v", byName)
	}
}

// TestResourceKeepsItsOwnDict: Extra and Fields read the dict the Resource
// keeps, which is its own copy: the buffer it was decoded from may be reused.
func TestResourceKeepsItsOwnDict(t *testing.T) {
	buf := []byte(`{"id": "r1", "s3_key": "k/a.csv", "size": 3, "extra_num": 7}`)
	var r Resource
	if err := json.Unmarshal(buf, &r); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = ' '
	}
	if r.Extra("s3_key") != "k/a.csv" || r.Extra("extra_num") != "" || r.Extra("absent") != "" {
		t.Errorf("Extra: s3_key %q, extra_num %q, absent %q", r.Extra("s3_key"), r.Extra("extra_num"), r.Extra("absent"))
	}
	if f := r.Fields(); f["id"] != "r1" || f["extra_num"] != float64(7) || len(f) != 4 {
		t.Errorf("Fields: %v", f)
	}
	var zero Resource
	if zero.Extra("s3_key") != "" || zero.Fields() != nil {
		t.Errorf("a Resource not read from CKAN: Extra %q, Fields %v", zero.Extra("s3_key"), zero.Fields())
	}
}
