package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sandboxDeps(out, errb *bytes.Buffer) *Deps {
	return &Deps{
		Stdin: strings.NewReader(""), Stdout: out, Stderr: errb,
		Getenv:     func(string) string { return "" },
		HTTPClient: &http.Client{Timeout: time.Minute}, Now: time.Now,
		IsTerminal:   func(any) bool { return false },
		ReadPassword: func(any) ([]byte, error) { return nil, errors.New("no terminal") },
	}
}

// The environment file appears whole once the sandbox is ready, and goes when
// it stops; a file from an earlier run is not mistaken for this run's.
func TestSandboxEnvFile(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	if err := os.WriteFile(envFile, []byte("export CKAN_URL=http://stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Execute(ctx, []string{"sandbox", "--env-file", envFile}, sandboxDeps(&out, &errb)) }()
	var env string
	for env == "" || strings.Contains(env, "stale") {
		select {
		case code := <-done:
			t.Fatalf("sandbox ended early: exit %d\n%s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		b, _ := os.ReadFile(envFile)
		env = string(b)
	}
	for _, name := range []string{"CKAN_URL", "CKAN_API_TOKEN", "CKANUP_BUCKET", "AWS_ENDPOINT_URL_S3", "CKANUP_STATE_DIR", "CKANUP_SANDBOX_PID"} {
		if !strings.Contains(env, "export "+name+"='") {
			t.Errorf("environment file lacks %s:\n%s", name, env)
		}
	}
	if out.Len() != 0 {
		t.Errorf("with --env-file, stdout should stay empty: %q", out.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after stop\n%s", code, errb.String())
	}
	if _, err := os.Stat(envFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("environment file left after the sandbox stopped: %v", err)
	}
}

func TestSandboxPortInUseNamesPortAndFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, flag := range []string{"--ckan-port", "--s3-port"} {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), []string{"sandbox", flag, port}, sandboxDeps(&out, &errb))
		if code != exitUsage || !strings.Contains(errb.String(), "port "+port+" is already in use") || !strings.Contains(errb.String(), "another port with "+flag) {
			t.Errorf("%s %s: exit %d\n%s", flag, port, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), []string{"sandbox", "--s3-port", "70000"}, sandboxDeps(&out, &errb)); code != exitUsage {
		t.Errorf("port 70000: exit %d", code)
	}
}

// TestDemoShowsTheResource: the demo prints the resource CKAN holds, as
// resource_show answers it, with the object's URL, size and hash.
func TestDemoShowsTheResource(t *testing.T) {
	var out, errb bytes.Buffer
	deps := DefaultDeps()
	deps.Stdout, deps.Stderr = &out, &errb
	t.Setenv("TMPDIR", t.TempDir())
	if code := Execute(context.Background(), []string{"demo", "--size", "6MiB"}, deps); code != exitOK {
		t.Fatalf("ckanup demo: exit %d\n%s", code, errb.String())
	}
	// The upload's own result line, then the resource.
	_, shown, found := strings.Cut(out.String(), "\n{")
	var res map[string]any
	if !found || json.Unmarshal([]byte("{"+shown), &res) != nil {
		t.Fatalf("stdout does not end with the resource as JSON:\n%s", out.String())
	}
	hash, _ := res["hash"].(string)
	url, _ := res["url"].(string)
	if !strings.HasPrefix(hash, "sha256:") || !strings.HasPrefix(url, "http") || res["size"] != float64(6<<20) || res["s3_key"] == nil {
		t.Errorf("the resource shown: %v", res)
	}
}
