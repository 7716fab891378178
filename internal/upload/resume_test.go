package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// memRecorder keeps what a journal would.
type memRecorder struct {
	mu        sync.Mutex
	uploadID  string
	partSize  int64
	parts     map[int]KnownPart
	completed bool
}

func (m *memRecorder) Created(id string, ps int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploadID, m.partSize, m.parts = id, ps, map[int]KnownPart{}
}

func (m *memRecorder) PartDone(n int, size int64, etag, crc string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.parts[n] = KnownPart{Size: size, ETag: etag, CRC32C: crc}
}

func (m *memRecorder) Completed() { m.completed = true }

func (m *memRecorder) resume() *Resume {
	return &Resume{UploadID: m.uploadID, PartSize: m.partSize, Known: m.parts}
}

// interrupted runs an upload of a 5-part file that fails for good at part 4 and
// keeps the upload, and returns what was recorded.
func interrupted(t *testing.T, fake *fakeS3, path string) *memRecorder {
	t.Helper()
	fake.fail = func(op string, part int32, _ int) error {
		if op == "UploadPart" && part == 4 {
			return apiErr(400, "InvalidArgument")
		}
		return nil
	}
	o := testOptions()
	o.Concurrency, o.KeepOnFailure = 1, true
	rec := &memRecorder{}
	_, err := New(fake, o).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Recorder: rec})
	var me *MultipartError
	if !errors.As(err, &me) || me.Aborted {
		t.Fatalf("first run: %v", err)
	}
	fake.fail = nil
	if rec.uploadID == "" || len(rec.parts) != 3 || rec.completed {
		t.Fatalf("recorded %+v", rec)
	}
	return rec
}

func TestResumeSendsOnlyMissingParts(t *testing.T) {
	for _, noChecksums := range []bool{false, true} {
		t.Run(fmt.Sprintf("server checksums %v", !noChecksums), func(t *testing.T) {
			path, data := writeFile(t, 21*mib+5)
			fake := newFakeS3()
			fake.listNoChecksums = noChecksums
			rec := interrupted(t, fake, path)
			before := fake.count("UploadPart")
			obs := &recorder{}
			res, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Resume: rec.resume(), Recorder: rec, Observer: obs})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if !bytes.Equal(fake.object("k"), data) || res.SHA256 != sha(data) || res.UploadID != rec.uploadID {
				t.Fatal("resumed object differs from the file")
			}
			if sent := fake.count("UploadPart") - before; sent != 2 {
				t.Errorf("resume sent %d parts, want the 2 missing", sent)
			}
			if fake.count("CreateMultipartUpload") != 1 || !rec.completed || obs.bytes.Load() != res.Size {
				t.Errorf("calls %v, completed %v, progress %d", fake.ops(), rec.completed, obs.bytes.Load())
			}
		})
	}
}

func TestResumeReplacesPartThatDiffers(t *testing.T) {
	path, data := writeFile(t, 21*mib+5)
	fake := newFakeS3()
	rec := interrupted(t, fake, path)
	// Part 2 on the server no longer holds the file's bytes.
	fake.mu.Lock()
	fake.uploads[rec.uploadID][2] = bytes.Repeat([]byte{1}, 5*mib)
	fake.mu.Unlock()
	before := fake.count("UploadPart")
	if _, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Resume: rec.resume()}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fake.object("k"), data) {
		t.Fatal("object differs from the file")
	}
	if sent := fake.count("UploadPart") - before; sent != 3 {
		t.Errorf("sent %d parts, want 2 missing + 1 mismatching", sent)
	}
}

func TestResumeGoneUpload(t *testing.T) {
	path, _ := writeFile(t, 21*mib+5)
	fake := newFakeS3()
	rec := interrupted(t, fake, path)
	fake.mu.Lock()
	delete(fake.uploads, rec.uploadID)
	fake.mu.Unlock()
	before := fake.count("UploadPart")
	_, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Resume: rec.resume()})
	if !errors.Is(err, ErrUploadGone) {
		t.Fatalf("err = %v, want ErrUploadGone", err)
	}
	if fake.count("AbortMultipartUpload") != 0 || fake.count("UploadPart") != before {
		t.Errorf("calls %v", fake.ops())
	}
}

