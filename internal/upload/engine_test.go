package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const mib = 1 << 20

// writeFile writes n deterministic pseudo-random bytes (seeded by n) to a temp file.
func writeFile(t *testing.T, n int64) (string, []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	b := make([]byte, n+8)
	for i := 0; i < len(b)-8; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	b = b[:n]
	p := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func testOptions() Options {
	return Options{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, RequestTimeout: 10 * time.Second}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// recorder is an Observer that keeps what it heard.
type recorder struct {
	mu      sync.Mutex
	bytes   atomic.Int64
	retries []RetryEvent
	plan    Plan
	onBytes func(total int64)
}

func (r *recorder) Started(p Plan) { r.plan = p }
func (r *recorder) Transferred(n int64) {
	t := r.bytes.Add(n)
	if r.onBytes != nil {
		r.onBytes(t)
	}
}
func (r *recorder) Retrying(ev RetryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries = append(r.retries, ev)
}

func TestUploadSizes(t *testing.T) {
	cases := []struct {
		name  string
		size  int64
		parts int
		ops   []string
	}{
		{"empty", 0, 1, []string{"PutObject", "HeadObject"}},
		{"one byte", 1, 1, []string{"PutObject", "HeadObject"}},
		{"one part less one byte", 5*mib - 1, 1, []string{"PutObject", "HeadObject"}},
		{"exactly one part", 5 * mib, 1, []string{"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "HeadObject"}},
		{"exactly three parts", 15 * mib, 3, nil},
		{"three parts and one byte", 15*mib + 1, 4, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, data := writeFile(t, tc.size)
			fake := newFakeS3()
			rec := &recorder{}
			res, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Observer: rec})
			if err != nil {
				t.Fatalf("Upload: %v", err)
			}
			if got := fake.object("k"); !bytes.Equal(got, data) {
				t.Fatalf("object differs from the file: %d bytes vs %d", len(got), len(data))
			}
			if res.SHA256 != sha(data) {
				t.Errorf("SHA256 = %s, want %s", res.SHA256, sha(data))
			}
			if res.Parts != tc.parts || res.Size != tc.size {
				t.Errorf("parts %d size %d, want %d and %d", res.Parts, res.Size, tc.parts, tc.size)
			}
			if rec.bytes.Load() != tc.size {
				t.Errorf("observer heard %d bytes, want %d", rec.bytes.Load(), tc.size)
			}
			if tc.ops != nil && !reflect.DeepEqual(fake.ops(), tc.ops) {
				t.Errorf("calls %v, want %v", fake.ops(), tc.ops)
			}
			if tc.parts > 1 {
				if n := fake.count("UploadPart"); n != tc.parts {
					t.Errorf("%d UploadPart calls, want %d", n, tc.parts)
				}
				ops := fake.ops()
				if ops[0] != "CreateMultipartUpload" || ops[len(ops)-2] != "CompleteMultipartUpload" || ops[len(ops)-1] != "HeadObject" {
					t.Errorf("calls %v", ops)
				}
			}
			if len(fake.openUploads()) != 0 {
				t.Errorf("open uploads left: %v", fake.openUploads())
			}
		})
	}
}

func TestSingleUploadRecordsSHA256Metadata(t *testing.T) {
	path, data := writeFile(t, 1000)
	fake := newFakeS3()
	if _, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Metadata: map[string]string{"ckan-user": "u"}}); err != nil {
		t.Fatal(err)
	}
	meta := fake.objects["k"].meta
	if meta[MetaSHA256] != sha(data) || meta["ckan-user"] != "u" {
		t.Errorf("metadata %v", meta)
	}
}

