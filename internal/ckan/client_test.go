package ckan

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/ckansim"
	"github.com/ckanup/ckanup/internal/failure"
)

type fixture struct {
	Request struct {
		Method, Path, Authorization string
	} `json:"request"`
	Status       int             `json:"status"`
	ResponseJSON json.RawMessage `json:"response_json"`
}

// fixtureFiles lists the recorded real-CKAN exchanges kept in the repository's
// testdata/ckan-fixtures (see its README.md).
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "ckan-fixtures", "ckan-2.10.10")
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no recorded CKAN exchanges in %s", dir)
	}
	return m
}

// TestDecodeRecordedAnswers decodes every answer the real CKAN gave.
func TestDecodeRecordedAnswers(t *testing.T) {
	for _, path := range fixtureFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var fx fixture
			if err := json.Unmarshal(b, &fx); err != nil {
				t.Fatal(err)
			}
			var out any
			err = decode("action", fx.Status, "application/json;charset=utf-8", fx.ResponseJSON, &out)
			var env map[string]any
			var bare string
			switch {
			case json.Unmarshal(fx.ResponseJSON, &bare) == nil:
				var ae *APIError
				if !errors.As(err, &ae) || ae.Type != "" || ae.Message != bare || ae.Status != fx.Status {
					t.Fatalf("bare string answer: err = %#v", err)
				}
			case json.Unmarshal(fx.ResponseJSON, &env) == nil && env["success"] == false:
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("error answer decoded as %v", err)
				}
				want := env["error"].(map[string]any)["__type"]
				if ae.Type != want || ae.Status != fx.Status {
					t.Errorf("type %q status %d, want %q %d", ae.Type, ae.Status, want, fx.Status)
				}
				if ae.Type == TypeValidation && len(ae.Fields) == 0 && ae.Message == "" {
					t.Errorf("validation error lost its fields: %v", ae)
				}
				if fx.Status == 403 && !IsForbidden(err) || fx.Status == 404 && !IsNotFound(err) {
					t.Errorf("IsForbidden/IsNotFound disagree with status %d", fx.Status)
				}
			default:
				if err != nil || out == nil {
					t.Fatalf("success answer: err %v, result %v", err, out)
				}
			}
		})
	}
}