func TestListPartsPages(t *testing.T) {
	fake := newFakeS3()
	fake.listPage = func(in *s3.ListPartsInput) (*s3.ListPartsOutput, error) {
		start := 1
		if m := aws.ToString(in.PartNumberMarker); m != "" {
			start, _ = strconv.Atoi(m)
			start++
		}
		out := &s3.ListPartsOutput{}
		for n := start; n < start+1000 && n <= 2500; n++ {
			out.Parts = append(out.Parts, types.Part{PartNumber: aws.Int32(int32(n)), Size: aws.Int64(1), ETag: aws.String("e")})
		}
		if last := start + 999; last < 2500 {
			out.IsTruncated, out.NextPartNumberMarker = aws.Bool(true), aws.String(strconv.Itoa(last))
		}
		return out, nil
	}
	parts, err := New(fake, testOptions()).listParts(context.Background(), Job{Bucket: "b", Key: "k", Observer: NopObserver{}}, "u")
	if err != nil || len(parts) != 2500 || fake.count("ListParts") != 3 {
		t.Fatalf("%d parts in %d calls: %v", len(parts), fake.count("ListParts"), err)
	}
	// A server that says "truncated" without moving the marker must not loop.
	fake.listPage = func(in *s3.ListPartsInput) (*s3.ListPartsOutput, error) {
		return &s3.ListPartsOutput{IsTruncated: aws.Bool(true), NextPartNumberMarker: aws.String("1000"),
			Parts: []types.Part{{PartNumber: aws.Int32(1), Size: aws.Int64(1)}}}, nil
	}
	if _, err := New(fake, testOptions()).listParts(context.Background(), Job{Bucket: "b", Key: "k", Observer: NopObserver{}}, "u"); err == nil {
		t.Fatal("a non-advancing server was paged for ever")
	}
}

// A resumed upload whose Complete is refused (S3 no longer holds what ListParts
// showed) is reported as gone, so the caller starts afresh, and is aborted.
func TestResumeCompleteRefused(t *testing.T) {
	path, _ := writeFile(t, 21*mib+5)
	fake := newFakeS3()
	rec := interrupted(t, fake, path)
	fake.fail = func(op string, _ int32, _ int) error {
		if op == "CompleteMultipartUpload" {
			return apiErr(400, "InvalidPart")
		}
		return nil
	}
	_, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Resume: rec.resume()})
	if !errors.Is(err, ErrUploadGone) {
		t.Fatalf("err = %v, want ErrUploadGone", err)
	}
	ops := fake.ops()
	if ops[len(ops)-1] != "AbortMultipartUpload" || len(fake.openUploads()) != 0 {
		t.Errorf("calls %v", ops)
	}
}

// A part S3 stored whose answer the run never heard (Ctrl-C while it was in
// flight) is in S3 but not recorded: the interrupted run says it may have
// arrived, and the resume reports what ListParts found, not what was recorded.
func TestResumeCountsPartWhoseAnswerWasLost(t *testing.T) {
	path, data := writeFile(t, 21*mib+5) // 5 parts of 5 MiB
	fake := newFakeS3()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake.stored = func(part int32) {
		if part == 3 {
			cancel()
		}
	}
	o := testOptions()
	o.Concurrency, o.KeepOnFailure = 1, true
	rec := &memRecorder{}
	_, err := New(fake, o).Upload(ctx, Job{Path: path, Bucket: "b", Key: "k", Recorder: rec})
	var me *MultipartError
	if !errors.As(err, &me) || me.Aborted {
		t.Fatalf("interrupted run: %v", err)
	}
	fake.stored = nil
	if len(rec.parts) != 2 || me.Parts != 2 || me.Bytes != 10*mib || me.Unsure != 1 {
		t.Fatalf("recorded %d parts; error says %d parts, %d bytes, %d unsure; want 2, 2, %d, 1", len(rec.parts), me.Parts, me.Bytes, me.Unsure, 10*mib)
	}
	if want := "2 parts, 10.0 MiB confirmed in S3; a part in flight may have arrived too"; !strings.Contains(err.Error(), want) {
		t.Errorf("interrupted run's error %q does not say %q", err, want)
	}
	if got := len(fake.uploads[rec.uploadID]); got != 3 {
		t.Fatalf("S3 holds %d parts, want 3 (part 3's answer was lost)", got)
	}

	before := fake.count("UploadPart")
	r := rec.resume()
	listed, listedBytes := -1, int64(-1)
	r.Listed = func(parts int, bytes int64) { listed, listedBytes = parts, bytes }
	if _, err := New(fake, testOptions()).Upload(context.Background(), Job{Path: path, Bucket: "b", Key: "k", Resume: r, Recorder: rec}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if listed != 3 || listedBytes != 15*mib {
		t.Errorf("resume reported %d parts, %d bytes already in S3; want 3, %d", listed, listedBytes, 15*mib)
	}
	if sent := fake.count("UploadPart") - before; sent != 2 {
		t.Errorf("resume sent %d parts, want 2 (parts 4 and 5)", sent)
	}
	if !bytes.Equal(fake.object("k"), data) {
		t.Error("resumed object differs from the file")
	}
}
