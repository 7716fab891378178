package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// No token given at all: the message says so and how to give one, and does not
// claim CKAN refused a token (exit 4).
func TestNoTokenSaysHowToGiveOne(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	delete(e.vars, "CKAN_API_TOKEN")
	f := makeFile(t, t.TempDir(), "f.csv", 10)
	for _, args := range [][]string{
		{"upload", f, "-d", e.world.DemoDataset.Name},
		{"whoami"},
	} {
		r := e.run(context.Background(), "", args...)
		if r.code != exitAuth {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, exitAuth, r.stderr)
		}
		for _, want := range []string{"no CKAN API token was given for " + e.ckanURL, "--api-token-file", "CKAN_API_TOKEN", "ckanup login --ckan-url " + e.ckanURL} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "did not accept") {
			t.Errorf("%v: stderr says a token was refused when none was given:\n%s", args, r.stderr)
		}
	}
}

// A CKAN that cannot be reached (connection refused, a host name that does not
// resolve) is not blamed on the token; the message names the URL and what to
// check, and the exit code stays the failure's kind.
func TestUnreachableCKANIsNotBlamedOnTheToken(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	f := makeFile(t, t.TempDir(), "f.csv", 10)
	for _, tc := range []struct {
		url   string
		codes []int
	}{
		{"http://127.0.0.1:9", []int{exitTemporary}},
		// A resolver that answers NXDOMAIN gives 6; one that cannot be asked, 7.
		{"http://ckan.example.invalid", []int{exitConfig, exitTemporary}},
	} {
		for _, args := range [][]string{
			{"upload", "--ckan-url", tc.url, "--retries", "1", f, "-d", e.world.DemoDataset.Name},
			{"whoami", "--ckan-url", tc.url},
		} {
			r := e.run(context.Background(), "", args...)
			ok := false
			for _, c := range tc.codes {
				ok = ok || r.code == c
			}
			if !ok {
				t.Errorf("%v: exit %d, want one of %v\n%s", args, r.code, tc.codes, r.stderr)
			}
			for _, want := range []string{"could not reach CKAN at " + tc.url + " (URL from --ckan-url)", "check the CKAN URL (--ckan-url, the CKAN_URL environment variable, or the login profile)"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "API token") {
				t.Errorf("%v: stderr blames the token:\n%s", args, r.stderr)
			}
		}
	}
}

// An S3 endpoint that cannot be reached is named, with what to check, after
// the SDK's own text; the secret key never appears (run checks that).
func TestUnreachableS3EndpointIsNamed(t *testing.T) {
	e := newTestEnv(t, "http://127.0.0.1:9", "AKIDUNREACHABLE", testSecretKey, "ckanup-test")
	f := makeFile(t, t.TempDir(), "f.csv", 10)
	for _, args := range [][]string{
		{"upload", "--retries", "1", f, "-d", e.world.DemoDataset.Name},
		{"upload", "--retries", "1", "-o", "json", f, "-d", e.world.DemoDataset.Name},
		{"uploads", "list"},
	} {
		r := e.run(context.Background(), "", args...)
		if r.code != exitTemporary {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, exitTemporary, r.stderr)
		}
		for _, want := range []string{"could not reach the S3 endpoint http://127.0.0.1:9: ", "check the S3 endpoint (--endpoint-url, AWS_ENDPOINT_URL_S3", "proxy"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
			}
		}
	}
}

// Files the cancellation stopped are "interrupted", not "failed", in the text
// lines, the JSON records and the summary, with a message that says so and
// how to resume instead of "context canceled"; the exit code is 130.
func TestInterruptedFilesAreReportedAsInterrupted(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	e.vars["XDG_STATE_HOME"] = t.TempDir()
	big := makeFile(t, t.TempDir(), "big.bin", 30<<20)
	small := makeFile(t, t.TempDir(), "small.bin", 10)

	r := e.interruptAt("3", big, small, "--dataset", "acceptance-dataset")
	if r.code != exitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitInterrupted, r.stderr)
	}
	for _, want := range []string{
		"interrupted " + big + "\n", "interrupted " + small + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{
		big + ": the upload was interrupted; multipart upload ",
		"is kept, and running the same command again resumes it",
		"run the same command again to resume it: ckanup upload --concurrency 1 " + big,
		small + ": interrupted before its upload began",
		"0 failed, 2 interrupted",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, bad := range []string{"context canceled", "failed   ", "error: " + big} {
		if strings.Contains(r.stdout+r.stderr, bad) {
			t.Errorf("output holds %q:\nstdout:\n%s\nstderr:\n%s", bad, r.stdout, r.stderr)
		}
	}

	r = e.interruptAt("5", "-o", "json", big, small, "--dataset", "acceptance-dataset")
	if r.code != exitInterrupted {
		t.Fatalf("json: exit %d, want %d\n%s", r.code, exitInterrupted, r.stderr)
	}
	recs := records(t, r.stdout)
	if len(recs) != 2 {
		t.Fatalf("json: %d records\n%s", len(recs), r.stdout)
	}
	for _, rec := range recs {
		if rec.Status != "interrupted" || strings.Contains(rec.Error, "context canceled") || !strings.Contains(rec.Error, "interrupted") {
			t.Errorf("json record %s: status %q, error %q", rec.File, rec.Status, rec.Error)
		}
	}
	var sum map[string]any
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	if sum["failed"] != 0.0 || sum["interrupted_files"] != 2.0 || sum["interrupted"] != true {
		t.Errorf("json summary %v", sum)
	}
}
