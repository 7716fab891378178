package failure

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type busy struct{}

func (busy) Error() string     { return "locked" }
func (busy) FailureKind() Kind { return Busy }

func TestKindOf(t *testing.T) {
	_, statErr := os.Stat(filepath.Join(t.TempDir(), "missing"))
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, None},
		{"plain", errors.New("boom"), Failure},
		{"kinded", busy{}, Busy},
		{"kinded, wrapped", fmt.Errorf("upload a.csv: %w", busy{}), Busy},
		{"outermost kind wins", Wrap(Usage, fmt.Errorf("x: %w", busy{})), Usage},
		{"Wrap", Wrap(NotFound, errors.New("dataset x not found")), NotFound},
		{"cancelled", fmt.Errorf("upload: %w", context.Canceled), Interrupted},
		{"deadline", fmt.Errorf("upload: %w", context.DeadlineExceeded), Temporary},
		{"missing file", statErr, NotFound},
		{"permission", &fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, Auth},
		{"connection refused", &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, Temporary},
		{"closed without answer", &url.Error{Op: "Get", URL: "http://x", Err: io.EOF}, Temporary},
		{"no such host", &url.Error{Op: "Get", URL: "http://x", Err: &net.DNSError{Name: "x", Err: "no such host", IsNotFound: true}}, Config},
		{"DNS timeout", &net.DNSError{Name: "x", Err: "i/o timeout", IsTimeout: true}, Temporary},
		{"unknown CA", &url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}, Config},
		{"bare EOF", io.EOF, Failure},
	}
	for _, tc := range cases {
		if got := KindOf(tc.err); got != tc.want {
			t.Errorf("%s: KindOf(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if Wrap(Usage, nil) != nil {
		t.Error("Wrap(k, nil) is not nil")
	}
}

// Real network errors from net/http, not built by hand.
func TestKindOfRealNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = http.Get("http://" + addr + "/")
	if got := KindOf(err); got != Temporary {
		t.Errorf("connection refused (%v): %v", err, got)
	}

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	_, err = http.Get(tlsSrv.URL) // the default client does not trust the test CA
	if got := KindOf(err); got != Config {
		t.Errorf("untrusted certificate (%v): %v", err, got)
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	c := &http.Client{Timeout: 50 * time.Millisecond}
	_, err = c.Get(slow.URL)
	if got := KindOf(err); got != Temporary {
		t.Errorf("timeout (%v): %v", err, got)
	}
}

func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		s := k.String()
		if s == "unknown" || seen[s] {
			t.Errorf("kind %d: name %q", k, s)
		}
		seen[s] = true
	}
	if Kind(99).String() != "unknown" {
		t.Error("out-of-range kind has a name")
	}
}
