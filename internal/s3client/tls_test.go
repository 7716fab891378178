package s3client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/s3client/s3test"
	"github.com/ckanup/ckanup/internal/upload"
)

// privateCA makes a CA and a server certificate for hosts, signed by it, and
// writes the CA's PEM to a file.
func privateCA(t *testing.T, hosts ...string) (tls.Certificate, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ckanup test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, bundle
}

func tlsStore(t *testing.T, cert tls.Certificate, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// A store behind a company CA: without AWS_CA_BUNDLE the failure is permanent
// at once, and says to set it; with it the upload goes through the client the
// SDK configured.
func TestCABundleKept(t *testing.T) {
	cert, bundle := privateCA(t, "127.0.0.1")
	store := s3test.New(false)
	srv := tlsStore(t, cert, store)
	path, data := randomFile(t, "a.csv", 1000, 5)
	target := creds.Target{Bucket: "b", Region: "us-east-1", Endpoint: srv.URL, PathStyle: true}

	cfg := testConfig(t, nil)
	var retries atomic.Int32
	up := upload.New(New(cfg, target), upload.Options{InitialInterval: time.Millisecond, RequestTimeout: 10 * time.Second})
	_, err := up.Upload(context.Background(), upload.Job{Path: path, Bucket: "b", Key: "k", Observer: retryCounter{&retries}})
	if err == nil || upload.Classify(err) != upload.KindPermanent || !strings.Contains(err.Error(), "AWS_CA_BUNDLE") {
		t.Fatalf("without the bundle: %v (%s)", err, upload.Classify(err))
	}
	if retries.Load() != 0 {
		t.Errorf("a certificate failure was retried %d times", retries.Load())
	}

	cfg = testConfig(t, map[string]string{"AWS_CA_BUNDLE": bundle})
	up = upload.New(New(cfg, target), upload.Options{InitialInterval: time.Millisecond, RequestTimeout: 10 * time.Second})
	if _, err := up.Upload(context.Background(), upload.Job{Path: path, Bucket: "b", Key: "k"}); err != nil {
		t.Fatalf("with AWS_CA_BUNDLE: %v", err)
	}
	if got, _ := store.Object("b", "k"); string(got) != string(data) {
		t.Error("object differs")
	}
}

type retryCounter struct{ n *atomic.Int32 }

func (retryCounter) Started(upload.Plan)             {}
func (retryCounter) Transferred(int64)               {}
func (r retryCounter) Retrying(ev upload.RetryEvent) { r.n.Add(1) }

// HTTPS_PROXY is honoured (and NO_PROXY): run in a child process, because
// net/http reads the proxy variables once per process.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("CKANUP_PROXY_CHILD") == "" {
		cert, bundle := privateCA(t, "s3.store.test")
		store := s3test.New(false)
		srv := tlsStore(t, cert, store)
		var connects atomic.Int32
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect || !strings.HasPrefix(r.Host, "s3.store.test:") {
				http.Error(w, "proxy: only CONNECT to s3.store.test", http.StatusForbidden)
				return
			}
			connects.Add(1)
			up, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			// Take the connection over before answering, so the answer is
			// the only thing written on it before the tunnel, and read what
			// the client sends through the server's buffer.
			conn, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				up.Close()
				return
			}
			if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
				conn.Close()
				up.Close()
				return
			}
			go func() { io.Copy(up, rw.Reader); up.Close() }()
			io.Copy(conn, up)
			conn.Close()
		}))
		defer proxy.Close()
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		for _, tc := range []struct {
			noProxy string
			want    bool
		}{{"", true}, {"store.test", false}} {
			connects.Store(0)
			cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.v")
			cmd.Env = append(os.Environ(), "CKANUP_PROXY_CHILD=1", "HTTPS_PROXY="+proxy.URL, "NO_PROXY="+tc.noProxy,
				"AWS_CA_BUNDLE="+bundle, "CKANUP_PROXY_ENDPOINT=https://s3.store.test:"+port)
			out, err := cmd.CombinedOutput()
			ok := err == nil
			if ok != tc.want || (connects.Load() > 0) != tc.want {
				t.Errorf("NO_PROXY=%q: child ok=%v, %d CONNECTs; output:\n%s", tc.noProxy, ok, connects.Load(), out)
			}
		}
		return
	}
	// The child: s3.store.test resolves nowhere, so only the proxy can reach it.
	cfg := testConfig(t, map[string]string{"AWS_CA_BUNDLE": os.Getenv("AWS_CA_BUNDLE")})
	client := New(cfg, creds.Target{Bucket: "b", Region: "us-east-1", Endpoint: os.Getenv("CKANUP_PROXY_ENDPOINT"), PathStyle: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
}

// A store whose clock is an hour ahead refuses the first request with a bare
// 403 on HEAD; the engine retries once, the SDK signs with the server's time
// from the Date header, and the run goes on.
func TestClockSkewCorrectedBySDK(t *testing.T) {
	store := s3test.New(false)
	ahead := time.Hour
	var refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serverNow := time.Now().Add(ahead)
		w.Header().Set("Date", serverNow.UTC().Format(http.TimeFormat))
		signed, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil || signed.Sub(serverNow).Abs() > 15*time.Minute {
			refused.Add(1)
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				io.WriteString(w, `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`)
			}
			return
		}
		store.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := testConfig(t, nil)
	up := upload.New(New(cfg, creds.Target{Bucket: "b", Region: "us-east-1", Endpoint: srv.URL, PathStyle: true}),
		upload.Options{InitialInterval: time.Millisecond, RequestTimeout: 10 * time.Second})
	path, _ := randomFile(t, "a.csv", 100, 6)
	job := upload.Job{Path: path, Bucket: "b", Key: "k"}
	if _, found, err := up.Match(context.Background(), job); err != nil || found {
		t.Fatalf("Match: %v, %v", found, err)
	}
	if _, err := up.Upload(context.Background(), job); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if refused.Load() != 1 {
		t.Errorf("%d requests refused, want 1", refused.Load())
	}
}

var _ = errors.Is
