package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/spf13/cobra"
)

// The table covers every kind once, and the docs and every command's help show it.
func TestExitCodesDocumented(t *testing.T) {
	kinds := map[failure.Kind]int{}
	codes := map[int]bool{}
	for _, r := range exitCodes {
		kinds[r.kind]++
		if codes[r.code] {
			t.Errorf("code %d twice", r.code)
		}
		codes[r.code] = true
	}
	for _, k := range append(failure.Kinds(), failure.None) {
		if kinds[k] != 1 {
			t.Errorf("kind %v has %d rows", k, kinds[k])
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "exit-codes.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), exitCodesMarkdown()) {
		t.Errorf("docs/exit-codes.md does not hold the table of cmd/ckanup/exitcodes.go; put this in it:\n%s", exitCodesMarkdown())
	}
	var check func(c *cobra.Command)
	check = func(c *cobra.Command) {
		if !strings.Contains(c.Long, exitCodesHelp) {
			t.Errorf("ckanup %s --help lacks the exit codes", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			check(sub)
		}
	}
	check(newRootCmd(DefaultDeps(), nil))
}

// Each row of the table, caused by a real error of its kind against the CKAN
// simulator and the S3 store.
func TestExitCodeOfEachKind(t *testing.T) {
	type tc struct {
		name  string
		setup func(t *testing.T, e *testEnv) []string // returns the upload's arguments
		code  int
		msg   string
	}
	small := func(t *testing.T) string { return makeFile(t, t.TempDir(), "small.csv", 100) }
	cases := []tc{
		{"success", func(t *testing.T, e *testEnv) []string {
			return []string{small(t), "-d", "acceptance-dataset"}
		}, exitOK, ""},
		{"failure: the file changed while it was sent", func(t *testing.T, e *testEnv) []string {
			f := makeFile(t, t.TempDir(), "growing.log", 6<<20)
			var once sync.Once
			e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Query().Has("partNumber") {
					once.Do(func() {
						fh, _ := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
						fh.Write([]byte("one more line\n"))
						fh.Close()
					})
				}
				return false
			}
			return []string{f, "-d", "acceptance-dataset"}
		}, exitFailure, "changed while it was being uploaded"},
		{"usage: a directory without --recursive", func(t *testing.T, e *testEnv) []string {
			return []string{t.TempDir(), "-d", "acceptance-dataset"}
		}, exitUsage, "pass --recursive"},
		{"usage: an unknown flag", func(t *testing.T, e *testEnv) []string {
			return []string{small(t), "-d", "acceptance-dataset", "--frobnicate"}
		}, exitUsage, "unknown flag"},
		{"partial: one of two files refused by S3", func(t *testing.T, e *testEnv) []string {
			dir := t.TempDir()
			e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/bad.csv") {
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusBadRequest)
					w.Write([]byte(`<Error><Code>InvalidArgument</Code><Message>no</Message></Error>`))
					return true
				}
				return false
			}
			return []string{makeFile(t, dir, "good.csv", 10), makeFile(t, dir, "bad.csv", 10), "-d", "acceptance-dataset"}
		}, exitPartial, "1 of 2 files failed"},
		{"auth: a refused CKAN token", func(t *testing.T, e *testEnv) []string {
			e.vars["CKAN_API_TOKEN"] = "not-a-real-token"
			return []string{small(t), "-d", "acceptance-dataset"}
		}, exitAuth, "did not accept the API token"},
		{"auth: a dataset the user may not edit", func(t *testing.T, e *testEnv) []string {
			return []string{small(t), "-d", "other-dataset"}
		}, exitAuth, "not allowed to edit"},
		{"auth: S3 refuses the credentials", func(t *testing.T, e *testEnv) []string {
			t.Setenv("AWS_ACCESS_KEY_ID", "WRONGKEY")
			return []string{small(t), "-d", "acceptance-dataset"}
		}, exitAuth, "credentials were refused"},
		{"not found: a missing dataset", func(t *testing.T, e *testEnv) []string {
			return []string{small(t), "-d", "no-such-dataset"}
		}, exitNotFound, "not found"},
		{"not found: a missing bucket", func(t *testing.T, e *testEnv) []string {
			return []string{small(t), "-d", "acceptance-dataset", "--bucket", "no-such-bucket"}
		}, exitNotFound, "does not exist"},
		{"not found: a missing file", func(t *testing.T, e *testEnv) []string {
			return []string{filepath.Join(t.TempDir(), "nope.csv"), "-d", "acceptance-dataset"}
		}, exitNotFound, "no such file"},
		{"not found: a resource id not in the dataset", func(t *testing.T, e *testEnv) []string {
			return []string{small(t), "-d", "acceptance-dataset", "--resource-id", "00000000-0000-0000-0000-000000000000"}
		}, exitNotFound, "is not in dataset"},
		{"config: the CKAN URL answers HTML", func(t *testing.T, e *testEnv) []string {
			e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<html><body>Please log in</body></html>"))
				return true
			})
			return []string{small(t), "-d", "acceptance-dataset"}
		}, exitConfig, "HTML page"},
		{"temporary: S3 answers 503 after the retries", func(t *testing.T, e *testEnv) []string {
			e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPut {
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusServiceUnavailable)
					w.Write([]byte(`<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>`))
					return true
				}
				return false
			}
			return []string{small(t), "-d", "acceptance-dataset", "--retries", "2"}
		}, exitTemporary, "ServiceUnavailable"},
		{"temporary: CKAN answers 503 after the retries", func(t *testing.T, e *testEnv) []string {
			e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
				if action != "package_show" {
					return false
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"success": false, "error": {"message": "down for maintenance"}}`))
				return true
			})
			return []string{small(t), "-d", "acceptance-dataset"}
		}, exitTemporary, "503"},
		{"busy: another run holds the file's lock", func(t *testing.T, e *testEnv) []string {
			f := makeFile(t, t.TempDir(), "big.bin", 6<<20)
			st, err := journal.Open(filepath.Join(e.vars["XDG_STATE_HOME"], "ckanup"))
			if err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(f)
			lock, err := st.Lock(journal.ID(e.ckanURL, e.world.AcceptanceDataset.ID, abs))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lock.Unlock() })
			return []string{f, "-d", "acceptance-dataset"}
		}, exitBusy, "another ckanup process"},
		{"interrupted", func(t *testing.T, e *testEnv) []string {
			return []string{small(t), "-d", "acceptance-dataset"}
		}, exitInterrupted, "interrupted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, "", "", "", "ckanup-test")
			args := c.setup(t, e)
			ctx := context.Background()
			if c.code == exitInterrupted {
				cctx, cancel := context.WithCancel(ctx)
				e.s3Hook = func(w http.ResponseWriter, r *http.Request) bool {
					cancel() // Ctrl-C while the first byte goes out
					return false
				}
				ctx = cctx
			}
			r := e.run(ctx, "", append([]string{"upload", "--retry-max-time", "5s"}, args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("exit %d, want %d (%s); stderr:\n%s", r.code, c.code, c.msg, r.stderr)
			}
		})
	}
}

// Every command maps errors through the same table.
func TestExitCodesSameInOtherCommands(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	e.vars["CKAN_API_TOKEN"] = "not-a-real-token"
	if r := e.run(context.Background(), "", "whoami"); r.code != exitAuth {
		t.Errorf("whoami with a refused token: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run(context.Background(), "", "uploads", "--frobnicate"); r.code != exitUsage {
		t.Errorf("uploads with an unknown flag: exit %d\n%s", r.code, r.stderr)
	}
}
