package s3client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/s3client/s3test"
	"github.com/ckanup/ckanup/internal/upload"
)

// rotatingStore accepts only the current access key; any other gets
// ExpiredToken, as S3 answers a rotated-out session.
type rotatingStore struct {
	mu      sync.Mutex
	current string
	refused int
	store   *s3test.Store
}

func (s *rotatingStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	key, _, _ := strings.Cut(cred, "/")
	s.mu.Lock()
	ok := key == s.current
	if !ok {
		s.refused++
	}
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`)
		return
	}
	s.store.ServeHTTP(w, r)
}

func (s *rotatingStore) rotate(key string) {
	s.mu.Lock()
	s.current = key
	s.mu.Unlock()
}

func writeCredentials(t *testing.T, path, key string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("[default]\naws_access_key_id = "+key+"\naws_secret_access_key = secret-of-"+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The credentials file is rewritten during a run (a rotation script): on
// ExpiredToken the whole configuration chain is loaded again and the new key
// is used. When the same refused key comes back, the error says so at once.
func TestRefreshReloadsConfigurationChain(t *testing.T) {
	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials")
	writeCredentials(t, credFile, "AKIDOLDKEY0001")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CA_BUNDLE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_USE_FIPS_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	rs := &rotatingStore{current: "AKIDOLDKEY0001", store: s3test.New(false)}
	srv := httptest.NewServer(rs)
	defer srv.Close()
	ctx := context.Background()
	src, err := creds.FromChain(ctx, creds.ChainOptions{Region: "us-east-1", Endpoint: srv.URL, Bucket: "b", Getenv: os.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	up := upload.New(New(src.Config, src.Target), upload.Options{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		RequestTimeout: 10 * time.Second, RefreshCredentials: src.Invalidate})
	path, _ := randomFile(t, "a.csv", 100, 8)
	if _, err := up.Upload(ctx, upload.Job{Path: path, Bucket: "b", Key: "one"}); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	// The key is rotated: the store refuses the old one, the file has the new.
	writeCredentials(t, credFile, "AKIDNEWKEY0002")
	rs.rotate("AKIDNEWKEY0002")
	if _, err := up.Upload(ctx, upload.Job{Path: path, Bucket: "b", Key: "two"}); err != nil {
		t.Fatalf("upload after rotation: %v", err)
	}
	if rs.refused != 1 {
		t.Errorf("%d requests refused, want 1 (then the new key)", rs.refused)
	}

	// Rotated on the store but not in the file: the same key comes back.
	src2, err := creds.FromChain(ctx, creds.ChainOptions{Region: "us-east-1", Endpoint: srv.URL, Bucket: "b", Getenv: os.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	up2 := upload.New(New(src2.Config, src2.Target), upload.Options{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		RequestTimeout: 10 * time.Second, RefreshCredentials: src2.Invalidate})
	if _, err := up2.Upload(ctx, upload.Job{Path: path, Bucket: "b", Key: "three"}); err != nil {
		t.Fatalf("upload with the new key: %v", err)
	}
	rs.rotate("AKIDNEWERKEY03")
	refusedBefore := rs.refused
	_, err = up2.Upload(ctx, upload.Job{Path: path, Bucket: "b", Key: "four"})
	var same *creds.SameCredentialsError
	if !errors.As(err, &same) || !strings.Contains(err.Error(), "same key") || !upload.IsAccessDenied(err) {
		t.Fatalf("err = %v, want a SameCredentialsError", err)
	}
	if n := rs.refused - refusedBefore; n != 1 {
		t.Errorf("%d requests refused, want 1 (no retries with the same key)", n)
	}
}
