package upload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/s3store"
)

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadSeeker
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadSeeker.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// bodyReads wraps a client, counting the bytes read from every body sent;
// swap, when set, replaces a body before it is sent.
type bodyReads struct {
	API
	n    atomic.Int64
	swap func(io.ReadSeeker) io.ReadSeeker
}

func (b *bodyReads) body(r io.Reader) io.Reader {
	rs := r.(io.ReadSeeker)
	if b.swap != nil {
		rs = b.swap(rs)
	}
	return countingBody{rs, &b.n}
}

func (b *bodyReads) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	in.Body = b.body(in.Body)
	return b.API.PutObject(ctx, in, o...)
}

func (b *bodyReads) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	in.Body = b.body(in.Body)
	return b.API.UploadPart(ctx, in, o...)
}

// plainHTTPStore is the in-process S3 store over plain HTTP, where the SDK
// signs each body's SHA-256 (the store checks it: XAmzContentSHA256Mismatch),
// and the x-amz-content-sha256 values it received.
func plainHTTPStore(t *testing.T) (*s3.Client, *[]string, *sync.Mutex) {
	t.Helper()
	st, err := s3store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st.AccessKey = "AKIDSIGNED"
	if err := st.CreateBucket("bucket"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hashes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			hashes = append(hashes, r.Header.Get("X-Amz-Content-Sha256"))
			mu.Unlock()
		}
		st.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSIGNED", "secret", ""), RetryMaxAttempts: 1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	return c, &hashes, &mu
}

// Over plain HTTP with SignedPayloads, each body is read once (the signer is
// handed the SHA-256 of the read pass) and still signed; without it the SDK
// reads every body twice. The store accepts the bodies only if the signed
// SHA-256s are theirs.
func TestSignedPayloadHashFromReadPass(t *testing.T) {
	for _, size := range []int64{100 * 1024, 11*mib + 5} {
		for _, given := range []bool{false, true} {
			path, data := writeFile(t, size)
			client, hashes, mu := plainHTTPStore(t)
			api := &bodyReads{API: client}
			opts := testOptions()
			opts.PartSize, opts.SignedPayloads = 5*mib, given
			res, err := New(api, opts).Upload(context.Background(), Job{Path: path, Bucket: "bucket", Key: "k"})
			if err != nil {
				t.Fatalf("size %d, given %v: %v", size, given, err)
			}
			if res.SHA256 != sha(data) {
				t.Errorf("sha256 %s", res.SHA256)
			}
			want := size
			if !given {
				want = 2 * size
			}
			if got := api.n.Load(); got != want {
				t.Errorf("size %d, given %v: %d bytes read from the bodies, want %d", size, given, got, want)
			}
			mu.Lock()
			for _, h := range *hashes {
				if len(h) != 64 || strings.EqualFold(h, "UNSIGNED-PAYLOAD") {
					t.Errorf("size %d, given %v: x-amz-content-sha256 %q, want a signed SHA-256", size, given, h)
				}
			}
			mu.Unlock()
		}
	}
}

// A body that differs from the bytes of the read pass is refused by the
// signature (no other checksum here): the SHA-256 handed to the signer is the
// read pass's, not recomputed from what is sent.
func TestSignedPayloadHashProtectsBody(t *testing.T) {
	path, data := writeFile(t, 100*1024)
	client, _, _ := plainHTTPStore(t)
	api := &bodyReads{API: client, swap: func(io.ReadSeeker) io.ReadSeeker {
		other := bytes.Clone(data)
		other[0] ^= 1
		return bytes.NewReader(other)
	}}
	opts := testOptions()
	opts.SignedPayloads, opts.Checksum, opts.MaxAttempts = true, ChecksumOff, 1
	_, err := New(api, opts).Upload(context.Background(), Job{Path: path, Bucket: "bucket", Key: "k"})
	if APICode(err) != "XAmzContentSHA256Mismatch" || errors.Is(err, ErrSourceChanged) {
		t.Fatalf("err = %v, want the body refused (XAmzContentSHA256Mismatch)", err)
	}
}
