package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProfileFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"command succeeds", []string{"version"}, exitOK},
		{"command fails in RunE", []string{"upload", "x.csv"}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cpu, mem, tr := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof"), filepath.Join(dir, "run.trace")
			var out, errb bytes.Buffer
			deps := &Deps{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
			code := Execute(context.Background(), append(tc.args, "--cpuprofile", cpu, "--memprofile", mem, "--trace", tr), deps)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errb.String())
			}
			for _, p := range []string{cpu, mem} {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				zr, err := gzip.NewReader(f) // a pprof profile is a gzipped protocol buffer
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if _, err := io.ReadAll(zr); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				f.Close()
			}
			b, err := os.ReadFile(tr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("go 1.")) {
				t.Fatalf("trace starts %q, want the runtime/trace header", b[:min(len(b), 16)])
			}
		})
	}
}

func TestProfileFlagsHidden(t *testing.T) {
	var out bytes.Buffer
	deps := &Deps{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, Now: time.Now}
	if code := Execute(context.Background(), []string{"--help"}, deps); code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	if strings.Contains(out.String(), "cpuprofile") || strings.Contains(out.String(), "memprofile") || strings.Contains(out.String(), "--trace") {
		t.Errorf("--help lists the hidden profiling flags:\n%s", out.String())
	}
}

func TestProfileFlagsUnwritable(t *testing.T) {
	var out bytes.Buffer
	deps := &Deps{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, Now: time.Now}
	code := Execute(context.Background(), []string{"version", "--cpuprofile", filepath.Join(t.TempDir(), "missing", "cpu.pprof")}, deps)
	if code != exitUsage || !strings.Contains(out.String(), "--cpuprofile") {
		t.Errorf("exit %d, output %q; want exit %d naming --cpuprofile", code, out.String(), exitUsage)
	}
}
