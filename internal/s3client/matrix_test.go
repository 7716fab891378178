package s3client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/s3client/s3test"
	"github.com/ckanup/ckanup/internal/upload"
)

// matrixStore is one S3 implementation the store matrix runs against. The
// servers are started by the test command (scripts/test.sh), which sets the
// variables; the strict no-checksum double runs in the test process.
type matrixStore struct {
	name, urlEnv, keyEnv, secretEnv string
	// requireEnv, when "1", makes a missing store a failure, not a skip.
	requireEnv string
	// exactKeyListing: the store lists a multipart upload only when the
	// prefix is its whole key (MinIO), not under a shorter prefix.
	exactKeyListing bool
	// checksums is what the store keeps: "crc32c" when it reports part and
	// object checksums, "" when the read-back can compare only the size.
	wantMode upload.Checksum
}

var matrixStores = []matrixStore{
	{name: "versitygw", urlEnv: "CKANUP_IT_VERSITYGW_URL", keyEnv: "CKANUP_IT_VERSITYGW_KEY", secretEnv: "CKANUP_IT_VERSITYGW_SECRET",
		requireEnv: "CKANUP_IT_REQUIRE", wantMode: upload.ChecksumCRC32C},
	{name: "moto", urlEnv: "CKANUP_IT_MOTO_URL", requireEnv: "CKANUP_IT_REQUIRE", wantMode: upload.ChecksumCRC32C},
	// MinIO is built from source in the background by the test command and
	// runs after the main test pass: its own switch.
	{name: "minio", urlEnv: "CKANUP_IT_MINIO_URL", keyEnv: "CKANUP_IT_MINIO_KEY", secretEnv: "CKANUP_IT_MINIO_SECRET",
		requireEnv: "CKANUP_IT_REQUIRE_MINIO", wantMode: upload.ChecksumCRC32C, exactKeyListing: true},
	{name: "strict-no-checksum", wantMode: upload.ChecksumMD5},
}

// connect returns a client and target for a fresh bucket on the store, or
// skips (fails with CKANUP_IT_REQUIRE=1) when the store is not running.
func (m matrixStore) connect(t *testing.T) (*s3.Client, creds.Target, aws.Config) {
	t.Helper()
	url, key, secret := "", "testing", "testing"
	if m.urlEnv == "" {
		srv := httptest.NewServer(s3test.New(true))
		t.Cleanup(srv.Close)
		url = srv.URL
	} else if url = os.Getenv(m.urlEnv); url == "" {
		if os.Getenv(m.requireEnv) == "1" {
			t.Fatalf("%s is not set: the test command starts %s and sets it", m.urlEnv, m.name)
		}
		t.Skipf("%s not set: scripts/test.sh starts %s", m.urlEnv, m.name)
	}
	if m.keyEnv != "" {
		key, secret = os.Getenv(m.keyEnv), os.Getenv(m.secretEnv)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key, secret, "")))
	if err != nil {
		t.Fatal(err)
	}
	target := creds.Target{Bucket: fmt.Sprintf("matrix-%d", time.Now().UnixNano()%1e12), Region: "us-east-1", Endpoint: url, PathStyle: true}
	client := New(cfg, target)
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(target.Bucket)}); err != nil {
		t.Fatalf("create bucket on %s: %v", m.name, err)
	}
	return client, target, cfg
}

// failingParts fails UploadPart for part numbers in fail, once each, with a
// permanent error (a cut connection that the run gives up on).
type failingParts struct {
	upload.API
	fail  map[int32]bool
	parts atomic.Int32
}

func (f *failingParts) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	f.parts.Add(1)
	if f.fail[aws.ToInt32(in.PartNumber)] {
		return nil, &smithy.GenericAPIError{Code: "InvalidRequest", Message: "test: the connection was cut"}
	}
	return f.API.UploadPart(ctx, in, o...)
}

// countingHeads counts HeadObject calls.
type countingHeads struct {
	upload.API
	n atomic.Int32
}

func (c *countingHeads) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	c.n.Add(1)
	return c.API.HeadObject(ctx, in, o...)
}

// journal is a Recorder that keeps what a resume needs.
type journal struct {
	mu       sync.Mutex
	id       string
	partSize int64
	mode     upload.Checksum
	known    map[int]upload.KnownPart
}

func (j *journal) Created(id string, ps int64) { j.mu.Lock(); j.id, j.partSize = id, ps; j.mu.Unlock() }
func (j *journal) ChecksumMode(c upload.Checksum) {
	j.mu.Lock()
	j.mode = c
	j.mu.Unlock()
}
func (j *journal) PartDone(n int, size int64, etag, crc string) {
	j.mu.Lock()
	j.known[n] = upload.KnownPart{Size: size, ETag: etag, CRC32C: crc}
	j.mu.Unlock()
}
func (j *journal) Completed() {}

