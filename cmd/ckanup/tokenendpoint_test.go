package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/ckanup/ckanup/internal/tokenserver"
)

// mintingSTS issues credentials that the test's S3 store honours until they
// expire, as STS and S3 do.
type mintingSTS struct {
	mu       sync.Mutex
	lifetime time.Duration
	issued   map[string]time.Time // access key → expiry
	tokens   map[string]string    // access key → session token
	calls    int
	policies []string
}

func newMintingSTS(lifetime time.Duration) *mintingSTS {
	return &mintingSTS{lifetime: lifetime, issued: map[string]time.Time{}, tokens: map[string]string{}}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (m *mintingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	m.policies = append(m.policies, aws.ToString(in.Policy))
	ak, tok := "ASIA"+strings.ToUpper(randHex(8)), "tok-"+randHex(16)
	exp := time.Now().Add(m.lifetime)
	m.issued[ak], m.tokens[ak] = exp, tok
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{AccessKeyId: aws.String(ak),
		SecretAccessKey: aws.String("secret-" + randHex(8)), SessionToken: aws.String(tok), Expiration: aws.Time(exp)}}, nil
}

// check is the store's key check: unknown keys and expired tokens are refused.
func (m *mintingSTS) check(ak, token string) string {
	if ak == testAccessKey {
		return "" // the test's own inspection of the bucket
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.issued[ak]
	switch {
	case !ok || m.tokens[ak] != token:
		return "InvalidAccessKeyId"
	case time.Now().After(exp):
		return "ExpiredToken"
	}
	return ""
}

// startTokenServer runs a token endpoint for the test environment's CKAN, with
// rate limits out of the way, and returns its URL.
func startTokenServer(t *testing.T, e *testEnv, cfg tokenserver.Config, stsAPI tokenserver.STSAPI, s3API tokenserver.S3API) string {
	t.Helper()
	cfg.CKANURL = e.ckanURL
	cfg.PerTokenRate, cfg.PerTokenBurst, cfg.PerIPRate, cfg.PerIPBurst = 100, 100, 100, 100
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	srv := tokenserver.New(cfg, stsAPI, s3API, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

// withTokenEndpoint runs a token endpoint for the test environment's CKAN and
// store, and points ckanup at it.
func withTokenEndpoint(t *testing.T, e *testEnv, lifetime time.Duration) *mintingSTS {
	t.Helper()
	m := newMintingSTS(lifetime)
	e.store.CheckKey = m.check
	url := startTokenServer(t, e, tokenserver.Config{Bucket: e.bucket, RoleARN: "arn:aws:iam::000000000000:role/ckanup",
		KeyPrefix: "portal", EnabledOrgs: []string{"acceptance-org"}, Duration: lifetime, AllowShortDuration: true,
		S3Endpoint: e.s3URL}, m, e.s3)
	e.vars["CKANUP_TOKEN_URL"] = url + "/"
	delete(e.vars, "CKANUP_BUCKET")
	delete(e.vars, "AWS_ENDPOINT_URL_S3")
	// The process's own AWS credentials must play no part.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	return m
}

func TestUploadThroughTokenEndpoint(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	m := withTokenEndpoint(t, e, time.Hour)
	f := makeFile(t, t.TempDir(), "scoped.csv", 7<<20)
	r := e.upload(f, "--dataset", "acceptance-dataset", "--verbose")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	res := e.checkRegistered("acceptance-dataset", "scoped.csv", f)
	wantPrefix := "portal/" + e.world.AcceptanceOrg.ID + "/" + e.world.AcceptanceDataset.ID + "/"
	if !strings.HasPrefix(res["s3_key"].(string), wantPrefix) || !strings.Contains(r.stderr, "credentials from the token endpoint") {
		t.Errorf("key %v\n%s", res["s3_key"], r.stderr)
	}
	if m.calls != 1 || !strings.Contains(m.policies[0], wantPrefix+"*") {
		t.Errorf("AssumeRole calls %d, policy %v", m.calls, m.policies)
	}

	// A member may read the dataset but gets no credentials: exit 4, nothing sent.
	e.vars["CKAN_API_TOKEN"] = e.world.Member.Token
	r = e.upload(makeFile(t, t.TempDir(), "other.csv", 10), "--dataset", "acceptance-dataset")
	if r.code != exitAuth {
		t.Errorf("member: exit %d\n%s", r.code, r.stderr)
	}
	// The target is the endpoint's to decide.
	e.vars["CKAN_API_TOKEN"] = e.world.Editor.Token
	r = e.upload(f, "--dataset", "acceptance-dataset", "--bucket", "elsewhere")
	if r.code != exitUsage || !strings.Contains(r.stderr, "the token endpoint decides") {
		t.Errorf("--bucket with a token endpoint: exit %d\n%s", r.code, r.stderr)
	}
}

// An upload that outlasts several credential lifetimes completes: the
// credentials are refreshed ahead of expiry, and a request refused as expired
// is retried once with fresh ones.
func TestUploadOutlastsCredentials(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	m := withTokenEndpoint(t, e, 3*time.Second)
	var mu sync.Mutex
	sends := map[string]int{}   // part number → UploadPart requests
	refused := map[string]int{} // part number → refused as expired
	e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if n := r.URL.Query().Get("partNumber"); n != "" {
			time.Sleep(700 * time.Millisecond) // slow link
			mu.Lock()
			sends[n]++
			if m.check(accessKey(r), r.Header.Get("X-Amz-Security-Token")) == "ExpiredToken" {
				refused[n]++
			}
			mu.Unlock()
		}
		return false
	}
	f := makeFile(t, t.TempDir(), "long.bin", 50<<20) // 10 parts, ~7 s at one part at a time
	r := e.upload(f, "--dataset", "acceptance-dataset", "--verbose", "--concurrency", "1")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "long.bin", f)
	if n := strings.Count(r.stderr, "credentials refreshed"); n < 3 || m.calls < 3 {
		t.Errorf("%d refreshes in --verbose, %d AssumeRole calls; want several\n%s", n, m.calls, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sends) != 10 {
		t.Errorf("parts sent: %v", sends)
	}
	for n, c := range sends {
		if c > 1+refused[n] {
			t.Errorf("part %s sent %d times, %d refused as expired", n, c, refused[n])
		}
	}
}

func accessKey(r *http.Request) string {
	a := r.Header.Get("Authorization")
	i := strings.Index(a, "Credential=")
	if i < 0 {
		return ""
	}
	cred := a[i+len("Credential="):]
	if j := strings.IndexByte(cred, '/'); j >= 0 {
		return cred[:j]
	}
	return cred
}

// uploads list and abort work through the token endpoint, for a publisher who
// has no bucket-wide listing right.
func TestUploadsThroughTokenEndpoint(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	withTokenEndpoint(t, e, time.Hour)
	f := makeFile(t, t.TempDir(), "kept.bin", 16<<20)
	if r := e.interruptAt("2", f, "--dataset", "acceptance-dataset"); r.code != exitInterrupted {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	ctx := context.Background()
	if r := e.run(ctx, "", "uploads", "list"); r.code != exitUsage || !strings.Contains(r.stderr, "--dataset is required") {
		t.Errorf("list without --dataset: exit %d\n%s", r.code, r.stderr)
	}
	r := e.run(ctx, "", "uploads", "list", "--dataset", "acceptance-dataset")
	if r.code != 0 || !strings.Contains(r.stdout, "yes") || !strings.Contains(r.stdout, "kept.bin") {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = e.run(ctx, "", "uploads", "abort", "--all", "--dataset", "acceptance-dataset")
	if r.code != 0 || !strings.Contains(r.stdout, "aborted") || e.openUploads() != 0 {
		t.Fatalf("abort: exit %d, %d open\n%s%s", r.code, e.openUploads(), r.stdout, r.stderr)
	}
}
