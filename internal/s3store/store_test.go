package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

func newClient(t *testing.T, minPart int64) (*s3.Client, *Store) {
	t.Helper()
	st, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st.AccessKey = "AK"
	st.MinPartSize = minPart
	if err := st.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(st)
	t.Cleanup(hs.Close)
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", ""),
	})
	return c, st
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// ListParts must page: a client asking for 1,000 parts at a time sees all 1,203.
func TestListPartsPaging(t *testing.T) {
	c, _ := newClient(t, 1)
	ctx := context.Background()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1203
	for i := 1; i <= n; i++ {
		_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i)), Body: bytes.NewReader([]byte(fmt.Sprint(i))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	var seen []int32
	pages := 0
	p := s3.NewListPartsPaginator(c, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: up.UploadId})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, part := range out.Parts {
			seen = append(seen, aws.ToInt32(part.PartNumber))
			if aws.ToString(part.ChecksumCRC32C) == "" {
				t.Fatalf("part %d has no checksum", aws.ToInt32(part.PartNumber))
			}
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != n || pages != 2 || seen[0] != 1 || seen[n-1] != n {
		t.Fatalf("saw %d parts in %d pages", len(seen), pages)
	}
}

func TestMultipartRules(t *testing.T) {
	c, _ := newClient(t, 5)
	ctx := context.Background()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, body := range []string{"aaaaaa", "bb", "cccccc"} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader([]byte(body)), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
	}
	complete := func(ps ...types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
		return err
	}
	if err := complete(parts[1], parts[0]); code(err) != "InvalidPartOrder" {
		t.Errorf("out of order: %v", err)
	}
	bad := parts[0]
	bad.ETag = aws.String(`"0000"`)
	if err := complete(bad); code(err) != "InvalidPart" {
		t.Errorf("wrong ETag: %v", err)
	}
	if err := complete(parts...); code(err) != "EntityTooSmall" {
		t.Errorf("small middle part: %v", err)
	}
	if err := complete(parts[0], parts[2]); err != nil {
		t.Fatalf("valid complete: %v", err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToInt64(head.ContentLength) != 12 || aws.ToString(head.ChecksumCRC32C) == "" {
		t.Fatalf("head: %+v %v", head, err)
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(get.Body)
	if string(b) != "aaaaaacccccc" {
		t.Errorf("object %q", b)
	}
	if err := complete(parts[0], parts[2]); code(err) != "NoSuchUpload" {
		t.Errorf("second complete: %v", err)
	}
}

func TestChecksumsVerified(t *testing.T) {
	c, _ := newClient(t, 1)
	ctx := context.Background()
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
		Body: bytes.NewReader([]byte("hello")), ChecksumCRC32C: aws.String("AAAAAA==")})
	if code(err) != "BadDigest" {
		t.Errorf("wrong CRC32C: %v", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
		Body: bytes.NewReader([]byte("hello")), ContentMD5: aws.String("AAAAAAAAAAAAAAAAAAAAAA==")})
	if code(err) != "BadDigest" {
		t.Errorf("wrong Content-MD5: %v", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}); err == nil {
		t.Error("a rejected body was stored")
	}
}

func TestAccessKeyAndBuckets(t *testing.T) {
	c, st := newClient(t, 1)
	ctx := context.Background()
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nope"), Key: aws.String("k"), Body: bytes.NewReader(nil)})
	if code(err) != "NoSuchBucket" {
		t.Errorf("missing bucket: %v", err)
	}
	st.AccessKey = "OTHER"
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader(nil)})
	if code(err) != "InvalidAccessKeyId" {
		t.Errorf("wrong key: %v", err)
	}
}

func TestListMultipartUploadsAndAbort(t *testing.T) {
	c, _ := newClient(t, 1)
	ctx := context.Background()
	for _, k := range []string{"a/1", "a/2", "b/1"} {
		if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt"), Prefix: aws.String("a/")})
	if err != nil || len(out.Uploads) != 2 {
		t.Fatalf("uploads under a/: %+v %v", out, err)
	}
	for _, u := range out.Uploads {
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Fatal(err)
		}
	}
	out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")})
	if err != nil || len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) != "b/1" {
		t.Fatalf("after abort: %+v %v", out, err)
	}
}
