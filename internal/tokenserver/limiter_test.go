package tokenserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/ckansim"
)

// TestLimiterMemoryBounded: however many addresses and tokens come, each
// limiter keeps at most MaxLimiterKeys entries (default 50,000).
func TestLimiterMemoryBounded(t *testing.T) {
	e := newEnv(t, nil)
	s := e.srv
	const keys = 60_000
	for i := 0; i < keys; i++ {
		s.allow(s.byIP, fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), 1, 1, true)
		s.allow(s.byToken, tokenKey(fmt.Sprintf("token-%d", i)), 1, 1, true)
	}
	if n := s.byIP.Len(); n != s.cfg.MaxLimiterKeys || n != 50_000 {
		t.Errorf("address limiters: %d, want the bound 50000", n)
	}
	if n := s.byToken.Len(); n != 50_000 {
		t.Errorf("token limiters: %d, want the bound 50000", n)
	}
	// The most recent key is kept, with its state: a burst of 1 is spent.
	if s.allow(s.byIP, fmt.Sprintf("10.%d.%d.%d", (keys-1)>>16, ((keys-1)>>8)&255, (keys-1)&255), 1, 1, true) {
		t.Error("the most recent address's limiter was forgotten")
	}
}

// TestRandomTokensCreateNoTokenLimiters: a flood of tokens CKAN does not know,
// from many addresses, creates per-address limiters (bounded) and no per-token
// ones; a token CKAN accepts gets one and is limited by it.
func TestRandomTokensCreateNoTokenLimiters(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxLimiterKeys = 500
		c.TrustForwardedFor = true
		c.PerTokenRate, c.PerTokenBurst = 0.001, 3
	})
	h := e.srv.Handler()
	call := func(ip, token string) int {
		req := httptest.NewRequest(http.MethodPost, "/v1/credentials", strings.NewReader(`{"dataset": "acceptance-dataset"}`))
		req.RemoteAddr = "127.0.0.1:1234"
		req.Header.Set("X-Forwarded-For", ip)
		req.Header.Set("Authorization", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := 0; i < 1500; i++ {
		if code := call(fmt.Sprintf("10.0.%d.%d", i>>8, i&255), ckansim.NewToken()); code != http.StatusUnauthorized {
			t.Fatalf("random token %d: HTTP %d", i, code)
		}
	}
	if n := e.srv.byToken.Len(); n != 0 {
		t.Errorf("%d token limiters after random tokens, want 0", n)
	}
	if n := e.srv.byIP.Len(); n != 500 {
		t.Errorf("%d address limiters, want the bound 500", n)
	}
	var codes []int
	for i := 0; i < 5; i++ {
		codes = append(codes, call("192.0.2.1", e.world.Editor.Token))
	}
	if want := []int{200, 200, 200, 429, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("accepted token: %v, want %v", codes, want)
	}
	if n := e.srv.byToken.Len(); n != 1 {
		t.Errorf("%d token limiters, want 1", n)
	}
}

// TestTokenHeaders: callers may send the token in either header; the server
// asks CKAN with the configured header, so a CKAN that reads only
// X-CKAN-API-Key accepts it.
func TestTokenHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, siteReads, serverSends string
		want                         int
	}{
		{"default both, site reads X-CKAN-API-Key", ckan.HeaderAPIKey, "", 200},
		{"default both, site reads Authorization", ckan.HeaderAuthorization, "", 200},
		{"X-CKAN-API-Key only", ckan.HeaderAPIKey, "X-CKAN-API-Key", 200},
		{"Authorization only, site reads X-CKAN-API-Key", ckan.HeaderAPIKey, "authorization", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.CKANTokenHeader = tc.serverSends })
			e.ckan.TokenHeader = tc.siteReads
			for _, callerHeader := range []string{ckan.HeaderAuthorization, ckan.HeaderAPIKey} {
				req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/credentials", strings.NewReader(`{"dataset": "acceptance-dataset"}`))
				req.Header.Set(callerHeader, e.world.Editor.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("caller sends %s: HTTP %d, want %d", callerHeader, resp.StatusCode, tc.want)
				}
			}
		})
	}
	if err := (Config{CKANURL: "http://x", Bucket: "b", Region: "r", RoleARN: "a", CKANTokenHeader: "Bearer"}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "apitoken_header_name") {
		t.Errorf("bad header accepted: %v", err)
	}
}

// TestCKANRedirectRefused: a token endpoint configured with a CKAN URL that
// redirects (http → https) does not follow it with callers' tokens; it answers
// 502 misconfigured and logs where CKAN redirects to.
func TestCKANRedirectRefused(t *testing.T) {
	e := newEnv(t, nil)
	front := httptest.NewServer(&ckansim.Redirector{Target: e.ckan.SiteURL, Status: http.StatusMovedPermanently})
	defer front.Close()
	e2 := newEnv(t, func(c *Config) { c.CKANURL = front.URL })
	e2.world = e.world
	before := len(e.ckan.Calls())
	code, body := e2.post(t, e.world.Editor.Token, `{"dataset": "acceptance-dataset"}`)
	if code != http.StatusBadGateway || body["error"].(map[string]any)["code"] != "misconfigured" {
		t.Errorf("HTTP %d %v", code, body)
	}
	if n := len(e.ckan.Calls()) - before; n != 0 {
		t.Errorf("%d calls reached CKAN through the redirect", n)
	}
	if !strings.Contains(e2.audit.String(), "redirects to "+e.ckan.SiteURL) {
		t.Errorf("audit log: %s", e2.audit.String())
	}
}
