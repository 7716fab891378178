package sandbox

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartOnFreePortsWithOwnStateDir(t *testing.T) {
	a, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// A second sandbox at the same time gets other ports.
	b, err := Start(Options{})
	if err != nil {
		t.Fatalf("second sandbox: %v", err)
	}
	defer b.Close()
	if a.CKANURL == b.CKANURL || a.S3URL == b.S3URL {
		t.Errorf("two sandboxes share a port: %s %s / %s %s", a.CKANURL, a.S3URL, b.CKANURL, b.S3URL)
	}
	env := map[string]string{}
	for _, kv := range a.Env() {
		env[kv[0]] = kv[1]
	}
	if env["CKANUP_STATE_DIR"] != filepath.Join(a.Dir, "state") {
		t.Errorf("CKANUP_STATE_DIR = %q, want a directory inside %s", env["CKANUP_STATE_DIR"], a.Dir)
	}
	if fi, err := os.Stat(env["CKANUP_STATE_DIR"]); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v", fi, err)
	}
	dir := a.Dir
	a.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary directory %s left after Close: %v", dir, err)
	}
}

func TestFixedPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, o := range []Options{{CKANPort: port}, {S3Port: port}} {
		_, err := Start(o)
		var pe *PortInUseError
		if !errors.As(err, &pe) || pe.Port != port {
			t.Fatalf("%+v: got %v, want a PortInUseError for %d", o, err, port)
		}
		want := map[bool]string{true: "CKAN", false: "S3"}[o.CKANPort != 0]
		if pe.Service != want || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v names the wrong service (want %s)", o, err, want)
		}
	}
}

func TestEnvFileIsShellSafe(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	p := filepath.Join(t.TempDir(), "env")
	odd := `it's $HOME "quoted" \back`
	if err := WriteEnvFile(p, [][2]string{{"A", odd}, {"B", "plain"}}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bash, "-c", `. "$1" && printf '%s|%s' "$A" "$B"`, "_", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != odd+"|plain" {
		t.Errorf("sourced %q, want %q", out, odd+"|plain")
	}
}
