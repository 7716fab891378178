package creds

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func answer(exp time.Time) map[string]any {
	return map[string]any{"access_key_id": "ASIA1", "secret_access_key": "s", "session_token": "t",
		"expiration": exp.UTC().Format(time.RFC3339), "bucket": "b", "region": "eu-west-1",
		"key_prefix": "p/org/ds/", "dataset_id": "ds", "organization_id": "org"}
}

func TestEndpointProviderRefreshes(t *testing.T) {
	// The provider's clock stands at t0; the endpoint answers credentials that
	// live 4 s from t0. t0 lies 10 s in the past, so for the SDK's cache (which
	// reads the real clock) each answer has expired by the time it is cached:
	// every Retrieve must fetch afresh, with no sleeping.
	t0 := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	var calls atomic.Int32
	var gotAuth, gotPath string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.Path
		json.NewEncoder(w).Encode(answer(t0.Add(4 * time.Second)))
	}))
	defer hs.Close()
	var refreshed atomic.Int32
	src, err := FromEndpoint(context.Background(), EndpointOptions{URL: hs.URL + "/ckanup", Token: "tok", Dataset: "ds",
		OnRefresh: func(time.Time) { refreshed.Add(1) }, now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if gotAuth != "tok" || gotPath != "/ckanup/v1/credentials" || src.Target.Bucket != "b" || src.Target.DatasetPrefix != "p/org/ds/" || src.Config.Region != "eu-west-1" {
		t.Fatalf("auth %q path %q target %+v", gotAuth, gotPath, src.Target)
	}
	c, err := src.Config.Credentials.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != "ASIA1" || calls.Load() != 1 {
		t.Fatalf("first retrieve reused the first answer? %v %v calls %d", c, err, calls.Load())
	}
	// Reported to expire a quarter of the lifetime early: refreshed before S3 would refuse.
	if want := t0.Add(3 * time.Second); !c.Expires.Equal(want) {
		t.Errorf("expires at %s, want %s (a quarter of 4 s early)", c.Expires, want)
	}
	if _, err := src.Config.Credentials.Retrieve(context.Background()); err != nil || calls.Load() != 2 || refreshed.Load() != 2 {
		t.Errorf("after expiry: %v, %d calls, %d refreshes", err, calls.Load(), refreshed.Load())
	}
	src.Invalidate()
	src.Config.Credentials.Retrieve(context.Background())
	if calls.Load() != 3 {
		t.Errorf("Invalidate did not force a fetch")
	}
}

func TestEndpointErrors(t *testing.T) {
	cases := []struct {
		status int
		body   string
		denied bool
		msg    string
	}{
		{401, `{"error": {"code": "invalid_token", "message": "CKAN does not accept this API token"}}`, true, "CKAN does not accept"},
		{403, `{"error": {"code": "not_editor", "message": "you may not edit this dataset"}}`, true, "not_editor"},
		{502, `<html>bad gateway</html>`, false, "HTTP 502"},
		{200, `{"access_key_id": ""}`, false, "no credentials"},
		{200, `not json`, false, "not the expected JSON"},
	}
	for _, tc := range cases {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		_, err := FromEndpoint(context.Background(), EndpointOptions{URL: hs.URL, Token: "secret-token", Dataset: "ds"})
		hs.Close()
		if err == nil || errors.Is(err, ErrDenied) != tc.denied || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "secret-token") {
			t.Errorf("%d %s: %v", tc.status, tc.body, err)
		}
	}
	if _, err := FromEndpoint(context.Background(), EndpointOptions{URL: "data.example.org/ckanup"}); err == nil {
		t.Error("a URL without scheme was accepted")
	}
}

func FuzzParseEndpointAnswer(f *testing.F) {
	b, _ := json.Marshal(answer(time.Now()))
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"access_key_id": "a", "secret_access_key": "b", "bucket": "c", "region": "d", "key_prefix": "e/", "expiration": "2026-01-01T00:00:00Z", "endpoint_url": "javascript:x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseEndpointAnswer(b)
		if err == nil && (a.AccessKeyID == "" || a.Bucket == "" || !strings.HasSuffix(a.KeyPrefix, "/")) {
			t.Fatalf("accepted %q", b)
		}
		_ = ParseEndpointError(400, b).Error()
	})
}
