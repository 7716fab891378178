// Package ckantest holds helpers for tests that run against a real CKAN: the
// site and API tokens come from the environment, and each test works in its
// own throwaway dataset.
//
// The environment (what `. /tmp/ckan-it/env.sh` exports after
// ../shared/real-ckan/setup.sh /tmp/ckan-it, or any CKAN with the same world):
//
//	CKANUP_IT_CKAN_URL             the site, e.g. http://127.0.0.1:5055
//	CKANUP_IT_EDITOR_TOKEN_FILE    token of an editor of acceptance-org
//	CKANUP_IT_MEMBER_TOKEN_FILE    token of a member (not editor) of acceptance-org
//	CKANUP_IT_SYSADMIN_TOKEN_FILE  token of a sysadmin (optional: purges datasets)
//	CKANUP_IT_REQUIRE_CKAN=1       fail instead of skipping when the URL is unset
package ckantest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/ckansim"
)

// Org is the organization the throwaway datasets go in; the editor token's
// user must be an editor there.
const Org = "acceptance-org"

// Site is a real CKAN and the tokens of its test users.
type Site struct {
	URL                                  string
	EditorToken, MemberToken, AdminToken string
	// Sim is the simulator behind a Simulated site; nil for a real CKAN.
	Sim *ckansim.Server
}

// Real returns the real CKAN named by the environment, or skips the test
// saying how to switch the suite on. With CKANUP_IT_REQUIRE_CKAN=1 a missing
// site fails the test instead. A site that is named but does not answer
// status_show, or an unreadable token file, fails the test.
func Real(t testing.TB) *Site {
	t.Helper()
	url := os.Getenv("CKANUP_IT_CKAN_URL")
	if url == "" {
		msg := "real-CKAN test skipped: CKANUP_IT_CKAN_URL is not set. To run it, start a CKAN with " +
			"`sudo bash ../shared/real-ckan/setup.sh /tmp/ckan-it` and `. /tmp/ckan-it/env.sh` " +
			"(or set CKANUP_IT_CKAN_URL and CKANUP_IT_{EDITOR,MEMBER,SYSADMIN}_TOKEN_FILE for another CKAN)"
		if os.Getenv("CKANUP_IT_REQUIRE_CKAN") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Site{URL: strings.TrimSuffix(url, "/")}
	s.EditorToken = token(t, "CKANUP_IT_EDITOR_TOKEN_FILE", true)
	s.MemberToken = token(t, "CKANUP_IT_MEMBER_TOKEN_FILE", false)
	s.AdminToken = token(t, "CKANUP_IT_SYSADMIN_TOKEN_FILE", false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.Client(t, "").StatusShow(ctx); err != nil {
		t.Fatalf("CKANUP_IT_CKAN_URL=%s does not answer: %v (is it running? /tmp/ckan-it/start-all.sh)", url, err)
	}
	return s
}

func token(t testing.TB, env string, required bool) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		if required {
			t.Fatalf("CKANUP_IT_CKAN_URL is set but %s is not", env)
		}
		return ""
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return strings.TrimSpace(string(b))
}

// Client returns a client of the site with token (may be empty) and quick
// retries.
func (s *Site) Client(t testing.TB, token string) *ckan.Client {
	t.Helper()
	return ClientFor(t, s.URL, token)
}

// ClientFor returns a client of any URL (a proxy in front of the site).
func ClientFor(t testing.TB, url, token string) *ckan.Client {
	t.Helper()
	c, err := ckan.New(url, token, &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.UserAgent = "ckanup-tests"
	c.InitialInterval = 50 * time.Millisecond
	return c
}

// Dataset creates a public dataset in Org with the editor's token, named
// "ckanup-it-<random>", and deletes it when the test ends (purged too when a
// sysadmin token is set). It returns the dataset as created.
func (s *Site) Dataset(t testing.TB) *ckan.Dataset {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ckanup-it-" + hex.EncodeToString(b[:])
	c := s.Client(t, s.EditorToken)
	ctx := context.Background()
	d, err := c.PackageCreate(ctx, map[string]any{"name": name, "title": "ckanup test " + t.Name(), "owner_org": Org,
		"notes": "Made by a ckanup test; deleted when it ends."})
	if err != nil {
		t.Fatalf("create throwaway dataset in %s: %v", Org, err)
	}
	t.Cleanup(func() {
		if err := c.PackageDelete(ctx, d.ID); err != nil && !ckan.IsNotFound(err) {
			t.Errorf("delete throwaway dataset %s: %v", name, err)
		}
		if s.AdminToken != "" {
			s.purge(t, d.ID)
		}
	})
	return d
}

// purge removes a deleted dataset for good (dataset_purge, sysadmins only).
func (s *Site) purge(t testing.TB, id string) {
	body, _ := json.Marshal(map[string]string{"id": id})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/3/action/dataset_purge", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", s.AdminToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Logf("purge throwaway dataset %s: %v", id, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Logf("purge throwaway dataset %s: HTTP %d", id, resp.StatusCode)
	}
}

// Simulated returns a Site backed by a fresh CKAN simulator (internal/ckansim)
// seeded with the same world as the real test CKAN, closed when the test ends.
func Simulated(t testing.TB) *Site {
	t.Helper()
	s := ckansim.New()
	w := ckansim.Seed(s)
	hs := httptest.NewUnstartedServer(s)
	s.SiteURL = "http://" + hs.Listener.Addr().String()
	hs.Start()
	t.Cleanup(hs.Close)
	return &Site{URL: hs.URL, EditorToken: w.Editor.Token, MemberToken: w.Member.Token, AdminToken: w.Sysadmin.Token, Sim: s}
}

// Each runs f twice, as subtests: "simulator" against Simulated, and "real"
// against Real (skipped, saying how to switch it on, when no real CKAN is
// configured). A behaviour both pass is what real CKAN does and what the
// simulator imitates.
func Each(t *testing.T, f func(t *testing.T, s *Site)) {
	t.Run("simulator", func(t *testing.T) { f(t, Simulated(t)) })
	t.Run("real", func(t *testing.T) { f(t, Real(t)) })
}
