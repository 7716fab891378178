package publish

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/hint"
)

func TestExplainS3Unreachable(t *testing.T) {
	refused := fmt.Errorf("operation error S3: HeadObject: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})
	noHost := fmt.Errorf("operation error S3: PutObject: %w", &net.DNSError{Err: "no such host", Name: "s3.example.invalid", IsNotFound: true})
	reset := fmt.Errorf("operation error S3: UploadPart: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")})
	for _, tc := range []struct {
		err      error
		target   creds.Target
		wantName string // "" when the error is not about reaching the endpoint
	}{
		{refused, creds.Target{Endpoint: "http://minio:secretpw@127.0.0.1:9"}, "http://127.0.0.1:9"},
		{noHost, creds.Target{Region: "eu-west-1"}, "of AWS S3 in eu-west-1"},
		{reset, creds.Target{Endpoint: "http://127.0.0.1:9"}, ""},
	} {
		got := ExplainS3(tc.target, tc.err)
		if tc.wantName == "" {
			if got != tc.err {
				t.Errorf("%v: explained as %v", tc.err, got)
			}
			continue
		}
		if want := "could not reach the S3 endpoint " + tc.wantName + ": "; !strings.HasPrefix(got.Error(), want) {
			t.Errorf("got %q, want it to start with %q", got, want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%v does not wrap the cause", got)
		}
		if h := hint.Of(got); !strings.Contains(h, "--endpoint-url") || !strings.Contains(h, "proxy") {
			t.Errorf("hint %q", h)
		}
		if strings.Contains(got.Error()+hint.Of(got), "secretpw") {
			t.Errorf("the endpoint's password is printed: %v", got)
		}
	}
	if ExplainS3(creds.Target{}, nil) != nil {
		t.Error("nil is explained")
	}
}
