package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// VersityGWVersion is the S3 server under test; scripts/test.sh installs the same.
const VersityGWVersion = "v1.8.0"

// writeSelfSigned writes a P-256 certificate for 127.0.0.1 and localhost, valid
// for a day, to certFile and its key to keyFile.
func writeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "ckanup bench"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// installVersityGW returns the path of versitygw VersityGWVersion, installing it
// with `go install` (into GOBIN, as scripts/test.sh does) when missing.
func installVersityGW() (string, error) {
	gobin := strings.TrimSpace(goEnv("GOBIN"))
	if gobin == "" {
		gobin = filepath.Join(strings.TrimSpace(goEnv("GOPATH")), "bin")
	}
	bin := filepath.Join(gobin, "versitygw")
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil &&
		regexp.MustCompile(`(?m)^\s+mod\s+github.com/versity/versitygw\s+`+regexp.QuoteMeta(VersityGWVersion)+`\b`).Match(out) {
		return bin, nil
	}
	logf("installing versitygw %s with go install (a few minutes the first time)", VersityGWVersion)
	cmd := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+VersityGWVersion)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install versitygw: %w", err)
	}
	return bin, nil
}

func goEnv(name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// gateway is one running versitygw.
type gateway struct {
	URL       string // https://127.0.0.1:port or http://…
	Addr      string
	TLS       bool
	cmd       *exec.Cmd
	client    *s3.Client
	bucket    string
	logFile   string
	rootDir   string
	accessKey string
}

// startGateway runs versitygw's posix backend on rootDir, with TLS when certFile
// is set, and creates bucket.
func startGateway(bin, rootDir, certFile, keyFile, access, secret, bucket, logFile string) (*gateway, error) {
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// --keep-alive: versitygw closes every connection after one answer unless
	// told otherwise, so each request of every client would pay a new TCP
	// connection and, over HTTPS, a TLS handshake (one per file for small
	// files). S3 and the other stores keep connections open.
	args := []string{"--keep-alive", "-p", addr, "-a", access, "-s", secret}
	scheme := "http"
	if certFile != "" {
		args = append(args, "--cert", certFile, "--key", keyFile)
		scheme = "https"
	}
	args = append(args, "posix", rootDir)
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	g := &gateway{URL: scheme + "://" + addr, Addr: addr, TLS: certFile != "", cmd: cmd, bucket: bucket, logFile: logFile, rootDir: rootDir, accessKey: access}
	hc := &http.Client{Timeout: 10 * time.Minute}
	if certFile != "" {
		pool := x509.NewCertPool()
		pemBytes, err := os.ReadFile(certFile)
		if err != nil {
			g.stop()
			return nil, err
		}
		pool.AppendCertsFromPEM(pemBytes)
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	if err := waitHTTP(hc, g.URL, 30*time.Second); err != nil {
		g.stop()
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("versitygw did not answer on %s: %w; its log:\n%s", g.URL, err, log)
	}
	g.client = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(g.URL), UsePathStyle: true, HTTPClient: hc,
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if _, err := g.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		g.stop()
		return nil, fmt.Errorf("create bucket on %s: %w", g.URL, err)
	}
	return g, nil
}

func (g *gateway) stop() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		_ = g.cmd.Wait()
	}
}

// cpuSeconds is the gateway process's user+system CPU time so far, from /proc.
func (g *gateway) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name "(…)": state is field 3; utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go runs on.
const clockTicks = 100

// object is one object in the bucket.
type object struct {
	Key  string
	Size int64
}

// list returns the objects under prefix.
func (g *gateway) list(ctx context.Context, prefix string) ([]object, error) {
	var objs []object
	p := s3.NewListObjectsV2Paginator(g.client, &s3.ListObjectsV2Input{Bucket: aws.String(g.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			objs = append(objs, object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
	}
	return objs, nil
}

// empty deletes every object and aborts every multipart upload in the bucket,
// so tmpfs does not fill up across runs.
func (g *gateway) empty(ctx context.Context) error {
	objs, err := g.list(ctx, "")
	if err != nil {
		return err
	}
	for len(objs) > 0 {
		n := min(len(objs), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, o := range objs[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(o.Key)}
		}
		if _, err := g.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(g.bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return fmt.Errorf("delete objects: %w", err)
		}
		objs = objs[n:]
	}
	mp, err := g.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(g.bucket)})
	if err != nil {
		return fmt.Errorf("list multipart uploads: %w", err)
	}
	for _, u := range mp.Uploads {
		if _, err := g.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(g.bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
			return fmt.Errorf("abort multipart upload: %w", err)
		}
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHTTP(hc *http.Client, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil // any HTTP answer means the server is up
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return errors.Join(errors.New("timed out"), last)
}
