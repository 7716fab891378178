package main

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leftIn lists the entries of dir (a test's TMPDIR), to show what a run left.
func leftIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// waitForEmpty waits, up to limit, for a stopped sandbox process (not a child
// of the test) to finish removing what it made in dir, and returns what is
// left. The limit only bounds a failing test.
func waitForEmpty(t *testing.T, dir string, limit time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		left := leftIn(t, dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var sandboxDirLine = regexp.MustCompile(`(?m)^export CKANUP_SANDBOX_DIR='([^']*)'$`)

// waitForEnvFile waits for the environment file of a sandbox to appear, and
// returns it; done reports an early end.
func waitForEnvFile(t *testing.T, path string, done <-chan struct{}, log func() string) string {
	t.Helper()
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		select {
		case <-done:
			t.Fatalf("the sandbox ended before it was ready:\n%s", log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A foreground sandbox makes its directory in $TMPDIR, names it in the
// environment, and removes it when it stops.
func TestSandboxRemovesItsDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	code := make(chan int, 1)
	ended := make(chan struct{})
	go func() {
		code <- Execute(ctx, []string{"sandbox", "--env-file", envFile}, sandboxDeps(&out, &errb))
		close(ended)
	}()
	env := waitForEnvFile(t, envFile, ended, errb.String)
	m := sandboxDirLine.FindStringSubmatch(env)
	if m == nil || filepath.Dir(m[1]) != tmp {
		t.Fatalf("CKANUP_SANDBOX_DIR is not a directory in TMPDIR %s:\n%s", tmp, env)
	}
	if fi, err := os.Stat(filepath.Join(m[1], "state")); err != nil || !fi.IsDir() {
		t.Errorf("no journal directory in %s: %v", m[1], err)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit %d after stop\n%s", c, errb.String())
	}
	// errb is read only once the command has returned: it writes to it
	// until then.
	if !strings.Contains(errb.String(), m[1]+" (removed when it stops)") {
		t.Errorf("the sandbox does not say where its directory is and that it goes:\n%s", errb.String())
	}
	if left := leftIn(t, tmp); len(left) != 0 {
		t.Errorf("left in TMPDIR after the sandbox stopped: %v", left)
	}
}

// A sandbox process removes its directory and environment file on SIGTERM
// and on Ctrl-C, also when a second signal comes before it is done (as when
// a script runs `kill "$CKANUP_SANDBOX_PID"` and its exit trap kills again),
// which ends ckanup at once.
func TestSandboxProcessRemovesItsDirectoryOnSignals(t *testing.T) {
	bin := ckanupBinary(t)
	for _, c := range []struct {
		name  string
		sig   syscall.Signal
		twice bool
	}{
		{"SIGTERM", syscall.SIGTERM, false},
		{"SIGINT", syscall.SIGINT, false},
		{"SIGTERM twice", syscall.SIGTERM, true},
		{"SIGINT twice", syscall.SIGINT, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			envFile := filepath.Join(t.TempDir(), "sandbox.env")
			cmd := exec.Command(bin, "sandbox", "--env-file", envFile)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var log bytes.Buffer
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ended := make(chan struct{})
			var waitErr error
			go func() { waitErr = cmd.Wait(); close(ended) }()
			env := waitForEnvFile(t, envFile, ended, func() string { return "" })
			if left := leftIn(t, tmp); len(left) != 1 || !strings.HasPrefix(left[0], "ckanup-sandbox-") {
				t.Fatalf("TMPDIR holds %v, want the sandbox's directory", left)
			}
			if c.twice {
				signalMidCleanup(t, cmd.Process, c.sig, env)
			} else if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			<-ended
			wantCode := map[bool]int{false: 0, true: exitInterrupted}[c.twice]
			if code := cmd.ProcessState.ExitCode(); code != wantCode {
				t.Errorf("after %s: %v, want exit %d\n%s", c.name, waitErr, wantCode, log.String())
			}
			if left := leftIn(t, tmp); len(left) != 0 {
				t.Errorf("left in TMPDIR after %s: %v\n%s", c.name, left, log.String())
			}
			// Stderr is no terminal here: no blank line before the notice
			// (on a terminal it steps past the echoed ^C).
			if out := "\n" + log.String(); !strings.Contains(out, "\nckanup: interrupted") || strings.Contains(out, "\n\nckanup: interrupted") {
				t.Errorf("after %s, want the interruption notice on a line of its own, no blank line before it:\n%q", c.name, log.String())
			}
			if _, err := os.Stat(envFile); !os.IsNotExist(err) {
				t.Errorf("environment file left after %s: %v", c.name, err)
			}
		})
	}
}

var s3URLLine = regexp.MustCompile(`(?m)^export AWS_ENDPOINT_URL_S3='([^']*)'$`)

// signalMidCleanup sends sig to a sandbox process twice, the second time while
// it is still stopping: a request it has begun to read (held open here) keeps
// (or only connected: http.Server.Shutdown waits for a new connection too)
// keeps its S3 server shutting down, and the listener it has closed shows that the
// first signal was taken. The second signal then ends ckanup at once.
func signalMidCleanup(t *testing.T, p *os.Process, sig syscall.Signal, env string) {
	t.Helper()
	m := s3URLLine.FindStringSubmatch(env)
	if m == nil {
		t.Fatalf("no AWS_ENDPOINT_URL_S3 in:\n%s", env)
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	held, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.Write([]byte("GET /ckanup-sandbox HTTP/1.1\r\nHost: " + u.Host + "\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if i == 400 {
			t.Fatal("the sandbox still accepts connections after the first signal")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

var sandboxPIDLine = regexp.MustCompile(`(?m)^export CKANUP_SANDBOX_PID='(\d+)'$`)

// A background sandbox says where its directory is and that it goes when
// stopped, and removes it when killed as the README says (twice here, as a
// script's exit trap may).
func TestBackgroundSandboxRemovesItsDirectoryWhenKilled(t *testing.T) {
	bin := ckanupBinary(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin, "sandbox", "--background")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	pm := sandboxPIDLine.FindStringSubmatch(out.String())
	if pm == nil {
		t.Fatalf("no CKANUP_SANDBOX_PID in:\n%s", out.String())
	}
	pid, _ := strconv.Atoi(pm[1])
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.Kill()
		}
	}()
	dm := sandboxDirLine.FindStringSubmatch(out.String())
	if dm == nil || filepath.Dir(dm[1]) != tmp {
		t.Fatalf("CKANUP_SANDBOX_DIR is not a directory in TMPDIR %s:\n%s", tmp, out.String())
	}
	if left := leftIn(t, tmp); len(left) != 1 || left[0] != filepath.Base(dm[1]) {
		t.Errorf("TMPDIR holds %v, want only the sandbox's directory %s", left, dm[1])
	}
	if !strings.Contains(errb.String(), `objects and journal in "$CKANUP_SANDBOX_DIR" (removed when it stops)`) {
		t.Errorf("the background sandbox does not say where its directory is and that it goes:\n%s", errb.String())
	}
	signalMidCleanup(t, p, syscall.SIGTERM, out.String())
	stopped = true
	if left := waitForEmpty(t, tmp, 30*time.Second); len(left) != 0 {
		t.Errorf("left in TMPDIR after the background sandbox was killed: %v", left)
	}
}
