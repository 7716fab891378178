package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSaveLoadAndPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckanup")
	f := &File{Profiles: map[string]Profile{"default": {CKANURL: "https://x", APIToken: "t", User: "u"}}}
	p, err := Save(dir, f)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes %v %v", fi.Mode().Perm(), di.Mode().Perm())
	}
	got, err := Load(dir)
	if err != nil || got.Profiles["default"].APIToken != "t" {
		t.Fatalf("%+v %v", got, err)
	}
	os.Chmod(p, 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrInsecure) {
		t.Errorf("world-readable profile: %v", err)
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("{not json"), 0o600)
	if _, err := Load(dir); err == nil {
		t.Error("corrupt profile accepted")
	}
	if f, err := Load(filepath.Join(t.TempDir(), "none")); err != nil || len(f.Profiles) != 0 {
		t.Errorf("missing file: %v %v", f, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"profiles": {"default": {"ckan_url": "https://x", "api_token": "t"}}}`))
	f.Add([]byte(`{"profiles": null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var file File
		if err := Parse(b, &file); err == nil && file.Profiles == nil {
			t.Fatal("nil profiles after a successful parse")
		}
	})
}