func get(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

// The same engine-level suite on every store: upload (single request and
// multipart, verified by reading back), the skip check's HEAD, resume after a
// failed part, and listing and aborting a kept multipart upload.
func TestStoreMatrix(t *testing.T) {
	for _, m := range matrixStores {
		t.Run(m.name, func(t *testing.T) {
			client, target, _ := m.connect(t)
			ctx := context.Background()
			b := target.Bucket
			opts := upload.Options{InitialInterval: 5 * time.Millisecond, MaxInterval: 50 * time.Millisecond, RequestTimeout: time.Minute}
			var fallbacks atomic.Int32
			opts.OnChecksumFallback = func(upload.Checksum, upload.Checksum, error) { fallbacks.Add(1) }
			heads := &countingHeads{API: client}
			up := upload.New(heads, opts)

			small, smallData := randomFile(t, "small.csv", 4096, 11)
			large, largeData := randomFile(t, "large.bin", 11<<20+7, 12)
			for _, f := range []struct {
				path, key string
				data      []byte
				parts     int
			}{{small, "ds/small.csv", smallData, 1}, {large, "ds/large.bin", largeData, 3}} {
				before := heads.n.Load()
				res, err := up.Upload(ctx, upload.Job{Path: f.path, Bucket: b, Key: f.key})
				if err != nil {
					t.Fatalf("upload %s: %v", f.key, err)
				}
				// Every store here answers a PutObject with the MD5 of the
				// bytes it received as ETag: that answer is the read-back.
				if f.parts == 1 && heads.n.Load() != before {
					t.Errorf("%s: %d HEAD read-backs after a single PutObject, want 0", f.key, heads.n.Load()-before)
				}
				if res.Parts != f.parts || res.ChecksumMode != m.wantMode {
					t.Errorf("%s: %d parts in mode %s, want %d in %s", f.key, res.Parts, res.ChecksumMode, f.parts, m.wantMode)
				}
				if !bytes.Equal(get(t, client, b, f.key), f.data) {
					t.Errorf("%s: the object read back differs from the file", f.key)
				}
				// The skip check recognises the object.
				if _, ok, err := up.Match(ctx, upload.Job{Path: f.path, Bucket: b, Key: f.key}); err != nil || !ok {
					t.Errorf("Match %s: %v, %v", f.key, ok, err)
				}
			}
			if _, ok, err := up.Match(ctx, upload.Job{Path: small, Bucket: b, Key: "ds/absent.csv"}); err != nil || ok {
				t.Errorf("Match of an absent object: %v, %v", ok, err)
			}
			if want := map[bool]int32{true: 1, false: 0}[m.wantMode == upload.ChecksumMD5]; fallbacks.Load() != want {
				t.Errorf("%d checksum fallbacks, want %d", fallbacks.Load(), want)
			}

			// Resume: part 3 fails, the upload is kept; the next run sends only part 3.
			j := &journal{known: map[int]upload.KnownPart{}}
			fp := &failingParts{API: client, fail: map[int32]bool{3: true}}
			keep := opts
			keep.KeepOnFailure, keep.Checksum, keep.Concurrency = true, up.ChecksumMode(), 1 // parts in order: 1 and 2 are held when 3 fails
			_, err := upload.New(fp, keep).Upload(ctx, upload.Job{Path: large, Bucket: b, Key: "ds/resumed.bin", Recorder: j})
			var me *upload.MultipartError
			if !errors.As(err, &me) || me.Aborted || j.id == "" {
				t.Fatalf("first run: %v", err)
			}
			// The kept upload is listed, as `ckanup uploads` lists it: under
			// the dataset's prefix, and by its key (how a resume finds it).
			if got := listed(t, client, b, "ds/", j.id); got == m.exactKeyListing {
				t.Errorf("upload %s listed under the prefix: %v, want %v", j.id, got, !m.exactKeyListing)
			}
			if !listed(t, client, b, "ds/resumed.bin", j.id) {
				t.Errorf("upload %s is not listed by its key", j.id)
			}
			fp2 := &failingParts{API: client}
			res, err := upload.New(fp2, keep).Upload(ctx, upload.Job{Path: large, Bucket: b, Key: "ds/resumed.bin",
				Resume: &upload.Resume{UploadID: j.id, PartSize: j.partSize, Checksum: j.mode, Known: j.known}})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if fp2.parts.Load() != 1 || res.UploadID != j.id {
				t.Errorf("resume sent %d parts (want 1) in upload %s (want %s)", fp2.parts.Load(), res.UploadID, j.id)
			}
			if !bytes.Equal(get(t, client, b, "ds/resumed.bin"), largeData) {
				t.Error("the resumed object differs from the file")
			}

			// Abort a kept upload, as `ckanup uploads abort` does.
			j2 := &journal{known: map[int]upload.KnownPart{}}
			_, err = upload.New(&failingParts{API: client, fail: map[int32]bool{2: true}}, keep).Upload(ctx, upload.Job{Path: large, Bucket: b, Key: "ds/aborted.bin", Recorder: j2})
			if err == nil || j2.id == "" {
				t.Fatalf("second kept upload: %v", err)
			}
			if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("ds/aborted.bin"), UploadId: aws.String(j2.id)}); err != nil {
				t.Fatalf("abort: %v", err)
			}
			if listed(t, client, b, "ds/aborted.bin", j2.id) {
				t.Errorf("upload %s is still listed after abort", j2.id)
			}
		})
	}
}

func listed(t *testing.T, c *s3.Client, bucket, prefix, id string) bool {
	t.Helper()
	p := s3.NewListMultipartUploadsPaginator(c, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list uploads: %v", err)
		}
		for _, u := range page.Uploads {
			if aws.ToString(u.UploadId) == id {
				return true
			}
		}
	}
	return false
}
