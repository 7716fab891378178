package upload

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// kindErr stands for an error of another package that knows its kind (the
// token endpoint's EndpointError).
type kindErr struct{ kind string }

func (e kindErr) Error() string     { return "token endpoint: " + e.kind }
func (e kindErr) ErrorKind() string { return e.kind }

// respErr is an S3 answer with headers and no error code (a HEAD's).
func respErr(status int, hdr http.Header) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "HeadObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: hdr}},
			Err: &smithy.GenericAPIError{Code: strings.ReplaceAll(http.StatusText(status), " ", ""), Message: http.StatusText(status)}}}}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, KindNone},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), KindCanceled},
		{"slow down", apiErr(503, "SlowDown"), KindTemporary},
		{"500 without code", apiErr(500, ""), KindTemporary},
		{"501 not implemented", apiErr(501, "NotImplemented"), KindPermanent},
		{"access denied", apiErr(403, "AccessDenied"), KindAuth},
		{"HEAD 403 without body", respErr(403, http.Header{}), KindAuth},
		{"expired token", apiErr(400, "ExpiredToken"), KindAuth},
		{"HEAD 404", respErr(404, http.Header{}), KindNotFound},
		{"no such bucket", apiErr(404, "NoSuchBucket"), KindNotFound},
		{"bad request", apiErr(400, "BadRequest"), KindPermanent},
		{"400 no code", apiErr(400, ""), KindPermanent},
		{"429", apiErr(429, ""), KindTemporary},
		{"digest mismatch", apiErr(400, "XAmzContentSHA256Mismatch"), KindTemporary},
		{"MinIO checksum mismatch", apiErr(400, "XAmzContentChecksumMismatch"), KindTemporary},
		{"STS throttling", &smithy.GenericAPIError{Code: "Throttling"}, KindTemporary},
		{"STS expired", &smithy.GenericAPIError{Code: "ExpiredTokenException"}, KindAuth},
		{"token endpoint 403", fmt.Errorf("refresh: %w", kindErr{"auth"}), KindAuth},
		{"token endpoint 503", kindErr{"temporary"}, KindTemporary},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, KindTemporary},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), KindTemporary},
		{"timeout", fmt.Errorf("no answer: %w", context.DeadlineExceeded), KindTemporary},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), KindTemporary},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "s3.nowhere.invalid", IsNotFound: true}, KindPermanent},
		{"DNS timeout", &net.DNSError{Err: "timeout", Name: "s3.example.org", IsTimeout: true}, KindTemporary},
		{"unknown CA", &smithyhttp.RequestSendError{Err: x509.UnknownAuthorityError{}}, KindPermanent},
		{"hostname mismatch", &smithyhttp.RequestSendError{Err: x509.HostnameError{Host: "a.b.c"}}, KindPermanent},
		{"changed file", fmt.Errorf("f: %w", ErrSourceChanged), KindPermanent},
		{"clock skew", &ClockSkewError{Skew: time.Hour, Err: respErr(403, nil)}, KindPermanent},
		{"unknown error", errors.New("something odd"), KindPermanent},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

// A refusal from a party that knows it is final (the token endpoint's 403
// while refreshing) is not retried.
func TestKindedAuthErrorNotRetried(t *testing.T) {
	path, _ := writeFile(t, 100)
	fake := newFakeS3()
	fake.fail = func(op string, _ int32, _ int) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: op, Err: fmt.Errorf("failed to refresh cached credentials: %w", kindErr{"auth"})}
	}
	_, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	if !IsAccessDenied(err) || fake.count("PutObject") != 1 {
		t.Fatalf("err = %v after %d PutObject calls; want one call and an auth error", err, fake.count("PutObject"))
	}
}

