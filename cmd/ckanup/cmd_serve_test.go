package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `ckanup serve` in-process with settings from the environment
// and a config file, and returns its base URL and its log.
func startServe(t *testing.T, e *testEnv, env map[string]string, file map[string]any) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	deps := &Deps{Stdout: log, Stderr: log, Getenv: func(k string) string { return env[k] }, Now: time.Now}
	args := []string{"--listen", "127.0.0.1:0"}
	if file != nil {
		p := filepath.Join(t.TempDir(), "serve.json")
		b, _ := json.Marshal(file)
		os.WriteFile(p, b, 0o600)
		args = append(args, "--config", p)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cmd := newServeCmdWith(deps, ready)
	cmd.SetArgs(args)
	cmd.SetOut(log)
	cmd.SetErr(log)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return "http://" + addr, log
	case err := <-done:
		cancel()
		t.Fatalf("serve did not start: %v\n%s", err, log.String())
	}
	return "", nil
}

// TestServeEndToEnd runs `ckanup serve` configured from the environment and a
// config file, with STS from moto when the test script started it, and uploads
// through it.
func TestServeEndToEnd(t *testing.T) {
	moto := os.Getenv("CKANUP_IT_MOTO_URL")
	if moto == "" {
		if os.Getenv("CKANUP_IT_REQUIRE") == "1" {
			t.Fatal("CKANUP_IT_MOTO_URL is not set")
		}
		t.Skip("CKANUP_IT_MOTO_URL not set: run scripts/test.sh")
	}
	bucket := "serve-" + strings.ToLower(randHex(6))
	e := newTestEnv(t, moto, "testing", "testing", bucket)
	if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	// The server's own AWS identity, and moto as its STS.
	t.Setenv("AWS_ENDPOINT_URL_STS", moto)
	env := map[string]string{"CKANUP_CKAN_URL": e.ckanURL, "CKANUP_ENABLED_ORGS": "acceptance-org, demo-org"}
	base, log := startServe(t, e, env, map[string]any{"bucket": bucket, "region": "us-east-1",
		"role-arn": "arn:aws:iam::123456789012:role/ckanup-uploads", "s3-endpoint": moto, "key-prefix": "portal", "duration": "15m"})

	delete(e.vars, "CKANUP_BUCKET")
	delete(e.vars, "AWS_ENDPOINT_URL_S3")
	e.vars["CKANUP_TOKEN_URL"] = base
	f := makeFile(t, t.TempDir(), "via-serve.csv", 6<<20)
	r := e.upload(f, "--dataset", "acceptance-dataset", "--verbose")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\nserver log:\n%s", r.code, r.stderr, log.String())
	}
	res := e.checkRegistered("acceptance-dataset", "via-serve.csv", f)
	if !strings.HasPrefix(res["s3_key"].(string), "portal/"+e.world.AcceptanceOrg.ID+"/") {
		t.Errorf("key %v", res["s3_key"])
	}
	audit := log.String()
	if !strings.Contains(audit, `"msg":"issue"`) || !strings.Contains(audit, `"user":"uploader"`) || strings.Contains(audit, e.world.Editor.Token) {
		t.Errorf("audit log:\n%s", audit)
	}
	// Denied: a member asking the endpoint directly.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/credentials", strings.NewReader(`{"dataset": "acceptance-dataset"}`))
	req.Header.Set("Authorization", e.world.Member.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 403 {
		t.Errorf("member: %v %v", resp, err)
	}
	if !strings.Contains(log.String(), `"reason":"not_editor"`) {
		t.Errorf("no denial in the audit log")
	}
}

// A client that sends its headers too slowly is cut off.
func TestServeSlowHeaders(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	env := map[string]string{"CKANUP_CKAN_URL": e.ckanURL, "CKANUP_BUCKET": "b", "CKANUP_REGION": "us-east-1",
		"CKANUP_ROLE_ARN": "arn:aws:iam::1:role/r", "CKANUP_ENABLED_ORGS": "*"}
	base, _ := startServe(t, e, env, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /v1/credentials HTTP/1.1\r\nHost: x\r\n"))
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	if time.Since(start) > 12*time.Second || strings.Contains(string(buf[:n]), "200 OK") {
		t.Errorf("slow client held the connection %s, got %q", time.Since(start), buf[:n])
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v", err)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	e.vars["CKANUP_CKAN_URL"] = e.ckanURL
	delete(e.vars, "CKANUP_BUCKET")
	r := e.run(context.Background(), "", "serve", "--duration", "13h")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--bucket is required") || !strings.Contains(r.stderr, "15m–12h") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	p := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(p, []byte(`{"bucket": "b", "no-such-setting": 1}`), 0o600)
	r = e.run(context.Background(), "", "serve", "--config", p)
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown setting "no-such-setting"`) {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}
