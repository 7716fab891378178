package s3client

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/s3client/s3test"
	"github.com/ckanup/ckanup/internal/upload"
)

func randomFile(t *testing.T, name string, n int, seed uint64) (string, []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func strictClient(t *testing.T, strict bool) (*s3test.Store, *upload.Uploader, *[]string, upload.Options) {
	store := s3test.New(strict)
	srv := httptest.NewServer(store)
	t.Cleanup(srv.Close)
	cfg := testConfig(t, nil)
	client := New(cfg, creds.Target{Bucket: "b", Region: "us-east-1", Endpoint: srv.URL, PathStyle: true})
	var mu sync.Mutex
	var notices []string
	opts := upload.Options{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, RequestTimeout: 30 * time.Second,
		OnChecksumFallback: func(from, to upload.Checksum, cause error) {
			mu.Lock()
			notices = append(notices, string(from)+"→"+string(to))
			mu.Unlock()
		}}
	return store, upload.New(client, opts), &notices, opts
}

// ChecksumAuto against a store that refuses checksum headers: the refusal is
// noticed once, reported once, and every file of the run goes with Content-MD5,
// which the store checks.
func TestChecksumAutoFallsBackOnStrictStore(t *testing.T) {
	store, up, notices, _ := strictClient(t, true)
	ctx := context.Background()
	small, smallData := randomFile(t, "small.csv", 1000, 1)
	large, largeData := randomFile(t, "large.bin", 11<<20, 2)
	for _, f := range []struct {
		path string
		data []byte
	}{{small, smallData}, {large, largeData}, {small, smallData}} {
		key := filepath.Base(f.path)
		res, err := up.Upload(ctx, upload.Job{Path: f.path, Bucket: "b", Key: key})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if res.ChecksumMode != upload.ChecksumMD5 {
			t.Errorf("%s: mode %s, want md5", key, res.ChecksumMode)
		}
		if got, _ := store.Object("b", key); !bytes.Equal(got, f.data) {
			t.Errorf("%s: stored object differs", key)
		}
	}
	if store.Refusals.Load() != 1 || len(*notices) != 1 || (*notices)[0] != "crc32c→md5" {
		t.Errorf("%d refusals, notices %v; want one of each", store.Refusals.Load(), *notices)
	}
	// 1 + 3 parts + 1 bodies carried a Content-MD5 that the store checked.
	if n := store.MD5Checked.Load(); n != 5 {
		t.Errorf("%d bodies with Content-MD5, want 5", n)
	}
	// Skipping an unchanged file works there too (the ETag is the evidence).
	for _, f := range []string{small, large} {
		if _, ok, err := up.Match(ctx, upload.Job{Path: f, Bucket: "b", Key: filepath.Base(f)}); err != nil || !ok {
			t.Errorf("Match %s: %v, %v", f, ok, err)
		}
	}
}

// The first request of a run may be the skip check's HEAD, whose 400 has no
// body: that is noticed as the refusal too.
func TestChecksumAutoNoticesRefusedHead(t *testing.T) {
	store, up, notices, _ := strictClient(t, true)
	path, _ := randomFile(t, "a.csv", 100, 3)
	if _, ok, err := up.Match(context.Background(), upload.Job{Path: path, Bucket: "b", Key: "a.csv"}); err != nil || ok {
		t.Fatalf("Match: %v %v", ok, err)
	}
	if store.Refusals.Load() != 1 || len(*notices) != 1 || up.ChecksumMode() != upload.ChecksumMD5 {
		t.Errorf("%d refusals, notices %v, mode %s", store.Refusals.Load(), *notices, up.ChecksumMode())
	}
}

// An explicit mode is kept: crc32c on a strict store fails at once, with no
// retry; md5 and off never send a checksum header; crc32c and crc64nvme on a
// store that accepts them are used.
func TestExplicitChecksumModes(t *testing.T) {
	path, data := randomFile(t, "f.bin", 6<<20, 4)
	for _, tc := range []struct {
		mode    upload.Checksum
		strict  bool
		wantErr bool
	}{
		{upload.ChecksumCRC32C, true, true},
		{upload.ChecksumCRC64NVME, true, true},
		{upload.ChecksumMD5, true, false},
		{upload.ChecksumOff, true, false},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			store, _, _, opts := strictClient(t, tc.strict)
			srv := httptest.NewServer(store)
			defer srv.Close()
			opts.Checksum = tc.mode
			up := upload.New(New(testConfig(t, nil), creds.Target{Bucket: "b", Region: "us-east-1", Endpoint: srv.URL, PathStyle: true}), opts)
			res, err := up.Upload(context.Background(), upload.Job{Path: path, Bucket: "b", Key: "k"})
			if tc.wantErr {
				if err == nil || store.Refusals.Load() != 1 || upload.Classify(err) != upload.KindPermanent {
					t.Fatalf("err = %v (%s) after %d refusals", err, upload.Classify(err), store.Refusals.Load())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := store.Object("b", "k"); !bytes.Equal(got, data) || res.ChecksumMode != tc.mode || store.Refusals.Load() != 0 {
				t.Errorf("mode %s, refusals %d", res.ChecksumMode, store.Refusals.Load())
			}
		})
	}
}

var _ = errors.Is
