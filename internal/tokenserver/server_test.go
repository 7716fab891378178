package tokenserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/ckanup/ckanup/internal/ckansim"
)

const fakeSecret = "FAKE-SECRET-never-in-logs"

type fakeSTS struct {
	mu    sync.Mutex
	calls []*sts.AssumeRoleInput
	fail  error
}

func (f *fakeSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	if f.fail != nil {
		return nil, f.fail
	}
	return &sts.AssumeRoleOutput{Credentials: &types.Credentials{AccessKeyId: aws.String("ASIAFAKE"),
		SecretAccessKey: aws.String(fakeSecret), SessionToken: aws.String("FAKE-SESSION-TOKEN"),
		Expiration: aws.Time(time.Now().Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second))}}, nil
}

type fakeS3 struct {
	uploads []s3types.MultipartUpload
	aborted []string
}

func (f *fakeS3) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, _ ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error) {
	out := &s3.ListMultipartUploadsOutput{}
	for _, u := range f.uploads {
		if strings.HasPrefix(aws.ToString(u.Key), aws.ToString(in.Prefix)) {
			out.Uploads = append(out.Uploads, u)
		}
	}
	return out, nil
}

func (f *fakeS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.aborted = append(f.aborted, aws.ToString(in.UploadId))
	return &s3.AbortMultipartUploadOutput{}, nil
}

type env struct {
	ckan  *ckansim.Server
	world *ckansim.World
	sts   *fakeSTS
	s3    *fakeS3
	srv   *Server
	url   string
	audit *bytes.Buffer
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	e := &env{ckan: ckansim.New(), sts: &fakeSTS{}, s3: &fakeS3{}, audit: &bytes.Buffer{}}
	e.world = ckansim.Seed(e.ckan)
	ch := httptest.NewServer(e.ckan)
	t.Cleanup(ch.Close)
	e.ckan.SiteURL = ch.URL
	cfg := Config{CKANURL: ch.URL, Bucket: "portal", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/ckanup",
		KeyPrefix: "datasets", EnabledOrgs: []string{"acceptance-org", "demo-org"}, PerTokenRate: 1000, PerTokenBurst: 1000,
		PerIPRate: 1000, PerIPBurst: 1000}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	e.srv = New(cfg, e.sts, e.s3, nil, slog.New(slog.NewJSONHandler(lockedWriter{&mu, e.audit}, nil)))
	hs := httptest.NewServer(e.srv.Handler())
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) post(t *testing.T, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/credentials", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return resp.StatusCode, m
}

func TestCredentialsIssuedForEditor(t *testing.T) {
	e := newEnv(t, nil)
	status, m := e.post(t, e.world.Editor.Token, `{"dataset": "acceptance-dataset"}`)
	if status != 200 {
		t.Fatalf("status %d %v", status, m)
	}
	wantPrefix := "datasets/" + e.world.AcceptanceOrg.ID + "/" + e.world.AcceptanceDataset.ID + "/"
	if m["access_key_id"] != "ASIAFAKE" || m["secret_access_key"] != fakeSecret || m["session_token"] == "" ||
		m["bucket"] != "portal" || m["region"] != "eu-west-1" || m["key_prefix"] != wantPrefix ||
		m["dataset_id"] != e.world.AcceptanceDataset.ID || m["organization_id"] != e.world.AcceptanceOrg.ID {
		t.Errorf("answer %v", m)
	}
	if _, err := time.Parse(time.RFC3339, m["expiration"].(string)); err != nil {
		t.Errorf("expiration %v", m["expiration"])
	}
	in := e.sts.calls[0]
	if aws.ToString(in.RoleArn) != "arn:aws:iam::123456789012:role/ckanup" || aws.ToInt32(in.DurationSeconds) != 3600 ||
		!strings.HasPrefix(aws.ToString(in.RoleSessionName), "ckanup.uploader@127.0.0.1") {
		t.Errorf("AssumeRole %+v", in)
	}
	if p := aws.ToString(in.Policy); !strings.Contains(p, `"arn:aws:s3:::portal/`+wantPrefix+`*"`) || strings.Contains(p, "Delete") {
		t.Errorf("policy %s", p)
	}
	log := e.audit.String()
	if !strings.Contains(log, `"user":"uploader"`) || !strings.Contains(log, `"organization":"acceptance-org"`) ||
		strings.Contains(log, e.world.Editor.Token) || strings.Contains(log, fakeSecret) {
		t.Errorf("audit log:\n%s", log)
	}
}

