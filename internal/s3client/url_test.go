package s3client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/ckanup/ckanup/internal/creds"
)

var errCaptured = errors.New("captured")

// captureURL sends a PutObject through a client built by New and returns the
// URL the SDK put on the wire (the request is stopped after signing).
func captureURL(t *testing.T, cfg aws.Config, target creds.Target, key string) string {
	t.Helper()
	var got string
	client := New(cfg, target, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("capture",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					req := in.Request.(*smithyhttp.Request)
					u := *req.URL
					u.RawQuery = ""
					got = u.String()
					return middleware.FinalizeOutput{}, middleware.Metadata{}, errCaptured
				}), middleware.After)
		})
	})
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(target.Bucket), Key: aws.String(key), Body: strings.NewReader("x")})
	if !errors.Is(err, errCaptured) {
		t.Fatalf("PutObject: %v", err)
	}
	return got
}

func testConfig(t *testing.T, env map[string]string) aws.Config {
	t.Helper()
	for _, k := range []string{"AWS_USE_DUALSTACK_ENDPOINT", "AWS_USE_FIPS_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The URL ckanup registers is the URL the SDK wrote the object to, for every
// addressing mode ckanup offers.
func TestObjectURLMatchesRequest(t *testing.T) {
	key := "org/ds/res id/naïve+file (1).csv"
	cases := []struct {
		name   string
		target creds.Target
		env    map[string]string
		want   string // the expected URL, as a check on both sides
	}{
		{name: "AWS virtual-hosted", target: creds.Target{Bucket: "data", Region: "eu-west-1"},
			want: "https://data.s3.eu-west-1.amazonaws.com/"},
		{name: "AWS dotted bucket goes path-style", target: creds.Target{Bucket: "data.example.org", Region: "eu-west-1"},
			want: "https://s3.eu-west-1.amazonaws.com/data.example.org/"},
		{name: "AWS path style asked for", target: creds.Target{Bucket: "data", Region: "eu-west-1", PathStyle: true},
			want: "https://s3.eu-west-1.amazonaws.com/data/"},
		{name: "AWS us-east-1", target: creds.Target{Bucket: "data", Region: "us-east-1"},
			want: "https://data.s3.us-east-1.amazonaws.com/"},
		{name: "China partition", target: creds.Target{Bucket: "data", Region: "cn-north-1"},
			want: "https://data.s3.cn-north-1.amazonaws.com.cn/"},
		{name: "GovCloud", target: creds.Target{Bucket: "data", Region: "us-gov-west-1"},
			want: "https://data.s3.us-gov-west-1.amazonaws.com/"},
		{name: "dual-stack from the environment", target: creds.Target{Bucket: "data", Region: "eu-west-1"},
			env: map[string]string{"AWS_USE_DUALSTACK_ENDPOINT": "true"}, want: "https://data.s3.dualstack.eu-west-1.amazonaws.com/"},
		{name: "FIPS from the environment", target: creds.Target{Bucket: "data", Region: "us-gov-west-1"},
			env: map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"}, want: "https://data.s3-fips.us-gov-west-1.amazonaws.com/"},
		{name: "custom endpoint path-style", target: creds.Target{Bucket: "data", Region: "us-east-1", Endpoint: "https://minio.example.org:9000", PathStyle: true},
			want: "https://minio.example.org:9000/data/"},
		{name: "custom endpoint with a path", target: creds.Target{Bucket: "data", Region: "us-east-1", Endpoint: "https://gw.example.org/s3", PathStyle: true},
			want: "https://gw.example.org/s3/data/"},
		{name: "custom endpoint virtual-hosted", target: creds.Target{Bucket: "data", Region: "auto", Endpoint: "https://acct.r2.example.com"},
			want: "https://data.acct.r2.example.com/"},
		{name: "custom endpoint dotted bucket virtual-hosted", target: creds.Target{Bucket: "data.example.org", Region: "us-east-1", Endpoint: "http://store.local:8333"},
			want: "http://data.example.org.store.local:8333/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.env)
			sent := captureURL(t, cfg, tc.target, key)
			got, err := ObjectURL(context.Background(), cfg, tc.target, "", key)
			if err != nil {
				t.Fatal(err)
			}
			if got != sent {
				t.Errorf("registered %s\n       SDK sent %s", got, sent)
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("URL %s does not start with %s", got, tc.want)
			}
			if !strings.HasSuffix(got, "/org/ds/res%20id/na%C3%AFve%2Bfile%20%281%29.csv") {
				t.Errorf("key escaped as %s", got)
			}
		})
	}
}

func TestObjectURLPublicBase(t *testing.T) {
	cfg := testConfig(t, nil)
	got, err := ObjectURL(context.Background(), cfg, creds.Target{Bucket: "data.example.org", Region: "eu-west-1"}, "https://cdn.example.org/files/", "a b/c.csv")
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://cdn.example.org/files/a%20b/c.csv"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// A real round trip through a local endpoint: the path the server saw is the
// one in the registered URL.
func TestObjectURLLocalEndpoint(t *testing.T) {
	var mu sync.Mutex
	var seen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = "http://" + r.Host + r.URL.EscapedPath()
		mu.Unlock()
		w.Header().Set("ETag", `"x"`)
	}))
	defer srv.Close()
	cfg := testConfig(t, nil)
	target := creds.Target{Bucket: "data.example.org", Region: "us-east-1", Endpoint: srv.URL, PathStyle: true}
	key := "ds/r/a b+c.csv"
	if _, err := New(cfg, target).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(target.Bucket), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	got, err := ObjectURL(context.Background(), cfg, target, "", key)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got != seen {
		t.Errorf("registered %s, server saw %s", got, seen)
	}
}