// A HEAD refused with a bare 403 whose Date is an hour away is the local
// clock: retried once at once, then reported as the clock, not as refused
// credentials.
func TestClockSkewFromDateHeader(t *testing.T) {
	path, _ := writeFile(t, 100)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	fake := newFakeS3()
	fake.fail = func(op string, _ int32, _ int) error {
		if op != "HeadObject" {
			return nil
		}
		return respErr(403, http.Header{"Date": {now.Add(63 * time.Minute).Format(http.TimeFormat)}})
	}
	opts := testOptions()
	opts.Now = func() time.Time { return now }
	_, _, err := New(fake, opts).Match(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	var ce *ClockSkewError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a ClockSkewError", err)
	}
	if fake.count("HeadObject") != 2 {
		t.Errorf("%d HeadObject calls, want 2 (one corrected retry)", fake.count("HeadObject"))
	}
	if !strings.Contains(err.Error(), "63 minutes behind") || IsAccessDenied(err) {
		t.Errorf("message %q (auth %v)", err, IsAccessDenied(err))
	}
	// The same refusal with the server's clock in agreement is no clock
	// problem: on the lookup it means "nothing visible" (see
	// TestMatchTreatsBare403AsNothingVisible), and the request that sends the
	// file reports the refusal.
	fake2 := newFakeS3()
	fake2.fail = func(op string, _ int32, _ int) error {
		return respErr(403, http.Header{"Date": {now.Add(time.Minute).Format(http.TimeFormat)}})
	}
	up := New(fake2, opts)
	if _, found, err := up.Match(context.Background(), Job{Path: path, Bucket: "b", Key: "k"}); err != nil || found || fake2.count("HeadObject") != 1 {
		t.Errorf("lookup: found=%v err=%v after %d calls, want nothing found after 1", found, err, fake2.count("HeadObject"))
	}
	if _, err := up.Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"}); !IsAccessDenied(err) {
		t.Errorf("upload: err = %v, want an auth error", err)
	}
}

// A digest error with an unchanged file is retried; with a changed file it is
// a permanent error naming the file, without a retry.
func TestDigestErrorRechecksSource(t *testing.T) {
	t.Run("unchanged", func(t *testing.T) {
		path, data := writeFile(t, 1000)
		fake := newFakeS3()
		fake.fail = func(op string, _ int32, attempt int) error {
			if op == "PutObject" && attempt == 1 {
				return apiErr(400, "BadDigest")
			}
			return nil
		}
		if _, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"}); err != nil {
			t.Fatal(err)
		}
		if string(fake.object("k")) != string(data) || fake.count("PutObject") != 2 {
			t.Errorf("%d PutObject calls", fake.count("PutObject"))
		}
	})
	for _, single := range []bool{true, false} {
		t.Run(fmt.Sprintf("changed single=%v", single), func(t *testing.T) {
			size := int64(1000)
			op := "PutObject"
			if !single {
				size, op = 11*mib, "UploadPart"
			}
			path, _ := writeFile(t, size)
			fake := newFakeS3()
			fake.fail = func(o string, part int32, _ int) error {
				if o != op || part > 1 {
					return nil
				}
				// The file is rewritten in place, same size and mtime kept.
				fi, _ := os.Stat(path)
				f, _ := os.OpenFile(path, os.O_WRONLY, 0)
				f.WriteAt([]byte("changed!"), 0)
				f.Close()
				os.Chtimes(path, fi.ModTime(), fi.ModTime())
				return apiErr(400, "XAmzContentSHA256Mismatch")
			}
			_, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
			if !errors.Is(err, ErrSourceChanged) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want ErrSourceChanged naming %s", err, path)
			}
			// The refused request is not repeated. (Parts 2 and 3 may be in
			// flight already when part 1 is refused: they are not counted.)
			first := 0
			fake.mu.Lock()
			for _, c := range fake.calls {
				if c == op || c == op+"(1)" {
					first++
				}
			}
			fake.mu.Unlock()
			if first != 1 {
				t.Errorf("%s of the first part sent %d times, want 1", op, first)
			}
		})
	}
}

// A file that changes while its single PutObject is on the way is caught after
// sending.
func TestSinglePutCheckedAfterSending(t *testing.T) {
	path, _ := writeFile(t, 1000)
	fake := newFakeS3()
	fake.fail = func(op string, _ int32, _ int) error {
		if op == "PutObject" {
			later := time.Now().Add(time.Hour)
			os.Chtimes(path, later, later)
		}
		return nil
	}
	_, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	if !errors.Is(err, ErrSourceChanged) || fake.count("HeadObject") != 0 {
		t.Fatalf("err = %v, calls %v", err, fake.ops())
	}
}