func TestDecodeNonJSON(t *testing.T) {
	cases := []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"proxy HTML", "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "HTML page"},
		{"empty", "", "", 200, "empty body"},
		{"garbage", "text/plain", "oops", 200, "not JSON"},
		{"JSON without envelope", "application/json", `{"result": 1}`, 200, "not JSON"},
	}
	for _, tc := range cases {
		err := decode("package_show", tc.status, tc.ctype, []byte(tc.body), nil)
		var re *ResponseError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ResponseError mentioning %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range fixtureFiles(f) {
		b, _ := os.ReadFile(p)
		var fx fixture
		if json.Unmarshal(b, &fx) == nil {
			f.Add(fx.Status, []byte(fx.ResponseJSON))
		}
	}
	legacy := legacyAnswer(f)
	f.Add(200, legacy)
	var doc struct {
		Result struct {
			Resources []json.RawMessage `json:"resources"`
		} `json:"result"`
	}
	if err := json.Unmarshal(legacy, &doc); err != nil {
		f.Fatal(err)
	}
	for _, r := range doc.Result.Resources {
		f.Add(200, []byte(`{"success": true, "result": {"name": "d", "resources": [`+string(r)+`]}}`))
	}
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Add(200, []byte(`"bare"`))
	f.Add(200, []byte(`{"success": true, "result": null}`))
	f.Add(409, []byte(`{"success": false, "error": {"__type": "Validation Error", "size": "x"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var d Dataset
		err := decode("package_show", status, "application/json", body, &d)
		if err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
		// A successful answer whose dataset is an object with a list of
		// resources always decodes, and keeps every resource that is an object.
		// Keys are matched exactly, as CKAN writes them.
		var env struct {
			Success *bool                      `json:"success"`
			Result  map[string]json.RawMessage `json:"result"`
		}
		if status >= 300 || json.Unmarshal(body, &env) != nil || env.Success == nil || !*env.Success || env.Result == nil {
			return
		}
		var resources []json.RawMessage
		if raw, has := env.Result["resources"]; has && json.Unmarshal(raw, &resources) != nil {
			return
		}
		objects := 0
		for _, r := range resources {
			var m map[string]json.RawMessage
			if json.Unmarshal(r, &m) == nil && m != nil {
				objects++
			}
		}
		if err != nil {
			t.Fatalf("dataset with %d resources failed to decode: %v", objects, err)
		}
		if len(d.Resources) != objects {
			t.Fatalf("%d resources decoded, %d in the answer", len(d.Resources), objects)
		}
	})
}

func sim(t *testing.T) (*ckansim.Server, *ckansim.World, string) {
	s := ckansim.New()
	w := ckansim.Seed(s)
	hs := httptest.NewUnstartedServer(s)
	s.SiteURL = "http://" + hs.Listener.Addr().String()
	hs.Start()
	t.Cleanup(hs.Close)
	return s, w, hs.URL
}

func TestCurrentUser(t *testing.T) {
	_, w, url := sim(t)
	ctx := context.Background()
	for _, tc := range []struct {
		token string
		want  string
	}{
		{w.Editor.Token, "uploader"},
		{"not-a-real-token", ""},
		{"Bearer " + w.Editor.Token, ""},
		{"", ""},
	} {
		c, err := New(url, tc.token, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.CurrentUser(ctx)
		if tc.token == "" {
			// None sent: not a token CKAN refused.
			if !errors.Is(err, ErrNoToken) || errors.Is(err, ErrNotAuthenticated) || failure.KindOf(err) != failure.Auth {
				t.Errorf("no token: err = %v, want ErrNoToken of kind auth", err)
			}
			continue
		}
		if tc.want == "" {
			if !errors.Is(err, ErrNotAuthenticated) {
				t.Errorf("token %q: err = %v, want ErrNotAuthenticated", tc.token, err)
			}
			if err != nil && tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error shows the token: %v", err)
			}
			continue
		}
		if err != nil || u.Name != tc.want {
			t.Errorf("token of %s: user %v, err %v", tc.want, u, err)
		}
	}
}

func TestCanEdit(t *testing.T) {
	s, w, url := sim(t)
	ctx := context.Background()
	outsider := s.AddUser("outsider", false)
	s.AddCollaborator("other-dataset", "outsider", "editor")
	cases := []struct {
		user    *ckansim.User
		dataset string
		collab  bool
		allowed bool
		reason  string
	}{
		{w.Editor, "acceptance-dataset", false, true, "organization acceptance-org (editor)"},
		{w.Member, "acceptance-dataset", false, false, "not an editor"},
		{w.Sysadmin, "other-private", false, true, "sysadmin"},
		{w.Editor, "other-dataset", false, false, "not an editor"},
		{outsider, "other-dataset", false, false, "not an editor"},
		{outsider, "other-dataset", true, true, "collaborator (editor)"},
	}
	for _, tc := range cases {
		s.CollaboratorsEnabled = tc.collab
		c, _ := New(url, tc.user.Token, nil)
		u, err := c.CurrentUser(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.PackageShow(ctx, tc.dataset)
		if err != nil {
			t.Fatal(err)
		}
		right, err := c.CanEdit(ctx, u, d)
		if err != nil {
			t.Fatalf("%s on %s: %v", tc.user.Name, tc.dataset, err)
		}
		if right.Allowed != tc.allowed || !strings.Contains(right.Reason, tc.reason) {
			t.Errorf("%s on %s (collaborators %v): %+v, want allowed=%v reason ~%q", tc.user.Name, tc.dataset, tc.collab, right, tc.allowed, tc.reason)
		}
	}
}

func TestPackageShowErrors(t *testing.T) {
	_, w, url := sim(t)
	c, _ := New(url, w.Editor.Token, nil)
	if _, err := c.PackageShow(context.Background(), "no-such-dataset"); !IsNotFound(err) {
		t.Errorf("missing dataset: %v", err)
	}
	if _, err := c.PackageShow(context.Background(), "other-private"); !IsForbidden(err) {
		t.Errorf("private dataset: %v", err)
	}
}

func TestRetriesTransientAnswers(t *testing.T) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("<html>down for maintenance</html>"))
			return
		}
		w.Write([]byte(`{"success": true, "result": {"ckan_version": "2.10.10"}}`))
	}))
	defer hs.Close()
	c, _ := New(hs.URL, "", nil)
	c.InitialInterval = time.Millisecond
	var retried []int
	c.OnRetry = func(_ string, attempt int, _ time.Duration, _ error) { retried = append(retried, attempt) }
	st, err := c.StatusShow(context.Background())
	if err != nil || st.CKANVersion != "2.10.10" || calls.Load() != 3 || len(retried) != 2 {
		t.Fatalf("status %v err %v after %d calls, retries %v", st, err, calls.Load(), retried)
	}
	// A 403 is an answer, not a hiccup: no retry.
	calls.Store(0)
	hs2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"success": false, "error": {"__type": "Authorization Error", "message": "Access denied"}}`))
	}))
	defer hs2.Close()
	c2, _ := New(hs2.URL, "", nil)
	c2.InitialInterval = time.Millisecond
	if _, err := c2.PackageShow(context.Background(), "x"); !IsForbidden(err) || calls.Load() != 1 {
		t.Errorf("err %v after %d calls", err, calls.Load())
	}
}

func TestTokenSentVerbatim(t *testing.T) {
	var got string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.Write([]byte(`{"success": true, "result": {}}`))
	}))
	defer hs.Close()
	c, _ := New(hs.URL+"/", "  tok-123\n", nil)
	if _, err := c.StatusShow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "tok-123" {
		t.Errorf("Authorization = %q, want the bare token", got)
	}
}

func TestParseSiteURL(t *testing.T) {
	good := map[string]string{
		"https://data.example.org":               "https://data.example.org",
		"https://data.example.org/":              "https://data.example.org",
		"https://example.org/ckan/":              "https://example.org/ckan",
		"https://data.example.org/api/3/action/": "https://data.example.org",
		" http://127.0.0.1:5000 ":                "http://127.0.0.1:5000",
	}
	for in, want := range good {
		u, err := ParseSiteURL(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseSiteURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, in := range []string{"", "data.example.org", "ftp://x", "https://user:pw@x.org", "https://x.org/?a=1", "http://"} {
		if _, err := ParseSiteURL(in); err == nil {
			t.Errorf("ParseSiteURL(%q) accepted", in)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// IsResourceAbsent: only CKAN's plain "Not found" frees an id; the answer for
// a deleted resource (CKAN 2.10.10: "Not found: Resource was not found.") and
// any other error do not.
func TestIsResourceAbsent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&APIError{Action: "resource_show", Status: 404, Type: TypeNotFound, Message: "Not found"}, true},
		{&APIError{Action: "resource_show", Status: 404, Type: TypeNotFound, Message: "Not found: Resource was not found."}, false},
		{&APIError{Action: "resource_show", Status: 403, Type: TypeAuthorization, Message: "Access denied"}, false},
		{&APIError{Action: "resource_show", Status: 500, Message: "Internal Server Error"}, false},
		{nil, false},
	} {
		if got := IsResourceAbsent(tc.err); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
}
