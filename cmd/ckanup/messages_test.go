package main

import (
	"context"
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
