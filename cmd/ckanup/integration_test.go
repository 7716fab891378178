package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/scope"
)

// Integration tests against real S3 implementations started by the test script
// (scripts/test.sh): versitygw checks signatures, Content-MD5, checksums and part
// order; moto is lenient. Set CKANUP_IT_REQUIRE=1 to fail, not skip, when a
// server is not configured.
type s3Server struct {
	name, urlEnv, keyEnv, secretEnv string
}

var s3Servers = []s3Server{
	{"versitygw", "CKANUP_IT_VERSITYGW_URL", "CKANUP_IT_VERSITYGW_KEY", "CKANUP_IT_VERSITYGW_SECRET"},
	{"moto", "CKANUP_IT_MOTO_URL", "", ""},
}

func (s s3Server) env(t *testing.T) *testEnv {
	u := os.Getenv(s.urlEnv)
	if u == "" {
		if os.Getenv("CKANUP_IT_REQUIRE") == "1" {
			t.Fatalf("%s is not set: the test script starts %s and sets it", s.urlEnv, s.name)
		}
		t.Skipf("%s not set: run scripts/test.sh to start %s", s.urlEnv, s.name)
	}
	key, secret := "testing", "testing"
	if s.keyEnv != "" {
		key, secret = os.Getenv(s.keyEnv), os.Getenv(s.secretEnv)
	}
	bucket := fmt.Sprintf("it-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e9)
	bucket = strings.ReplaceAll(strings.ReplaceAll(bucket, "_", "-"), "testintegration", "")
	if len(bucket) > 60 {
		bucket = bucket[len(bucket)-60:]
		bucket = "b" + strings.TrimLeft(bucket, "-")
	}
	e := newTestEnv(t, u, key, secret, bucket)
	if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s on %s: %v", bucket, s.name, err)
	}
	return e
}

func TestIntegrationUpload(t *testing.T) {
	for _, srv := range s3Servers {
		t.Run(srv.name, func(t *testing.T) {
			e := srv.env(t)
			dir := t.TempDir()
			files := []string{
				makeFile(t, dir, "empty.csv", 0),
				makeFile(t, dir, "one.bin", 1),
				makeFile(t, dir, "exactly-one-part.bin", 5<<20),
				makeFile(t, dir, "four-parts-plus.parquet", 15<<20+1),
				makeFile(t, dir, "data set (v2)+100% #1 ?ünï.csv", 4096),
			}
			r := e.upload(append(files, "--dataset", "acceptance-dataset", "--output", "json", "--verbose")...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			recs := records(t, r.stdout)
			if len(recs) != len(files) {
				t.Fatalf("%d records", len(recs))
			}
			for _, rec := range recs {
				want, err := os.ReadFile(rec.File)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.object(rec.Key); string(got) != string(want) || rec.SHA256 != sha256Hex(want) {
					t.Errorf("%s: object differs (%d bytes vs %d)", rec.File, len(got), len(want))
				}
				wantURL := e.s3URL + "/" + e.bucket + "/" + scope.EscapeKey(rec.Key)
				if rec.URL != wantURL {
					t.Errorf("url %s, want %s", rec.URL, wantURL)
				}
				if u, err := url.Parse(rec.URL); err != nil || strings.TrimPrefix(u.Path, "/"+e.bucket+"/") != rec.Key {
					t.Errorf("url %s does not decode to key %q", rec.URL, rec.Key)
				}
				e.checkRegistered("acceptance-dataset", filepath.Base(rec.File), rec.File)
			}
			if e.openUploads() != 0 {
				t.Errorf("multipart uploads left open")
			}
			// Again: no duplicates, nothing sent, everything skipped.
			r = e.upload(append(files, "--dataset", "acceptance-dataset", "--output", "json")...)
			if r.code != 0 {
				t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
			}
			if n := len(e.ckan.Resources("acceptance-dataset")); n != len(files) {
				t.Errorf("%d resources after re-run, want %d", n, len(files))
			}
			for _, rec := range records(t, r.stdout) {
				if rec.Status != "skipped" {
					t.Errorf("re-run: %+v", rec)
				}
			}
		})
	}
}

// TestIntegrationLargeFile uploads 1 GiB to versitygw and compares every byte.
func TestIntegrationLargeFile(t *testing.T) {
	if os.Getenv("CKANUP_IT_LARGE") != "1" {
		t.Skip("set CKANUP_IT_LARGE=1 to upload 1 GiB")
	}
	e := s3Servers[0].env(t)
	f := makeFile(t, t.TempDir(), "large.bin", 1<<30)
	r := e.upload(f, "--dataset", "acceptance-dataset", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	rec := records(t, r.stdout)[0]
	want := fileSHA256(t, f)
	if rec.SHA256 != want || rec.Parts != 205 || rec.Size != 1<<30 {
		t.Errorf("record %+v", rec)
	}
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(rec.Key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil || n != 1<<30 || hex.EncodeToString(h.Sum(nil)) != want {
		t.Fatalf("downloaded %d bytes, sha256 %x, want %s (%v)", n, h.Sum(nil), want, err)
	}
	res := e.ckan.Resources("acceptance-dataset")
	if len(res) != 1 || res[0]["size"] != int64(1<<30) || res[0]["hash"] != "sha256:"+want {
		t.Errorf("resource %v", res)
	}
}
