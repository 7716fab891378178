package ckan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/ckansim"
)

// TestRedirectIsAnError: a redirect on any call, GET or POST, is never followed
// and becomes a RedirectError naming the site to use, on the first try.
func TestRedirectIsAnError(t *testing.T) {
	s, w, target := sim(t)
	for _, status := range []int{301, 302, 303, 307, 308} {
		rd := &ckansim.Redirector{Target: target, Status: status}
		front := httptest.NewServer(rd)
		c, _ := New(front.URL, w.Editor.Token, nil)
		before := len(s.Calls())
		calls := map[string]func() error{
			"status_show (GET)": func() error { _, err := c.StatusShow(context.Background()); return err },
			"package_show (GET)": func() error {
				_, err := c.PackageShow(context.Background(), "acceptance-dataset")
				return err
			},
			"resource_create (POST)": func() error {
				_, err := c.ResourceCreate(context.Background(), map[string]any{"package_id": "acceptance-dataset", "url": "https://x/a.csv"})
				return err
			},
		}
		for name, call := range calls {
			hits := rd.Hits()
			err := call()
			re, ok := IsRedirect(err)
			if !ok {
				t.Errorf("%d %s: err = %v, want a RedirectError", status, name, err)
				continue
			}
			want := fmt.Sprintf("CKAN at %s redirects to %s", front.URL, target)
			if re.Status != status || re.SiteURL != target || !strings.Contains(err.Error(), want) ||
				!strings.Contains(err.Error(), "use --ckan-url "+target) {
				t.Errorf("%d %s: %+v / %v", status, name, re, err)
			}
			if IsTemporary(err) {
				t.Errorf("%d %s: a redirect called temporary", status, name)
			}
			if n := rd.Hits() - hits; n != 1 {
				t.Errorf("%d %s: %d requests, want 1 (no retries)", status, name, n)
			}
		}
		if after := len(s.Calls()); after != before {
			t.Errorf("%d: the redirect was followed: %d calls reached CKAN", status, after-before)
		}
		front.Close()
	}
	if n := len(s.Resources("acceptance-dataset")); n != 0 {
		t.Errorf("a resource was created through a redirect: %d", n)
	}
}

// TestRedirectElsewhere: a redirect that does not lead to the same action (a
// login page) names the location and suggests no site URL.
func TestRedirectElsewhere(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/user/login?came_from=/api", http.StatusFound)
	}))
	defer hs.Close()
	c, _ := New(hs.URL, "tok", nil)
	_, err := c.PackageShow(context.Background(), "d")
	re, ok := IsRedirect(err)
	if !ok || re.SiteURL != "" || !strings.Contains(err.Error(), hs.URL+"/user/login") || strings.Contains(err.Error(), "use --ckan-url") {
		t.Fatalf("err = %v", err)
	}
}

// TestSettledSiteURL: login asks where the site settles, through redirects; a
// site that answers directly settles where it is; https→http is refused.
func TestSettledSiteURL(t *testing.T) {
	_, _, target := sim(t)
	front := httptest.NewServer(&ckansim.Redirector{Target: target, Status: 308})
	defer front.Close()
	hop := httptest.NewServer(&ckansim.Redirector{Target: front.URL, Status: 302})
	defer hop.Close()
	for _, start := range []string{target, front.URL, hop.URL + "/"} {
		c, _ := New(start, "", nil)
		got, err := c.SettledSiteURL(context.Background())
		if err != nil || got != target {
			t.Errorf("from %s: %q, %v; want %s", start, got, err, target)
		}
	}
	down := httptest.NewTLSServer(&ckansim.Redirector{Target: target})
	defer down.Close()
	c, _ := New(down.URL, "", down.Client())
	if got, err := c.SettledSiteURL(context.Background()); err == nil || !strings.Contains(err.Error(), "https to") {
		t.Errorf("https→http: %q, %v", got, err)
	}
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>log in</html>"))
			return
		}
		http.Redirect(w, r, "/login", http.StatusFound)
	}))
	defer login.Close()
	c, _ = New(login.URL, "", nil)
	if got, err := c.SettledSiteURL(context.Background()); err == nil {
		t.Errorf("a login page settled as %q", got)
	}
}

func TestIsTemporary(t *testing.T) {
	refused := func() error {
		hs := httptest.NewServer(http.NotFoundHandler())
		u := hs.URL
		hs.Close()
		c, _ := New(u, "", nil)
		c.MaxAttempts = 1
		_, err := c.StatusShow(context.Background())
		return err
	}()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"503", &APIError{Action: "a", Status: 503}, true},
		{"429", &ResponseError{Action: "a", Status: 429}, true},
		{"502 HTML page", fmt.Errorf("wrapped: %w", &ResponseError{Action: "a", Status: 502}), true},
		{"connection refused", refused, true},
		{"409 validation", &APIError{Action: "a", Status: 409, Type: TypeValidation}, false},
		{"403", &APIError{Action: "a", Status: 403, Type: TypeAuthorization}, false},
		{"200 HTML page", &ResponseError{Action: "a", Status: 200}, false},
		{"redirect", &RedirectError{Action: "a", Status: 301}, false},
		{"token refused", ErrNotAuthenticated, false},
		{"cancelled", cancelled.Err(), false},
		{"unknown", errors.New("x"), false},
	}
	for _, tc := range cases {
		if got := IsTemporary(tc.err); got != tc.want {
			t.Errorf("%s: IsTemporary(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
