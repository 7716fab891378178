package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/ckansim"
	"github.com/ckanup/ckanup/internal/publish"
	"github.com/ckanup/ckanup/internal/s3store"
)

// testEnv is a CKAN simulator and an S3 endpoint, with ckanup pointed at them
// through its environment, and counters of the S3 requests that carry data.
type testEnv struct {
	t       *testing.T
	ckan    *ckansim.Server
	world   *ckansim.World
	ckanURL string
	s3URL   string
	bucket  string
	vars    map[string]string
	s3      *s3.Client
	s3Creds aws.Credentials
	store   *s3store.Store // the in-process store, when there is one

	mu     sync.Mutex
	counts map[string]int // "PUT part", "PUT object", "POST", …
	// s3Hook, when set, runs before the store answers; returning true means handled.
	s3Hook func(w http.ResponseWriter, r *http.Request) bool
	// terminal makes stderr look like a terminal (the progress bar).
	terminal bool
}

const (
	testAccessKey = "AKIDTESTACCESSKEY"
	testSecretKey = "test-secret-key-never-printed"
)

// newTestEnv starts the CKAN simulator and, unless s3Endpoint is given, an
// in-process s3store behind a counting handler.
func newTestEnv(t *testing.T, s3Endpoint, accessKey, secretKey, bucket string) *testEnv {
	t.Helper()
	e := &testEnv{t: t, ckan: ckansim.New(), counts: map[string]int{}, bucket: bucket}
	e.world = ckansim.Seed(e.ckan)
	ch := httptest.NewServer(e.ckan)
	t.Cleanup(ch.Close)
	e.ckanURL = ch.URL
	e.ckan.SiteURL = ch.URL
	if s3Endpoint == "" {
		st, err := s3store.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		st.AccessKey, st.AnonymousRead = testAccessKey, true
		e.store = st
		if err := st.CreateBucket(bucket); err != nil {
			t.Fatal(err)
		}
		sh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.count(r)
			if e.s3Hook != nil && e.s3Hook(w, r) {
				return
			}
			st.ServeHTTP(w, r)
		}))
		t.Cleanup(sh.Close)
		s3Endpoint, accessKey, secretKey = sh.URL, testAccessKey, testSecretKey
	}
	e.s3URL = s3Endpoint
	// The SDK reads credentials from the process environment.
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	e.vars = map[string]string{
		"CKAN_URL":            e.ckanURL,
		"CKAN_API_TOKEN":      e.world.Editor.Token,
		"CKANUP_BUCKET":       bucket,
		"AWS_ENDPOINT_URL_S3": s3Endpoint,
		"XDG_CONFIG_HOME":     t.TempDir(),
		"XDG_STATE_HOME":      t.TempDir(),
		"HOME":                t.TempDir(),
	}
	e.s3Creds = aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	e.s3 = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")})
	return e
}

func (e *testEnv) count(r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch q := r.URL.Query(); {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		e.counts["UploadPart"]++
	case r.Method == http.MethodPut:
		e.counts["PutObject"]++
	case r.Method == http.MethodPost && q.Has("uploads"):
		e.counts["CreateMultipartUpload"]++
	case r.Method == http.MethodPost:
		e.counts["CompleteMultipartUpload"]++
	case r.Method == http.MethodDelete:
		e.counts["AbortMultipartUpload"]++
	}
}

func (e *testEnv) counted(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[op]
}

func (e *testEnv) resetCounts() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts = map[string]int{}
}

type runResult struct {
	code           int
	stdout, stderr string
}

// run executes ckanup with args in the test environment.
func (e *testEnv) run(ctx context.Context, stdin string, args ...string) runResult {
	e.t.Helper()
	var out, errb bytes.Buffer
	deps := &Deps{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv:       func(k string) string { return e.vars[k] },
		HTTPClient:   &http.Client{Timeout: time.Minute},
		Now:          time.Now,
		IsTerminal:   func(any) bool { return e.terminal },
		ReadPassword: func(any) ([]byte, error) { return nil, errors.New("no terminal") },
	}
	code := Execute(ctx, args, deps)
	r := runResult{code: code, stdout: out.String(), stderr: errb.String()}
	for _, secret := range []string{e.world.Editor.Token, e.world.Member.Token, e.world.Sysadmin.Token, testSecretKey, e.vars["CKAN_API_TOKEN"]} {
		if secret != "" && (strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret)) {
			e.t.Errorf("a secret appears in the output of %v", args)
		}
	}
	return r
}

func (e *testEnv) upload(args ...string) runResult {
	e.t.Helper()
	return e.run(context.Background(), "", append([]string{"upload", "--retries", "3", "--retry-max-time", "20s"}, args...)...)
}

// records parses NDJSON output: the per-file records, without the last
// {"type": "summary"} record.
func records(t *testing.T, stdout string) []publish.Record {
	t.Helper()
	var recs []publish.Record
	dec := json.NewDecoder(strings.NewReader(stdout))
	for {
		var r publish.Record
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("stdout is not NDJSON: %v\n%s", err, stdout)
		}
		if r.Type == "summary" {
			continue
		}
		recs = append(recs, r)
	}
	return recs
}

// object reads an object through the S3 API.
func (e *testEnv) object(key string) []byte {
	e.t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *testEnv) openUploads() int {
	e.t.Helper()
	out, err := e.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		e.t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

// makeFile writes n deterministic bytes into dir/name.
func makeFile(t *testing.T, dir, name string, n int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(len(name))))
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		for i := 0; i+8 <= len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
		}
		c := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:c]); err != nil {
			t.Fatal(err)
		}
		left -= c
	}
	return p
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signedGet fetches a URL exactly as given, signed with SigV4 for S3, so a test
// proves that the URL registered on a resource names the object.
func (e *testEnv) signedGet(rawURL string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), e.s3Creds, req, emptySHA256, "s3", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}
