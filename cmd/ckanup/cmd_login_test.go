package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/ckansim"
)

func TestLoginSavesProfileAndUploadUsesIt(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	token := e.world.Editor.Token
	delete(e.vars, "CKAN_API_TOKEN")
	site := e.vars["CKAN_URL"]
	delete(e.vars, "CKAN_URL")

	r := e.run(context.Background(), "not-a-real-token\n", "login", "--ckan-url", site, "--token-stdin")
	if r.code != exitAuth || !strings.Contains(r.stderr, "did not accept the API token") {
		t.Fatalf("bad token: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run(context.Background(), "", "login", "--ckan-url", site)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--token-stdin") {
		t.Fatalf("no terminal: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run(context.Background(), token+"\n", "login", "--ckan-url", site+"/", "--token-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "as uploader") {
		t.Fatalf("login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := filepath.Join(e.vars["XDG_CONFIG_HOME"], "ckanup")
	for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "config.json"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", p, fi.Mode().Perm(), want, err)
		}
	}

	r = e.run(context.Background(), "", "whoami")
	if r.code != 0 || !strings.Contains(r.stdout, "uploader, token from profile default") || !strings.Contains(r.stdout, "acceptance-org (editor)") {
		t.Fatalf("whoami: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	f := makeFile(t, t.TempDir(), "p.csv", 10)
	if r := e.upload(f, "--dataset", "acceptance-dataset"); r.code != 0 {
		t.Fatalf("upload with profile: exit %d\n%s", r.code, r.stderr)
	}

	// The environment overrides the profile.
	e.vars["CKAN_API_TOKEN"] = e.world.Member.Token
	r = e.run(context.Background(), "", "whoami")
	if !strings.Contains(r.stdout, "reader, token from CKAN_API_TOKEN") {
		t.Errorf("env override: %s", r.stdout)
	}
	// A token file overrides both.
	tf := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tf, []byte(e.world.Sysadmin.Token+"\n"), 0o600)
	r = e.run(context.Background(), "", "whoami", "--api-token-file", tf)
	if !strings.Contains(r.stdout, "admin (sysadmin), token from --api-token-file") || strings.Contains(r.stderr, "warning") {
		t.Errorf("token file: %s%s", r.stdout, r.stderr)
	}
	os.Chmod(tf, 0o644)
	r = e.run(context.Background(), "", "whoami", "--api-token-file", tf)
	if r.code != 0 || !strings.Contains(r.stderr, "readable by other users") {
		t.Errorf("world-readable token file: exit %d\n%s", r.code, r.stderr)
	}
	// A profile file others can read is refused.
	os.Chmod(filepath.Join(dir, "config.json"), 0o644)
	delete(e.vars, "CKAN_API_TOKEN")
	r = e.run(context.Background(), "", "whoami")
	if r.code == 0 || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("world-readable profile: exit %d\n%s", r.code, r.stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	r := e.run(context.Background(), "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ckanup dev (commit ") {
		t.Errorf("version: %q", r.stdout)
	}
	r = e.run(context.Background(), "", "upload", "--help")
	for _, want := range []string{"Exit codes", "130", "--part-size", "--dry-run", "CKANUP_BUCKET"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("upload --help lacks %q", want)
		}
	}
	r = e.run(context.Background(), "", "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion bash: exit %d", r.code)
	}
	if r := e.run(context.Background(), "", "frobnicate"); r.code != exitUsage {
		t.Errorf("unknown command: exit %d", r.code)
	}
}

// TestLoginStoresSettledURL: login through a redirect (http → https style)
// saves the URL the site settles on and says so; a command given the
// redirecting URL stops on its first call with the URL to use, sending nothing.
func TestLoginStoresSettledURL(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	token := e.world.Editor.Token
	delete(e.vars, "CKAN_API_TOKEN")
	site := e.vars["CKAN_URL"]
	delete(e.vars, "CKAN_URL")
	rd := &ckansim.Redirector{Target: site, Status: 301}
	front := httptest.NewServer(rd)
	defer front.Close()

	r := e.run(context.Background(), token+"\n", "login", "--ckan-url", front.URL, "--token-stdin")
	if r.code != 0 || !strings.Contains(r.stderr, "redirects to "+site) || !strings.Contains(r.stdout, "Logged in to "+site+" ") {
		t.Fatalf("login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(e.vars["XDG_CONFIG_HOME"], "ckanup", "config.json"))
	if err != nil || !strings.Contains(string(b), `"ckan_url": "`+site+`"`) {
		t.Fatalf("profile: %s (%v)", b, err)
	}
	r = e.run(context.Background(), "", "whoami")
	if r.code != 0 {
		t.Fatalf("whoami with the saved URL: exit %d\n%s", r.code, r.stderr)
	}

	e.vars["CKAN_API_TOKEN"] = token
	before := len(e.ckan.Calls())
	f := makeFile(t, t.TempDir(), "r.csv", 10)
	r = e.upload(f, "--dataset", "acceptance-dataset", "--ckan-url", front.URL)
	if r.code != exitConfig || !strings.Contains(r.stderr, "use --ckan-url "+site) {
		t.Fatalf("upload through a redirect: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(e.ckan.Calls()) - before; n != 0 {
		t.Errorf("%d calls reached CKAN through the redirect", n)
	}
}

// TestTokenHeaderSetting: on a site that reads only X-CKAN-API-Key, the default
// (both headers) works; --token-header Authorization is refused with a hint
// naming apitoken_header_name; login saves the chosen header in the profile and
// later commands use it; CKANUP_TOKEN_HEADER chooses too; a bad value is a
// usage error.
func TestTokenHeaderSetting(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	e.ckan.TokenHeader = "X-CKAN-API-Key"
	if r := e.run(context.Background(), "", "whoami"); r.code != 0 {
		t.Fatalf("default headers: exit %d\n%s", r.code, r.stderr)
	}
	r := e.run(context.Background(), "", "whoami", "--token-header", "Authorization")
	if r.code != exitAuth || !strings.Contains(r.stderr, "sent in Authorization") || !strings.Contains(r.stderr, "apitoken_header_name") {
		t.Fatalf("Authorization only: exit %d\n%s", r.code, r.stderr)
	}
	e.vars["CKANUP_TOKEN_HEADER"] = "authorization"
	if r := e.run(context.Background(), "", "whoami"); r.code != exitAuth {
		t.Errorf("CKANUP_TOKEN_HEADER=authorization: exit %d", r.code)
	}
	delete(e.vars, "CKANUP_TOKEN_HEADER")
	if r := e.run(context.Background(), "", "whoami", "--token-header", "Bearer"); r.code != exitUsage {
		t.Errorf("bad header: exit %d\n%s", r.code, r.stderr)
	}

	token := e.world.Editor.Token
	delete(e.vars, "CKAN_API_TOKEN")
	site := e.vars["CKAN_URL"]
	delete(e.vars, "CKAN_URL")
	r = e.run(context.Background(), token+"\n", "login", "--ckan-url", site, "--token-stdin", "--token-header", "x-ckan-api-key")
	if r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(filepath.Join(e.vars["XDG_CONFIG_HOME"], "ckanup", "config.json"))
	if !strings.Contains(string(b), `"token_header": "X-CKAN-API-Key"`) {
		t.Fatalf("profile: %s", b)
	}
	// Only X-CKAN-API-Key now: a site reading only Authorization refuses it.
	e.ckan.TokenHeader = "Authorization"
	if r := e.run(context.Background(), "", "whoami"); r.code != exitAuth || !strings.Contains(r.stderr, "sent in X-CKAN-API-Key") {
		t.Errorf("profile header: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run(context.Background(), "", "whoami", "--token-header", "both"); r.code != 0 {
		t.Errorf("--token-header both over the profile: exit %d\n%s", r.code, r.stderr)
	}
}
