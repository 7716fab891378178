package upload

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fakeS3 is an in-memory S3 that records the order of calls and, like a real
// server, verifies each body's CRC32C and the parts named at Complete.
type fakeS3 struct {
	mu      sync.Mutex
	calls   []string
	objects map[string]*fakeObject
	uploads map[string]map[int32][]byte
	meta    map[string]map[string]string // upload id → Create's metadata
	nextID  int
	// fail, when set, may return an error for a call before it runs.
	fail func(op string, part int32, attempt int) error
	// afterComplete, when set, may replace Complete's answer after it ran.
	afterComplete func(attempt int) error
	attempts      map[string]int
	// hook runs inside UploadPart after the body is read (for cancellation tests).
	hook func(part int32)
	// stored runs inside UploadPart once the part is stored, before the
	// answer: a context cancelled there loses the answer of a part S3 holds.
	stored func(part int32)
	// listNoChecksums makes ListParts omit checksums, as some servers do.
	listNoChecksums bool
	// listPage overrides ListParts entirely (paging tests).
	listPage func(in *s3.ListPartsInput) (*s3.ListPartsOutput, error)
	// putMD5ETag makes PutObject answer with the MD5 of the stored bytes as
	// ETag (as S3 without SSE-KMS does), putEcho with the CRC32C it was sent.
	putMD5ETag, putEcho bool
	// putStore, when set, makes PutObject lenient (as moto): no CRC32C check,
	// and the bytes stored are putStore(received), the stored checksum the
	// one sent.
	putStore func([]byte) []byte
	// listRefused makes ListObjectsV2 answer 403 AccessDenied.
	listRefused bool
}

type fakeObject struct {
	data     []byte
	meta     map[string]string
	checksum string
	full     bool
}

func newFakeS3() *fakeS3 {
	return &fakeS3{objects: map[string]*fakeObject{}, uploads: map[string]map[int32][]byte{}, meta: map[string]map[string]string{}, attempts: map[string]int{}}
}

func apiErr(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "fake", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: code}}}}
}

func (f *fakeS3) record(op string, part int32) (int, error) {
	f.mu.Lock()
	name := op
	if part > 0 {
		name = fmt.Sprintf("%s(%d)", op, part)
	}
	f.calls = append(f.calls, name)
	f.attempts[name]++
	attempt := f.attempts[name]
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		return attempt, fail(op, part, attempt)
	}
	return attempt, nil
}

// ops returns the calls with part numbers dropped and consecutive repeats kept.
func (f *fakeS3) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i], _, _ = strings.Cut(c, "(")
	}
	return out
}

func (f *fakeS3) count(op string) int {
	n := 0
	for _, c := range f.ops() {
		if c == op {
			n++
		}
	}
	return n
}

func crcOf(b []byte) string {
	return crcBase64(crc32.Checksum(b, castagnoli))
}

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if _, err := f.record("PutObject", 0); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != aws.ToInt64(in.ContentLength) {
		return nil, apiErr(400, "IncompleteBody")
	}
	checksum := crcOf(b)
	if f.putStore != nil {
		b, checksum = f.putStore(b), aws.ToString(in.ChecksumCRC32C)
	} else if c := aws.ToString(in.ChecksumCRC32C); c != "" && c != crcOf(b) {
		return nil, apiErr(400, "BadDigest")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[aws.ToString(in.Key)] = &fakeObject{data: b, meta: in.Metadata, checksum: checksum, full: true}
	out := &s3.PutObjectOutput{ETag: aws.String(`"etag"`)}
	if f.putMD5ETag {
		sum := md5.Sum(b)
		out.ETag = aws.String(`"` + hex.EncodeToString(sum[:]) + `"`)
	}
	if f.putEcho {
		out.ChecksumCRC32C = in.ChecksumCRC32C
	}
	return out, nil
}

func (f *fakeS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if _, err := f.record("CreateMultipartUpload", 0); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("upload-%d", f.nextID)
	f.uploads[id] = map[int32][]byte{}
	f.meta[id] = in.Metadata
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id)}, nil
}

