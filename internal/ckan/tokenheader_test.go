package ckan

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseTokenHeader(t *testing.T) {
	for in, want := range map[string]string{"": "", "both": "", "BOTH": "", "authorization": HeaderAuthorization,
		" Authorization ": HeaderAuthorization, "x-ckan-api-key": HeaderAPIKey, "X-CKAN-API-Key": HeaderAPIKey} {
		if got, err := ParseTokenHeader(in); err != nil || got != want {
			t.Errorf("ParseTokenHeader(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Bearer", "X-Api-Key", "Authorization, X-CKAN-API-Key"} {
		if _, err := ParseTokenHeader(in); err == nil || !strings.Contains(err.Error(), "apitoken_header_name") {
			t.Errorf("ParseTokenHeader(%q): %v", in, err)
		}
	}
}

// TestTokenHeadersSent: by default the token goes in both headers; a setting
// picks one, and the other is not sent.
func TestTokenHeadersSent(t *testing.T) {
	var got http.Header
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Write([]byte(`{"success": true, "result": {}}`))
	}))
	defer hs.Close()
	for setting, want := range map[string][2]string{
		"":               {"tok", "tok"},
		HeaderAPIKey:     {"", "tok"},
		"authorization":  {"tok", ""},
		"x-ckan-api-key": {"", "tok"},
	} {
		c, _ := New(hs.URL, "tok", nil)
		c.TokenHeader = setting
		if _, err := c.StatusShow(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a, k := got.Get("Authorization"), got.Get("X-CKAN-API-Key"); a != want[0] || k != want[1] {
			t.Errorf("setting %q: Authorization %q X-CKAN-API-Key %q, want %q", setting, a, k, want)
		}
	}
	c, _ := New(hs.URL, "", nil)
	if _, err := c.StatusShow(context.Background()); err != nil || got.Get("Authorization") != "" || got.Get("X-CKAN-API-Key") != "" {
		t.Errorf("anonymous client sent a token header: %v", got)
	}
}

// TestTokenRefusedNamesHeaders: a site that reads only X-CKAN-API-Key accepts
// the default; with Authorization only, the refusal names the header sent and
// the setting that decides, and is still ErrNotAuthenticated.
func TestTokenRefusedNamesHeaders(t *testing.T) {
	s, w, url := sim(t)
	s.TokenHeader = HeaderAPIKey
	c, _ := New(url, w.Editor.Token, nil)
	if u, err := c.CurrentUser(context.Background()); err != nil || u.Name != "uploader" {
		t.Fatalf("default headers: %v, %v", u, err)
	}
	c.TokenHeader = HeaderAuthorization
	_, err := c.CurrentUser(context.Background())
	var tre *TokenRefusedError
	if !errors.Is(err, ErrNotAuthenticated) || !errors.As(err, &tre) || len(tre.Headers) != 1 ||
		!strings.Contains(err.Error(), "sent in Authorization (") || !strings.Contains(err.Error(), "apitoken_header_name") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), w.Editor.Token) {
		t.Error("the error shows the token")
	}
	s.TokenHeader = HeaderAuthorization
	c.TokenHeader = ""
	if u, err := c.CurrentUser(context.Background()); err != nil || u.Name != "uploader" {
		t.Fatalf("default headers on an Authorization-only site: %v, %v", u, err)
	}
}

func TestTokenFromRequest(t *testing.T) {
	for _, tc := range []struct{ auth, key, want string }{
		{"a", "", "a"}, {"", "k", "k"}, {"a", "k", "k"}, {"Bearer a", "", "Bearer a"}, {"", "", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if tc.key != "" {
			r.Header.Set("X-CKAN-API-Key", tc.key)
		}
		if got := TokenFromRequest(r); got != tc.want {
			t.Errorf("%+v: %q", tc, got)
		}
	}
}