// When the read-back fails after Complete succeeded, nothing is aborted and
// the message does not promise a resume.
func TestVerifyFailsAfterComplete(t *testing.T) {
	path, _ := writeFile(t, 11*mib)
	fake := newFakeS3()
	fake.afterComplete = func(int) error {
		fake.mu.Lock()
		fake.objects["k"].data = fake.objects["k"].data[:10]
		fake.mu.Unlock()
		return nil
	}
	opts := testOptions()
	opts.KeepOnFailure = true
	_, err := New(fake, opts).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	var cm *CompletedMismatchError
	var me *MultipartError
	if !errors.As(err, &cm) || errors.As(err, &me) || !errors.Is(err, ErrVerify) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	if !strings.Contains(err.Error(), "no upload is left to resume") || strings.Contains(err.Error(), "re-run to resume") {
		t.Errorf("message: %v", err)
	}
	if fake.count("AbortMultipartUpload") != 0 {
		t.Errorf("calls %v", fake.ops())
	}
}

// A stream longer than the part limit waits for its parts in flight before
// the upload is aborted: no UploadPart runs during or after Abort.
func TestStreamPastPartLimitWaitsBeforeAbort(t *testing.T) {
	fake := newFakeS3()
	var inFlight, atAbort, maxAtAbort int32
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	fake.hook = func(int32) { time.Sleep(20 * time.Millisecond) }
	wrapped := &countingAPI{fakeS3: fake, inFlight: &inFlight, onAbort: func() {
		atAbort = inFlight
		<-mu
		maxAtAbort = max(maxAtAbort, atAbort)
		mu <- struct{}{}
	}}
	opts := testOptions()
	opts.PartSize = 1024
	opts.Concurrency = 4
	u := New(wrapped, opts)
	u.maxParts = 3
	data := make([]byte, 1024*6)
	_, err := u.UploadStream(context.Background(), strings.NewReader(string(data)), Job{Bucket: "b", Key: "k"})
	if !errors.Is(err, errTooManyParts) {
		t.Fatalf("err = %v", err)
	}
	if fake.count("AbortMultipartUpload") != 1 || maxAtAbort != 0 {
		t.Errorf("%d aborts, %d parts in flight at Abort; calls %v", fake.count("AbortMultipartUpload"), maxAtAbort, fake.ops())
	}
	ops := fake.ops()
	if ops[len(ops)-1] != "AbortMultipartUpload" {
		t.Errorf("a call came after Abort: %v", ops)
	}
}

type countingAPI struct {
	*fakeS3
	inFlight *int32
	onAbort  func()
}

func (c *countingAPI) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	atomicAdd(c.inFlight, 1)
	defer atomicAdd(c.inFlight, -1)
	return c.fakeS3.UploadPart(ctx, in, o...)
}

func (c *countingAPI) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	c.onAbort()
	return c.fakeS3.AbortMultipartUpload(ctx, in, o...)
}

// HashFile and Match's read stop on cancellation within a buffer, even in the
// middle of one large part.
func TestFullReadsAreCancellable(t *testing.T) {
	path, data := writeFile(t, 3*mib)
	got, n, err := HashFile(context.Background(), path)
	if err != nil || got != sha(data) || n != int64(len(data)) {
		t.Fatalf("HashFile = %s, %d, %v", got, n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := HashFile(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("HashFile after cancel: %v", err)
	}
	// readParts over one 64 MiB part: cancelled after the first 1 MiB read.
	ctx, cancel = context.WithCancel(context.Background())
	r := &cancellingReader{cancel: cancel}
	err = readParts(ctx, r, Plan{Size: 64 * mib, PartSize: 64 * mib, Parts: 1}, newFileSums(1, ChecksumCRC32C), nil)
	if !errors.Is(err, context.Canceled) || r.reads > 2 {
		t.Errorf("readParts: %v after %d reads", err, r.reads)
	}
}

type cancellingReader struct {
	cancel func()
	reads  int
}

func (c *cancellingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	c.cancel()
	return len(p), nil
}

var _ = aws.String
