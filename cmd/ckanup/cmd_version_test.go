package main

import (
	"bytes"
	"context"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-20T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name                string
		ldVersion, ldCommit string
		ldDate              string
		bi                  *debug.BuildInfo
		version, commit     string
		date                string
		modified            bool
		goVersion           string
	}{
		{
			name:      "go install of a tagged version",
			ldVersion: "dev",
			bi:        &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Path: "github.com/ckanup/ckanup", Version: "v1.4.0"}},
			version:   "v1.4.0", commit: "unknown", date: "unknown", goVersion: "go1.27.3",
		},
		{
			name:      "go install of a pseudo-version",
			ldVersion: "dev",
			bi:        &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129140000-0123456789ab"}},
			version:   "v0.0.0-20261129140000-0123456789ab", commit: "unknown", date: "unknown", goVersion: runtime.Version(),
		},
		{
			name:      "go build in a clone",
			ldVersion: "dev",
			bi:        &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			version:   "dev", commit: "0123456789abcdef0123456789abcdef01234567", date: "2026-11-20T10:00:00Z", modified: true, goVersion: "go1.26.8",
		},
		{
			name:      "release build: ldflags win over the build info",
			ldVersion: "1.4.0", ldCommit: "fedcba9876543210fedcba9876543210fedcba98", ldDate: "2026-11-21T08:00:00Z",
			bi:      &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			version: "1.4.0", commit: "fedcba9876543210fedcba9876543210fedcba98", date: "2026-11-21T08:00:00Z", goVersion: "go1.27.3",
		},
		{
			name:      "no build info",
			ldVersion: "dev",
			version:   "dev", commit: "unknown", date: "unknown", goVersion: runtime.Version(),
		},
		{
			name:    "empty ldflags version",
			bi:      &debug.BuildInfo{Main: debug.Module{Version: "v2.0.1"}},
			version: "v2.0.1", commit: "unknown", date: "unknown", goVersion: runtime.Version(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveBuildInfo(tc.ldVersion, tc.ldCommit, tc.ldDate, tc.bi)
			want := buildInfo{Version: tc.version, Commit: tc.commit, Date: tc.date, Modified: tc.modified, GoVersion: tc.goVersion}
			if got != want {
				t.Errorf("resolveBuildInfo = %+v, want %+v", got, want)
			}
		})
	}
}

func TestBuildInfoString(t *testing.T) {
	b := buildInfo{Version: "v1.4.0", Commit: "0123abc", Date: "2026-11-20T10:00:00Z", Modified: true, GoVersion: "go1.27.3"}
	want := "ckanup v1.4.0 (commit 0123abc, modified, built 2026-11-20T10:00:00Z, go1.27.3 " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	if got := b.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestVersionCommandAndFlag: `ckanup version` and `ckanup --version` print the
// same line, which describes this test binary's build.
func TestVersionCommandAndFlag(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		deps := DefaultDeps()
		deps.Stdout, deps.Stderr = &out, &errb
		if code := Execute(context.Background(), args, deps); code != exitOK {
			t.Fatalf("ckanup %v: exit %d, stderr %q", args, code, errb.String())
		}
		return out.String()
	}
	cmdOut, flagOut := run("version"), run("--version")
	if cmdOut != flagOut {
		t.Errorf("ckanup version printed %q, ckanup --version %q", cmdOut, flagOut)
	}
	if want := versionString() + "\n"; cmdOut != want {
		t.Errorf("ckanup version printed %q, want %q", cmdOut, want)
	}
	if !strings.HasPrefix(cmdOut, "ckanup ") || !strings.Contains(cmdOut, runtime.Version()) {
		t.Errorf("ckanup version printed %q: want the name, version and Go version", cmdOut)
	}
}

// TestNoMethodByName: the linker can drop ckanup's unused methods. Once
// reflect's MethodByName is reachable (text/template does that: cobra's
// SetUsageTemplate, SetHelpTemplate and SetVersionTemplate use it) the linker
// keeps every exported method of every type: the binary grew from 20 MB to
// 30 MB and its resident code by 2 MiB (see setVersionFlag). The same check
// as cobra's own TestDeadcodeElimination.
func TestNoMethodByName(t *testing.T) {
	out, err := exec.Command("go", "tool", "nm", ckanupBinary(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool nm: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(line, ".MethodByName") {
			t.Fatalf("the binary holds %q: something reaches reflect's MethodByName (text/template?); find it with 'go build -ldflags=-dumpdep ./cmd/ckanup 2>&1 | grep MethodByName'", strings.TrimSpace(line))
		}
	}
}
