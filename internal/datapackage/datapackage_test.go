package datapackage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	raw := `{"name": "air-quality", "title": "Air quality", "description": "Hourly readings",
	  "licenses": [{"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0"}],
	  "keywords": ["air", "pm10"],
	  "resources": [
	    {"name": "readings", "path": "data/readings.csv", "format": "csv", "mediatype": "text/csv", "bytes": 12, "hash": "sha256:00ff"},
	    {"path": "https://example.org/stations.geojson", "description": "Stations"},
	    {"name": "old", "path": "old.csv", "hash": "0123abcd"}
	  ]}`
	p, err := Parse("/tmp/x/datapackage.json", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "air-quality" || p.Title != "Air quality" || p.LicenseID() != "CC-BY-4.0" || len(p.Keywords) != 2 {
		t.Errorf("package: %+v", p)
	}
	if !p.Has["title"] || !p.Has["licenses"] || !p.Has["keywords"] || !p.Has["description"] {
		t.Errorf("Has: %v", p.Has)
	}
	r := p.Resources
	if r[0].ResourceName() != "readings" || r[0].Remote() || *r[0].Bytes != 12 || p.LocalPath(&r[0]) != filepath.FromSlash("/tmp/x/data/readings.csv") {
		t.Errorf("resources[0]: %+v", r[0])
	}
	if r[1].ResourceName() != "stations.geojson" || !r[1].Remote() || r[1].Bytes != nil {
		t.Errorf("resources[1]: %+v", r[1])
	}
}

// TestParseNamesFieldAndFile: each malformed descriptor is refused with an
// error naming the file and the field at fault.
func TestParseNamesFieldAndFile(t *testing.T) {
	const ok = `"resources": [{"name": "a", "path": "a.csv"}]`
	cases := []struct{ name, raw, field string }{
		{"no name", `{` + ok + `}`, "name"},
		{"name not CKAN", `{"name": "Air Quality", ` + ok + `}`, "name"},
		{"name with dot", `{"name": "air.quality", ` + ok + `}`, "name"},
		{"title not string", `{"name": "ab", "title": 3, ` + ok + `}`, "title"},
		{"licenses not list", `{"name": "ab", "licenses": "CC-BY-4.0", ` + ok + `}`, "licenses"},
		{"license without name", `{"name": "ab", "licenses": [{"title": "x"}], ` + ok + `}`, "licenses[0]"},
		{"keywords not strings", `{"name": "ab", "keywords": [1], ` + ok + `}`, "keywords"},
		{"no resources", `{"name": "ab"}`, "resources"},
		{"empty resources", `{"name": "ab", "resources": []}`, "resources"},
		{"no path", `{"name": "ab", "resources": [{"name": "a"}]}`, "resources[0].path"},
		{"inline data", `{"name": "ab", "resources": [{"name": "a", "data": [1]}]}`, "resources[0].data"},
		{"chunked path", `{"name": "ab", "resources": [{"name": "a", "path": ["a", "b"]}]}`, "resources[0].path"},
		{"absolute path", `{"name": "ab", "resources": [{"name": "a", "path": "/etc/passwd"}]}`, "resources[0].path"},
		{"dot dot", `{"name": "ab", "resources": [{"name": "a", "path": "x/../../y"}]}`, "resources[0].path"},
		{"ftp", `{"name": "ab", "resources": [{"name": "a", "path": "ftp://h/x"}]}`, "resources[0].path"},
		{"bytes negative", `{"name": "ab", "resources": [{"name": "a", "path": "a", "bytes": -1}]}`, "resources[0].bytes"},
		{"bytes fraction", `{"name": "ab", "resources": [{"name": "a", "path": "a", "bytes": 1.5}]}`, "resources[0].bytes"},
		{"bytes text", `{"name": "ab", "resources": [{"name": "a", "path": "a", "bytes": "12"}]}`, "resources[0].bytes"},
		{"bad hash", `{"name": "ab", "resources": [{"name": "a", "path": "a", "hash": "sha256:xyz"}]}`, "resources[0].hash"},
		{"resource name", `{"name": "ab", "resources": [{"name": "A B", "path": "a"}]}`, "resources[0].name"},
		{"duplicate names", `{"name": "ab", "resources": [{"name": "a", "path": "a"}, {"path": "x/a"}]}`, "resources[1].name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("pkg/datapackage.json", []byte(c.raw))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FieldError", err)
			}
			if fe.Field != c.field || !strings.HasPrefix(err.Error(), "pkg/datapackage.json: "+c.field+": ") {
				t.Errorf("got %q, want field %s", err, c.field)
			}
		})
	}
	if _, err := Parse("pkg/datapackage.json", []byte(`{"name": `)); err == nil || !strings.Contains(err.Error(), "pkg/datapackage.json") {
		t.Errorf("broken JSON: %v", err)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), FileName) {
		t.Errorf("empty directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"name": "ab", "resources": [{"path": "a.csv"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(dir)
	if err != nil || p.Dir != dir || p.File != filepath.Join(dir, FileName) {
		t.Fatalf("%+v %v", p, err)
	}
}

// TestWriteBack: bytes and hash are filled in place or appended, every other
// field, the key order and the indentation stay; a second call changes nothing.
func TestWriteBack(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, FileName)
	orig := "{\n    \"zeta\": 1,\n    \"name\": \"ab\",\n    \"resources\": [\n        {\n            \"path\": \"a.csv\",\n            \"hash\": \"md5x\",\n            \"x-custom\": {\"b\": [1, 2.50], \"a\": null}\n        },\n        {\n            \"path\": \"https://example.org/b\"\n        },\n        {\n            \"path\": \"c<&>.csv\"\n        }\n    ],\n    \"alpha\": true\n}\n"
	if err := os.WriteFile(file, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	changed, err := WriteBack(file, map[int]Fill{0: {Bytes: 5, SHA256: "aa"}, 2: {Bytes: 0, SHA256: "bb"}})
	if err != nil || !changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	got, _ := os.ReadFile(file)
	want := "{\n    \"zeta\": 1,\n    \"name\": \"ab\",\n    \"resources\": [\n        {\n            \"path\": \"a.csv\",\n            \"hash\": \"sha256:aa\",\n            \"x-custom\": {\n                \"b\": [\n                    1,\n                    2.50\n                ],\n                \"a\": null\n            },\n            \"bytes\": 5\n        },\n        {\n            \"path\": \"https://example.org/b\"\n        },\n        {\n            \"path\": \"c<&>.csv\",\n            \"bytes\": 0,\n            \"hash\": \"sha256:bb\"\n        }\n    ],\n    \"alpha\": true\n}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := Parse(file, got); err != nil {
		t.Errorf("written descriptor does not parse: %v", err)
	}
	changed, err = WriteBack(file, map[int]Fill{0: {Bytes: 5, SHA256: "aa"}})
	if err != nil || changed {
		t.Errorf("second write: changed %v, %v", changed, err)
	}
}
