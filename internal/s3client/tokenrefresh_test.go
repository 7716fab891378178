package s3client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/s3client/s3test"
	"github.com/ckanup/ckanup/internal/upload"
)

// A token endpoint that refuses the refresh (the user lost edit rights while
// the upload ran) is a final answer: no retries for minutes, an auth error.
func TestTokenEndpointRefusalDuringRefreshIsFinal(t *testing.T) {
	rs := &rotatingStore{current: "AKIDFIRST", store: s3test.New(false)}
	store := httptest.NewServer(rs)
	defer store.Close()
	var calls atomic.Int32
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "forbidden", "message": "user may not edit the dataset"}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_key_id": "AKIDFIRST", "secret_access_key": "s", "session_token": "t",
			"expiration": time.Now().Add(time.Hour), "bucket": "b", "region": "us-east-1", "endpoint_url": store.URL, "key_prefix": "org/ds/"})
	}))
	defer endpoint.Close()
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	ctx := context.Background()
	src, err := creds.FromEndpoint(ctx, creds.EndpointOptions{URL: endpoint.URL, Token: "tok", Dataset: "ds"})
	if err != nil {
		t.Fatal(err)
	}
	var retries atomic.Int32
	up := upload.New(New(src.Config, src.Target), upload.Options{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		RequestTimeout: 10 * time.Second, RefreshCredentials: src.Invalidate})
	path, _ := randomFile(t, "a.csv", 100, 9)
	if _, err := up.Upload(ctx, upload.Job{Path: path, Bucket: "b", Key: "org/ds/one"}); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	rs.rotate("AKIDSECOND") // the store now refuses the first key as expired
	_, err = up.Upload(ctx, upload.Job{Path: path, Bucket: "b", Key: "org/ds/two", Observer: retryCounter{&retries}})
	if upload.Classify(err) != upload.KindAuth {
		t.Fatalf("err = %v (%s), want an auth error", err, upload.Classify(err))
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d token endpoint calls, want 2 (the first, one refresh)", n)
	}
	if retries.Load() > 1 {
		t.Errorf("%d retries after the refusal", retries.Load())
	}
}
