package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Settings kept with `config set` reach the upload, the environment overrides
// them, and a flag overrides both; `config show` says where each came from and
// never prints the token.
func TestConfigSetShowAndUploadUsesSettings(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	ctx := context.Background()
	bucket := e.vars["CKANUP_BUCKET"]
	delete(e.vars, "CKANUP_BUCKET")
	for _, kv := range [][2]string{{"bucket", bucket}, {"part-size", "6MiB"}, {"key_prefix", "from-profile"}, {"concurrency", "3"}} {
		if r := e.run(ctx, "", "config", "set", kv[0], kv[1]); r.code != 0 {
			t.Fatalf("config set %s: exit %d\n%s", kv[0], r.code, r.stderr)
		}
	}
	if r := e.run(ctx, "", "config", "set", "part_size", "1MiB"); r.code != exitUsage || !strings.Contains(r.stderr, "below the S3 minimum") {
		t.Errorf("bad part size: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run(ctx, "", "config", "set", "colour", "blue"); r.code != exitUsage || !strings.Contains(r.stderr, "bucket") {
		t.Errorf("unknown key: exit %d\n%s", r.code, r.stderr)
	}
	p := filepath.Join(e.vars["XDG_CONFIG_HOME"], "ckanup", "config.json")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("profile file: %v %v", fi, err)
	}

	e.vars["CKANUP_CONCURRENCY"] = "5"
	r := e.run(ctx, "", "config", "show", "-o", "json")
	if r.code != 0 {
		t.Fatalf("config show: exit %d\n%s", r.code, r.stderr)
	}
	var show configShow
	if err := json.Unmarshal([]byte(r.stdout), &show); err != nil {
		t.Fatalf("config show -o json: %v\n%s", err, r.stdout)
	}
	got := map[string]shownSetting{}
	for _, s := range show.Settings {
		got[s.Key] = s
	}
	for key, want := range map[string][2]string{
		"bucket":      {bucket, "profile default"},
		"part_size":   {"6MiB", "profile default"},
		"concurrency": {"5", "CKANUP_CONCURRENCY"},
		"ckan_url":    {e.ckanURL, "CKAN_URL"},
		"api_token":   {redacted, "CKAN_API_TOKEN"},
		"path_style":  {"true", "default (endpoint_url is set)"}, // the test environment sets AWS_ENDPOINT_URL_S3
	} {
		if g := got[key]; g.Value != want[0] || g.Source != want[1] {
			t.Errorf("%s = %q from %q, want %q from %q", key, g.Value, g.Source, want[0], want[1])
		}
	}
	r = e.run(ctx, "", "config", "show")
	if r.code != 0 || !strings.Contains(r.stdout, "part_size") || !strings.Contains(r.stdout, "profile default") {
		t.Errorf("config show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The upload takes the profile's part size and prefix, and the environment's
	// concurrency; a flag overrides the profile.
	f := makeFile(t, t.TempDir(), "s.csv", 13<<20)
	r = e.upload(f, "--dataset", "acceptance-dataset", "-o", "json")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || recs[0].PartSize != 6<<20 || !strings.HasPrefix(recs[0].Key, "from-profile/") {
		t.Fatalf("upload with profile settings: exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	r = e.upload(f, "--dataset", "acceptance-dataset", "-o", "json", "--key-prefix", "from-flag", "--force")
	if recs := records(t, r.stdout); r.code != 0 || len(recs) != 1 || !strings.HasPrefix(recs[0].Key, "from-flag/") {
		t.Fatalf("flag over profile: exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	// The journal keeps no lock file once the uploads are done.
	if locks, _ := filepath.Glob(filepath.Join(e.vars["XDG_STATE_HOME"], "ckanup", "uploads", "*.lock")); len(locks) != 0 {
		t.Errorf("lock files left after the uploads: %v", locks)
	}
	e.vars["CKANUP_CONCURRENCY"] = "lots"
	if r := e.upload(f, "--dataset", "acceptance-dataset"); r.code != exitUsage || !strings.Contains(r.stderr, "CKANUP_CONCURRENCY") {
		t.Errorf("bad CKANUP_CONCURRENCY: exit %d\n%s", r.code, r.stderr)
	}
	delete(e.vars, "CKANUP_CONCURRENCY")

	// Settings of a profile for another site are not used.
	if r := e.run(ctx, "", "config", "unset", "bucket"); r.code != 0 {
		t.Fatalf("config unset: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run(ctx, "", "config", "show", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &show); err != nil {
		t.Fatal(err)
	}
	for _, s := range show.Settings {
		if s.Key == "bucket" && s.Value != "" {
			t.Errorf("bucket after unset: %+v", s)
		}
	}
	if strings.Contains(r.stdout+r.stderr, e.world.Editor.Token) {
		t.Error("config show printed the token")
	}
}

func TestLogoutAndWhoamiJSON(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	ctx := context.Background()
	token := e.world.Editor.Token
	site := e.vars["CKAN_URL"]
	delete(e.vars, "CKAN_API_TOKEN")
	delete(e.vars, "CKAN_URL")
	if r := e.run(ctx, "", "config", "set", "bucket", "kept-bucket"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := e.run(ctx, token+"\n", "login", "--ckan-url", site, "--token-stdin"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	r := e.run(ctx, "", "whoami", "-o", "json")
	var w whoamiResult
	if err := json.Unmarshal([]byte(r.stdout), &w); err != nil || r.code != 0 {
		t.Fatalf("whoami -o json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if w.User != "uploader" || w.TokenSource != "profile default" || len(w.Organizations) != 2 || w.Organizations[0].Capacity != "editor" {
		t.Errorf("whoami -o json: %+v", w)
	}
	if r := e.run(ctx, "", "whoami", "-o", "yaml"); r.code != exitUsage {
		t.Errorf("whoami -o yaml: exit %d", r.code)
	}

	r = e.run(ctx, "", "logout")
	if r.code != 0 || !strings.Contains(r.stdout, `profile "default"`) || !strings.Contains(r.stdout, "uploader") {
		t.Fatalf("logout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(e.vars["XDG_CONFIG_HOME"], "ckanup", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), token) || !strings.Contains(string(b), "kept-bucket") {
		t.Errorf("after logout the profile file is:\n%s", b)
	}
	if r := e.run(ctx, "", "whoami"); r.code != exitAuth {
		t.Errorf("whoami after logout: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run(ctx, "", "logout"); r.code != 0 || !strings.Contains(r.stdout, "no saved token") {
		t.Errorf("second logout: exit %d\n%s", r.code, r.stdout)
	}
	if r := e.run(ctx, "", "logout", "--profile", "nope"); r.code != exitUsage || !strings.Contains(r.stderr, "default") {
		t.Errorf("logout of an unknown profile: exit %d\n%s", r.code, r.stderr)
	}
}

func TestCompletion(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	ctx := context.Background()
	complete := func(args ...string) []string {
		t.Helper()
		r := e.run(ctx, "", append([]string{"__complete"}, args...)...)
		if r.code != 0 {
			t.Fatalf("__complete %v: exit %d\n%s", args, r.code, r.stderr)
		}
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if !strings.HasPrefix(l, ":") {
				out = append(out, strings.SplitN(l, "\t", 2)[0])
			}
		}
		return out
	}
	for _, args := range [][]string{{"upload", "-o", ""}, {"uploads", "list", "--output", ""}, {"whoami", "-o", ""}, {"config", "show", "-o", ""}} {
		if got := strings.Join(complete(args...), ","); got != "text,json" {
			t.Errorf("%v: %q", args, got)
		}
	}
	if got := complete("upload", "--dataset", "accept"); strings.Join(got, ",") != "acceptance-dataset" {
		t.Errorf("--dataset accept: %q", got)
	}
	if got := strings.Join(complete("upload", "-d", ""), ","); !strings.Contains(got, "demo-dataset") || strings.Contains(got, "other-private") {
		t.Errorf("-d with nothing typed: %q", got)
	}
	// An unreachable site gives no candidates and no error.
	e.vars["CKAN_URL"] = "http://127.0.0.1:1"
	if got := complete("upload", "--dataset", "acc"); len(got) != 0 {
		t.Errorf("unreachable site: %q", got)
	}
	if got := strings.Join(complete("config", "set", ""), ","); !strings.Contains(got, "part_size") {
		t.Errorf("config set keys: %q", got)
	}
}