func TestPartFailsThenSucceeds(t *testing.T) {
	path, data := writeFile(t, 11*mib)
	fake := newFakeS3()
	fake.fail = func(op string, part int32, attempt int) error {
		if op == "UploadPart" && part == 2 && attempt <= 2 {
			return apiErr(503, "SlowDown")
		}
		return nil
	}
	rec := &recorder{}
	if _, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Observer: rec}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if !bytes.Equal(fake.object("k"), data) {
		t.Fatal("object differs from the file")
	}
	if len(rec.retries) != 2 || rec.retries[0].Part != 2 || rec.retries[0].Op != "UploadPart" || rec.retries[1].Attempt != 2 {
		t.Errorf("retries heard: %+v", rec.retries)
	}
	if rec.bytes.Load() != 11*mib {
		t.Errorf("bytes counted %d, want %d (retries must not double count)", rec.bytes.Load(), 11*mib)
	}
}

func TestPartFailsPermanently(t *testing.T) {
	path, _ := writeFile(t, 11*mib)
	fake := newFakeS3()
	fake.fail = func(op string, part int32, attempt int) error {
		if op == "UploadPart" && part == 1 {
			return apiErr(403, "AccessDenied")
		}
		return nil
	}
	_, err := New(fake, Options{Concurrency: 1, InitialInterval: time.Millisecond}).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	var me *MultipartError
	if !errors.As(err, &me) || !me.Aborted || me.UploadID == "" {
		t.Fatalf("err = %v, want an aborted MultipartError", err)
	}
	if !IsAccessDenied(err) {
		t.Errorf("IsAccessDenied(%v) = false", err)
	}
	want := []string{"CreateMultipartUpload", "UploadPart", "AbortMultipartUpload"}
	if got := fake.ops(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v (403 must not be retried)", got, want)
	}
	if len(fake.openUploads()) != 0 {
		t.Errorf("open uploads left: %v", fake.openUploads())
	}
}

func TestRetriesAreBounded(t *testing.T) {
	path, _ := writeFile(t, 100)
	fake := newFakeS3()
	fake.fail = func(op string, _ int32, _ int) error { return apiErr(500, "InternalError") }
	o := testOptions()
	o.MaxAttempts = 3
	_, err := New(fake, o).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	if err == nil || fake.count("PutObject") != 3 {
		t.Fatalf("err %v after %d attempts, want failure after 3", err, fake.count("PutObject"))
	}
}

func TestCancelAbortsWithLiveContext(t *testing.T) {
	path, _ := writeFile(t, 26*mib)
	fake := newFakeS3()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake.hook = func(part int32) {
		if part == 2 {
			cancel()
		}
	}
	_, err := New(fake, Options{Concurrency: 1, InitialInterval: time.Millisecond}).Upload(ctx, Job{Path: path, Bucket: "b", Key: "k"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var me *MultipartError
	if !errors.As(err, &me) || !me.Aborted {
		t.Fatalf("err = %v, want an aborted upload", err)
	}
	ops := fake.ops()
	if ops[len(ops)-1] != "AbortMultipartUpload" || fake.count("CompleteMultipartUpload") != 0 {
		t.Errorf("calls %v", ops)
	}
	if fake.count("UploadPart") > 3 {
		t.Errorf("%d parts sent after cancellation", fake.count("UploadPart"))
	}
}

func TestKeepOnFailureLeavesUpload(t *testing.T) {
	path, _ := writeFile(t, 11*mib)
	fake := newFakeS3()
	fake.fail = func(op string, part int32, _ int) error {
		if op == "UploadPart" && part == 3 {
			return apiErr(400, "InvalidArgument")
		}
		return nil
	}
	o := testOptions()
	o.KeepOnFailure = true
	_, err := New(fake, o).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	var me *MultipartError
	if !errors.As(err, &me) || me.Aborted {
		t.Fatalf("err = %v, want a kept upload", err)
	}
	if fake.count("AbortMultipartUpload") != 0 || len(fake.openUploads()) != 1 {
		t.Errorf("calls %v, open %v", fake.ops(), fake.openUploads())
	}
}

// S3 can fail a CompleteMultipartUpload it carried out; the retry then meets
// NoSuchUpload and the object decides.
func TestCompleteFailsAfterCompleting(t *testing.T) {
	path, data := writeFile(t, 11*mib)
	fake := newFakeS3()
	fake.afterComplete = func(attempt int) error {
		if attempt == 1 {
			return apiErr(500, "InternalError")
		}
		return nil
	}
	res, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if res.SHA256 != sha(data) || fake.count("CompleteMultipartUpload") != 2 || fake.count("AbortMultipartUpload") != 0 {
		t.Errorf("calls %v", fake.ops())
	}
}

func TestVerifyDetectsWrongObject(t *testing.T) {
	path, _ := writeFile(t, 11*mib)
	fake := newFakeS3()
	fake.afterComplete = func(int) error {
		fake.mu.Lock()
		fake.objects["k"].checksum = "AAAAAA==-3"
		fake.mu.Unlock()
		return nil
	}
	_, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("err = %v, want ErrVerify", err)
	}
}

func TestFileChangedDuringUpload(t *testing.T) {
	path, _ := writeFile(t, 16*mib)
	fake := newFakeS3()
	rec := &recorder{}
	var once sync.Once
	rec.onBytes = func(int64) {
		once.Do(func() {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte("more"))
			f.Close()
		})
	}
	_, err := New(fake, Options{Concurrency: 1, InitialInterval: time.Millisecond}).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Observer: rec})
	if !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("err = %v, want ErrSourceChanged", err)
	}
	if fake.count("CompleteMultipartUpload") != 0 || fake.object("k") != nil || len(fake.openUploads()) != 0 {
		t.Errorf("calls %v: a torn object must be neither completed nor left open", fake.ops())
	}
}