// Every way of being refused, and that no refusal carries credentials.
func TestDenials(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EnabledOrgs = []string{"acceptance-org", "other-org"} })
	outsider := e.ckan.AddUser("outsider", false)
	e.ckan.AddOrg("disabled-org", "Disabled", map[string]string{"outsider": "editor"})
	e.ckan.AddDataset("disabled-dataset", "D", "disabled-org", false)
	cases := []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no token", "", `{"dataset": "acceptance-dataset"}`, 401, "missing_token"},
		{"bad token", "not-a-real-token", `{"dataset": "acceptance-dataset"}`, 401, "invalid_token"},
		{"bearer prefix (anonymous to CKAN)", "Bearer " + e.world.Editor.Token, `{"dataset": "acceptance-dataset"}`, 401, "invalid_token"},
		{"member, not editor", e.world.Member.Token, `{"dataset": "acceptance-dataset"}`, 403, "not_editor"},
		{"not a member", e.world.Editor.Token, `{"dataset": "other-dataset"}`, 403, "not_editor"},
		{"organization not enabled", outsider.Token, `{"dataset": "disabled-dataset"}`, 403, "organization_not_enabled"},
		{"dataset missing", e.world.Editor.Token, `{"dataset": "no-such-dataset"}`, 404, "dataset_not_found"},
		{"dataset private", e.world.Editor.Token, `{"dataset": "other-private"}`, 403, "dataset_not_visible"},
		{"no dataset", e.world.Editor.Token, `{}`, 400, "missing_dataset"},
		{"malformed body", e.world.Editor.Token, `{"dataset": `, 400, "bad_request"},
		{"unknown field", e.world.Editor.Token, `{"dataset": "acceptance-dataset", "bucket": "other"}`, 400, "bad_request"},
		{"oversized body", e.world.Editor.Token, `{"dataset": "` + strings.Repeat("a", 10000) + `"}`, 413, "body_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.post(t, tc.token, tc.body)
			errObj, _ := m["error"].(map[string]any)
			if status != tc.status || errObj["code"] != tc.code {
				t.Errorf("status %d %v, want %d %s", status, m, tc.status, tc.code)
			}
			for _, k := range []string{"access_key_id", "secret_access_key", "session_token"} {
				if _, has := m[k]; has {
					t.Errorf("a refusal carried %s", k)
				}
			}
		})
	}
	if len(e.sts.calls) != 0 {
		t.Errorf("STS was called %d times for refused requests", len(e.sts.calls))
	}
	if !strings.Contains(e.audit.String(), `"reason":"not_editor"`) || strings.Contains(e.audit.String(), e.world.Member.Token) {
		t.Errorf("audit log:\n%s", e.audit.String())
	}
	resp, _ := http.Get(e.url + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`ckanup_denials_total{reason="not_editor"} 2`, `ckanup_denials_total{reason="missing_token"} 1`, "ckanup_credentials_issued_total 0", `upstream="ckan"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
}

func TestSysadminAndWildcardOrgs(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EnabledOrgs = []string{"*"} })
	if status, m := e.post(t, e.world.Sysadmin.Token, `{"dataset": "other-private"}`); status != 200 {
		t.Errorf("sysadmin: %d %v", status, m)
	}
	e2 := newEnv(t, func(c *Config) { c.EnabledOrgs = nil })
	if status, _ := e2.post(t, e2.world.Editor.Token, `{"dataset": "acceptance-dataset"}`); status != 403 {
		t.Errorf("no enabled orgs: %d", status)
	}
}

func TestUpstreamFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CKANTimeout = 200 * time.Millisecond })
	e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		time.Sleep(2 * time.Second)
		return false
	})
	start := time.Now()
	status, m := e.post(t, e.world.Editor.Token, `{"dataset": "acceptance-dataset"}`)
	if status != 504 || m["error"].(map[string]any)["code"] != "ckan_timeout" || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("slow CKAN: %d %v after %s", status, m, time.Since(start))
	}
	e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		w.Write([]byte("<html>bad gateway</html>"))
		return true
	})
	if status, _ := e.post(t, e.world.Editor.Token, `{"dataset": "acceptance-dataset"}`); status != 502 {
		t.Errorf("CKAN answering HTML: %d", status)
	}
	e.ckan.SetIntercept(nil)
	e.sts.fail = errors.New("AccessDenied: not authorized to perform sts:AssumeRole")
	status, m = e.post(t, e.world.Editor.Token, `{"dataset": "acceptance-dataset"}`)
	if status != 502 || strings.Contains(m["error"].(map[string]any)["message"].(string), "AccessDenied") {
		t.Errorf("STS failing: %d %v", status, m)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PerTokenRate, c.PerTokenBurst = 0.001, 3 })
	codes := map[int]int{}
	for range 6 {
		status, _ := e.post(t, e.world.Editor.Token, `{"dataset": "acceptance-dataset"}`)
		codes[status]++
	}
	if codes[200] != 3 || codes[429] != 3 {
		t.Errorf("statuses %v, want 3×200 then 429s", codes)
	}
	// Another token is not limited by the first one's use.
	if status, _ := e.post(t, e.world.Sysadmin.Token, `{"dataset": "acceptance-dataset"}`); status != 200 {
		t.Errorf("other token: %d", status)
	}
}

func TestPerAddressLimitBehindProxy(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PerIPRate, c.PerIPBurst, c.TrustForwardedFor = 0.001, 2, true })
	ask := func(xff string) int {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/credentials", strings.NewReader(`{"dataset": "acceptance-dataset"}`))
		req.Header.Set("Authorization", e.world.Editor.Token)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	got := []int{ask("203.0.113.7"), ask("203.0.113.7"), ask("203.0.113.7"), ask("198.51.100.2"), ask("1.2.3.4, 198.51.100.9")}
	if got[0] != 200 || got[1] != 200 || got[2] != 429 || got[3] != 200 || got[4] != 200 {
		t.Errorf("statuses %v: each forwarded client has its own limit", got)
	}
	if !strings.Contains(e.audit.String(), `"remote":"203.0.113.7"`) {
		t.Errorf("audit log does not name the client:\n%s", e.audit.String())
	}
}

func TestRoutesAndCORS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CORSOrigin = "https://data.example.org" })
	for _, p := range []string{"/", "/v1", "/v1/credentials/x", "/admin", "/v1/credentials?callback=x"} {
		resp, _ := http.Get(e.url + p)
		b, _ := io.ReadAll(resp.Body)
		if (resp.StatusCode != 404 && resp.StatusCode != 405) || strings.Contains(string(b), "goroutine") || strings.Contains(string(b), "callback") {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, b)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, e.url+"/v1/credentials", nil)
	req.Header.Set("Origin", "https://data.example.org")
	resp, _ := http.DefaultClient.Do(req)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://data.example.org" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = http.DefaultClient.Do(req)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin was allowed")
	}
	resp, _ = http.Get(e.url + "/healthz")
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
}

func TestUploadsEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	prefix := "datasets/" + e.world.AcceptanceOrg.ID + "/" + e.world.AcceptanceDataset.ID + "/"
	e.s3.uploads = []s3types.MultipartUpload{
		{UploadId: aws.String("u1"), Key: aws.String(prefix + "r/a.csv"), Initiated: aws.Time(time.Now())},
		{UploadId: aws.String("u2"), Key: aws.String("datasets/other/x.csv"), Initiated: aws.Time(time.Now())},
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/v1/uploads?dataset=acceptance-dataset", nil)
	req.Header.Set("Authorization", e.world.Editor.Token)
	resp, _ := http.DefaultClient.Do(req)
	var list struct{ Uploads []Upload }
	json.NewDecoder(resp.Body).Decode(&list)
	if resp.StatusCode != 200 || len(list.Uploads) != 1 || list.Uploads[0].UploadID != "u1" {
		t.Fatalf("list: %d %+v", resp.StatusCode, list)
	}
	del := func(token, key string) int {
		req, _ := http.NewRequest(http.MethodDelete, e.url+"/v1/uploads/u1?dataset=acceptance-dataset&key="+key, nil)
		req.Header.Set("Authorization", token)
		resp, _ := http.DefaultClient.Do(req)
		return resp.StatusCode
	}
	if s := del(e.world.Member.Token, prefix+"r/a.csv"); s != 403 {
		t.Errorf("member abort: %d", s)
	}
	if s := del(e.world.Editor.Token, "datasets/other/x.csv"); s != 403 {
		t.Errorf("abort outside the prefix: %d", s)
	}
	if s := del(e.world.Editor.Token, prefix+"r/a.csv"); s != 200 || len(e.s3.aborted) != 1 {
		t.Errorf("abort: %d %v", s, e.s3.aborted)
	}
}

// FuzzCredentialsBody sends arbitrary bodies to the credentials endpoint: it
// must answer JSON, never 5xx, and never credentials unless the body names an
// editable dataset.
func FuzzCredentialsBody(f *testing.F) {
	e := newEnv(f, nil)
	token := e.world.Editor.Token
	f.Add(`{"dataset": "acceptance-dataset"}`)
	f.Add(`{"dataset": "other-dataset"}`)
	f.Add(`{"dataset": 1}`)
	f.Add(`[]`)
	f.Add(`{"dataset": "a", "dataset": "acceptance-dataset"}`)
	f.Add(`{"dataset": "../../etc"}`)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/credentials", strings.NewReader(body))
		req.Header.Set("Authorization", token)
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, req)
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", w.Body.String())
		}
		if w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if _, has := m["secret_access_key"]; has != (w.Code == 200) {
			t.Fatalf("status %d with credentials=%v for %q", w.Code, has, body)
		}
		if w.Code == 200 && m["dataset_id"] != e.world.AcceptanceDataset.ID && m["dataset_id"] != e.world.DemoDataset.ID {
			t.Fatalf("credentials for %v from %q", m["dataset_id"], body)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	err := Config{CKANURL: "nope", Duration: time.Minute, S3Endpoint: "ftp://x"}.Validate()
	for _, want := range []string{"not an http(s) URL", "--bucket", "--role-arn", "--region", "15m–12h", "--s3-endpoint"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to mention %q", err, want)
		}
	}
}
