package main

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/fileset"
	"github.com/ckanup/ckanup/internal/scope"
)

func TestObjectURL(t *testing.T) {
	key := "portal/org/ds/res/a b+c%.csv"
	cases := []struct {
		name   string
		target creds.Target
		public string
		want   string
	}{
		{"AWS virtual-hosted", creds.Target{Bucket: "bkt", Region: "eu-west-1"}, "",
			"https://bkt.s3.eu-west-1.amazonaws.com/portal/org/ds/res/a%20b%2Bc%25.csv"},
		{"endpoint, path style", creds.Target{Bucket: "bkt", Endpoint: "https://s3.example.org", PathStyle: true}, "",
			"https://s3.example.org/bkt/portal/org/ds/res/a%20b%2Bc%25.csv"},
		{"endpoint, virtual-hosted", creds.Target{Bucket: "bkt", Endpoint: "https://s3.example.org"}, "",
			"https://bkt.s3.example.org/portal/org/ds/res/a%20b%2Bc%25.csv"},
		{"dotted bucket goes path-style, as the SDK sends it", creds.Target{Bucket: "data.example.org", Region: "eu-west-1"}, "",
			"https://s3.eu-west-1.amazonaws.com/data.example.org/portal/org/ds/res/a%20b%2Bc%25.csv"},
		{"public base", creds.Target{Bucket: "bkt", Region: "eu-west-1"}, "https://cdn.example.org/files/",
			"https://cdn.example.org/files/portal/org/ds/res/a%20b%2Bc%25.csv"},
	}
	for _, tc := range cases {
		if got := objectURLs(aws.Config{Region: "us-east-1"}, tc.target, tc.public)(key); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestKeyNameAndResourceName(t *testing.T) {
	for in, want := range map[string]string{
		"a.csv": "a.csv", "../../x": "x", "dir/./b.csv": "dir/b.csv", "new\nline": "new_line", "": "file", "a\\b": "a_b",
	} {
		if got := scope.KeyName(in); got != want {
			t.Errorf("scope.KeyName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := fileset.ResourceName(" tab\there\n"); got != "tab here" {
		t.Errorf("resourceName = %q", got)
	}
}