func TestSharedPoolBoundsConcurrency(t *testing.T) {
	fake := newFakeS3()
	var inFlight, peak atomic.Int32
	// Each request waits until the pool holds 3 at once (or 10 s pass, for a
	// pool that never fills), so the peak shows the pool's bound however the
	// scheduler runs the goroutines.
	full := make(chan struct{})
	var fullOnce sync.Once
	fake.hook = func(int32) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n >= 3 {
			fullOnce.Do(func() { close(full) })
		}
		select {
		case <-full:
		case <-time.After(10 * time.Second):
		}
		inFlight.Add(-1)
	}
	up := New(fake, Options{Concurrency: 3, InitialInterval: time.Millisecond})
	var wg sync.WaitGroup
	for i := range 3 {
		path, _ := writeFile(t, int64(21*mib+i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := up.Upload(context.Background(), Job{Path: path, Bucket: "b", Key: path}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Errorf("peak parts in flight %d, want the pool's 3", p)
	}
}

func TestMatchFindsEarlierUpload(t *testing.T) {
	for _, size := range []int64{1000, 11 * mib} {
		path, _ := writeFile(t, size)
		fake := newFakeS3()
		up := New(fake, testOptions())
		job := Job{Path: path, Bucket: "b", Key: "k"}
		if _, found, err := up.Match(context.Background(), job); err != nil || found {
			t.Fatalf("before upload: found=%v err=%v", found, err)
		}
		first, err := up.Upload(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		res, found, err := up.Match(context.Background(), job)
		if err != nil || !found || res.SHA256 != first.SHA256 || !res.Reused {
			t.Fatalf("size %d: Match = %+v, %v, %v", size, res, found, err)
		}
		// A different file of the same size must not match.
		if err := os.WriteFile(path, bytes.Repeat([]byte{'x'}, int(size)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, found, err := up.Match(context.Background(), job); err != nil || found {
			t.Fatalf("size %d: changed file matched (found=%v err=%v)", size, found, err)
		}
	}
}

func TestExpiredCredentialsRefreshedOnce(t *testing.T) {
	path, data := writeFile(t, 11*mib)
	fake := newFakeS3()
	var refreshes atomic.Int32
	fake.fail = func(op string, part int32, attempt int) error {
		if op == "UploadPart" && part == 2 && refreshes.Load() == 0 {
			return apiErr(400, "ExpiredToken")
		}
		return nil
	}
	o := testOptions()
	o.RefreshCredentials = func() { refreshes.Add(1) }
	rec := &recorder{}
	if _, err := New(fake, o).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Observer: rec}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if refreshes.Load() != 1 || !bytes.Equal(fake.object("k"), data) || len(rec.retries) != 1 {
		t.Errorf("refreshes %d, retries %+v", refreshes.Load(), rec.retries)
	}
	// Credentials that stay refused fail after one refresh, not a retry storm.
	fake2 := newFakeS3()
	fake2.fail = func(op string, _ int32, _ int) error { return apiErr(403, "InvalidAccessKeyId") }
	refreshes.Store(0)
	_, err := New(fake2, o).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	if !IsAccessDenied(err) || refreshes.Load() != 1 || fake2.count("CreateMultipartUpload") != 2 {
		t.Errorf("err %v, refreshes %d, calls %v", err, refreshes.Load(), fake2.ops())
	}
}

func TestUploadStream(t *testing.T) {
	for _, size := range []int64{0, 1, 5*mib - 1, 5 * mib, 17*mib + 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			_, data := writeFile(t, size)
			fake := newFakeS3()
			rec := &recorder{}
			res, err := New(fake, testOptions()).UploadStream(context.Background(), bytes.NewReader(data), Job{Bucket: "b", Key: "k", Observer: rec})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fake.object("k"), data) || res.SHA256 != sha(data) || res.Size != size || rec.bytes.Load() != size {
				t.Fatalf("result %+v", res)
			}
			if size >= 5*mib && res.Parts != int((size+5*mib-1)/(5*mib)) {
				t.Errorf("parts %d", res.Parts)
			}
		})
	}
}

func TestUploadStreamFailureAborts(t *testing.T) {
	_, data := writeFile(t, 17*mib)
	fake := newFakeS3()
	fake.fail = func(op string, part int32, _ int) error {
		if op == "UploadPart" && part == 2 {
			return apiErr(403, "AccessDenied")
		}
		return nil
	}
	o := testOptions()
	o.KeepOnFailure = true // a stream is aborted all the same: it cannot be resumed
	_, err := New(fake, o).UploadStream(context.Background(), bytes.NewReader(data), Job{Bucket: "b", Key: "k"})
	var me *MultipartError
	if !errors.As(err, &me) || !me.Aborted || len(fake.openUploads()) != 0 {
		t.Fatalf("err %v, open %v", err, fake.openUploads())
	}
}

// Without s3:ListBucket (dataset-scoped credentials), Amazon S3 answers a HEAD
// of a missing key with a bare 403. The lookup for an earlier upload then finds
// nothing and the upload goes on; credentials really refused fail on the
// request that sends the file.
func TestMatchTreatsBare403AsNothingVisible(t *testing.T) {
	path, _ := writeFile(t, 1000)
	fake := newFakeS3()
	fake.fail = func(op string, _ int32, _ int) error {
		if op == "HeadObject" {
			return respErr(http.StatusForbidden, http.Header{"Date": {time.Now().UTC().Format(http.TimeFormat)}})
		}
		return nil
	}
	up := New(fake, testOptions())
	job := Job{Path: path, Bucket: "b", Key: "k"}
	if res, found, err := up.Match(context.Background(), job); err != nil || found || res != nil {
		t.Fatalf("Match = %v, %v, %v; want nothing found and no error", res, found, err)
	}
	// A refusal with an error code (a body) is not hidden.
	fake.fail = func(op string, _ int32, _ int) error {
		if op == "HeadObject" {
			return apiErr(http.StatusForbidden, "InvalidAccessKeyId")
		}
		return nil
	}
	if _, _, err := up.Match(context.Background(), job); err == nil {
		t.Error("InvalidAccessKeyId on the lookup was taken for a missing object")
	}
}

// A PutObject answer that shows the store holds the file's bytes — an MD5 ETag
// equal to the file's MD5, or (with an ETag that is not an MD5, as under
// SSE-KMS) the CRC32C sent — replaces the HEAD read-back; an answer with
// nothing comparable keeps it.
func TestSinglePutAnswerIsTheReadBack(t *testing.T) {
	for _, tc := range []struct {
		name          string
		mode          Checksum
		md5ETag, echo bool
		want          []string
	}{
		{"crc32c, MD5 ETag", ChecksumCRC32C, true, false, []string{"PutObject"}},
		{"md5, MD5 ETag", ChecksumMD5, true, false, []string{"PutObject"}},
		{"off, MD5 ETag", ChecksumOff, true, false, []string{"PutObject"}},
		{"crc32c, CRC32C echoed, ETag not an MD5", ChecksumCRC32C, false, true, []string{"PutObject"}},
		{"crc32c, nothing comparable", ChecksumCRC32C, false, false, []string{"PutObject", "HeadObject"}},
		{"md5, ETag not an MD5", ChecksumMD5, false, false, []string{"PutObject", "HeadObject"}},
		{"md5, CRC32C echoed but not sent", ChecksumMD5, false, true, []string{"PutObject", "HeadObject"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, data := writeFile(t, 100*1024)
			fake := newFakeS3()
			fake.putMD5ETag, fake.putEcho = tc.md5ETag, tc.echo
			opts := testOptions()
			opts.Checksum = tc.mode
			res, err := New(fake, opts).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
			if err != nil {
				t.Fatal(err)
			}
			if got := fake.ops(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("calls %v, want %v", got, tc.want)
			}
			if res.Size != int64(len(data)) || res.SHA256 != sha(data) || res.ChecksumMode != tc.mode || res.ETag == "" {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// A lenient store (as moto) that echoes the CRC32C it was sent without
// checking it cannot vouch for the bytes: when its MD5 ETag differs from the
// file's, the HEAD read-back still runs and finds the short object.
func TestSinglePutEchoNotTrustedOverDifferentMD5(t *testing.T) {
	path, _ := writeFile(t, 100*1024)
	fake := newFakeS3()
	fake.putMD5ETag, fake.putEcho = true, true
	fake.putStore = func(b []byte) []byte { return b[:len(b)-1] }
	_, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k"})
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("err = %v, want ErrVerify", err)
	}
	if got, want := fake.ops(), []string{"PutObject", "HeadObject"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

// With ListPrefix, one listing of the prefix (every page) serves every Match
// of the Uploader: a HEAD goes only to a key listed with the file's size. A
// refused listing is tried once; each Match then sends its HEAD. The answers
// are the same either way.
func TestMatchListsPrefixOnce(t *testing.T) {
	for _, refused := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused=%v", refused), func(t *testing.T) {
			dir := t.TempDir()
			file := func(name string, n int) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, bytes.Repeat([]byte(name), n), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			a, b, z := file("a", 1000), file("b", 1000), file("z", 10)
			fake := newFakeS3()
			earlier := New(fake, testOptions()) // an earlier run
			for key, path := range map[string]string{"ds/a": a, "ds/b": b, "ds/z": z, "other/a": a} {
				if _, err := earlier.Upload(context.Background(), Job{Path: path, Bucket: "b", Key: key}); err != nil {
					t.Fatal(err)
				}
			}
			b2 := file("b2", 700) // ds/b holds 1000 bytes
			fake.listRefused = refused
			fake.calls = nil
			up := New(fake, testOptions())
			jobs := []struct {
				key, path string
				found     bool
			}{{"ds/a", a, true}, {"ds/b", b2, false}, {"ds/c", a, false}, {"ds/d", b, false}, {"other/a", a, true}}
			var wg sync.WaitGroup
			for _, j := range jobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, found, err := up.Match(context.Background(), Job{Path: j.path, Bucket: "b", Key: j.key, ListPrefix: "ds/"})
					if err != nil || found != j.found {
						t.Errorf("Match %s: found=%v err=%v, want found=%v", j.key, found, err, j.found)
					}
				}()
			}
			wg.Wait()
			wantLists, wantHeads := 2, 2 // 3 objects under ds/ at two a page; HEAD of ds/a and other/a (outside the prefix)
			if refused {
				wantLists, wantHeads = 1, len(jobs)
			}
			if got := fake.count("ListObjectsV2"); got != wantLists {
				t.Errorf("%d ListObjectsV2 calls, want %d", got, wantLists)
			}
			if got := fake.count("HeadObject"); got != wantHeads {
				t.Errorf("%d HeadObject calls, want %d", got, wantHeads)
			}
		})
	}
}