func (f *fakeS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	n := aws.ToInt32(in.PartNumber)
	if _, err := f.record("UploadPart", n); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if f.hook != nil {
		f.hook(n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c := aws.ToString(in.ChecksumCRC32C); c != crcOf(b) {
		return nil, apiErr(400, "BadDigest")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts, ok := f.uploads[aws.ToString(in.UploadId)]
	if !ok {
		return nil, apiErr(404, "NoSuchUpload")
	}
	parts[n] = b
	if f.stored != nil {
		f.mu.Unlock()
		f.stored(n)
		f.mu.Lock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf(`"p%d"`, n)), ChecksumCRC32C: aws.String(crcOf(b))}, nil
}

func (f *fakeS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	attempt, err := f.record("CompleteMultipartUpload", 0)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	parts, ok := f.uploads[aws.ToString(in.UploadId)]
	if !ok {
		f.mu.Unlock()
		return nil, apiErr(404, "NoSuchUpload")
	}
	var data []byte
	var sums []uint32
	for i, p := range in.MultipartUpload.Parts {
		n := aws.ToInt32(p.PartNumber)
		if i > 0 && n <= aws.ToInt32(in.MultipartUpload.Parts[i-1].PartNumber) {
			f.mu.Unlock()
			return nil, apiErr(400, "InvalidPartOrder")
		}
		b, has := parts[n]
		if !has || aws.ToString(p.ETag) != fmt.Sprintf(`"p%d"`, n) {
			f.mu.Unlock()
			return nil, apiErr(400, "InvalidPart")
		}
		data = append(data, b...)
		sums = append(sums, crc32.Checksum(b, castagnoli))
	}
	delete(f.uploads, aws.ToString(in.UploadId))
	f.objects[aws.ToString(in.Key)] = &fakeObject{data: data, meta: f.meta[aws.ToString(in.UploadId)], checksum: compositeCRC(sums)}
	after := f.afterComplete
	f.mu.Unlock()
	if after != nil {
		if err := after(attempt); err != nil {
			return nil, err
		}
	}
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"whole"`)}, nil
}

func (f *fakeS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if _, err := f.record("AbortMultipartUpload", 0); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("abort called with a done context: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.uploads[aws.ToString(in.UploadId)]; !ok {
		return nil, apiErr(404, "NoSuchUpload")
	}
	delete(f.uploads, aws.ToString(in.UploadId))
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (f *fakeS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if _, err := f.record("HeadObject", 0); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, apiErr(404, "NotFound")
	}
	out := &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(o.data))), ETag: aws.String(`"whole"`), Metadata: o.meta}
	if in.ChecksumMode == types.ChecksumModeEnabled {
		out.ChecksumCRC32C = aws.String(o.checksum)
	}
	return out, nil
}

func (f *fakeS3) ListParts(ctx context.Context, in *s3.ListPartsInput, _ ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	if _, err := f.record("ListParts", 0); err != nil {
		return nil, err
	}
	if f.listPage != nil {
		return f.listPage(in)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts, ok := f.uploads[aws.ToString(in.UploadId)]
	if !ok {
		return nil, apiErr(404, "NoSuchUpload")
	}
	var nums []int
	for n := range parts {
		nums = append(nums, int(n))
	}
	sort.Ints(nums)
	out := &s3.ListPartsOutput{}
	for _, n := range nums {
		b := parts[int32(n)]
		p := types.Part{PartNumber: aws.Int32(int32(n)), Size: aws.Int64(int64(len(b))), ETag: aws.String(fmt.Sprintf(`"p%d"`, n))}
		if !f.listNoChecksums {
			p.ChecksumCRC32C = aws.String(crcOf(b))
		}
		out.Parts = append(out.Parts, p)
	}
	return out, nil
}

func (f *fakeS3) object(key string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.objects[key]; ok {
		return o.data
	}
	return nil
}

func (f *fakeS3) openUploads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.uploads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

var _ API = (*fakeS3)(nil)

func atomicAdd(p *int32, d int32) { atomic.AddInt32(p, d) }

// ListObjectsV2 lists the objects under the prefix in key order, two a page.
func (f *fakeS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if _, err := f.record("ListObjectsV2", 0); err != nil {
		return nil, err
	}
	if f.listRefused {
		return nil, apiErr(403, "AccessDenied")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k > aws.ToString(in.ContinuationToken) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := &s3.ListObjectsV2Output{}
	for i, k := range keys {
		if i == 2 {
			out.IsTruncated, out.NextContinuationToken = aws.Bool(true), aws.String(keys[1])
			break
		}
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(f.objects[k].data)))})
	}
	return out, nil
}
