package upload

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Match reports whether the object at job.Key already holds exactly the bytes of
// job.Path, as left by an earlier Upload whose registration did not happen: same
// size, and one of: the same SHA-256 (recorded in metadata by single-request
// uploads), the same composite CRC32C at the recorded part size, the same
// full-object CRC64NVME, or — where a store keeps no checksum — the same
// MD5-based ETag (an ETag that is not an MD5, as with SSE-KMS, never matches,
// so the file is sent again). It reads the file once when the size matches,
// stops within 1 MiB of a cancellation, and sends nothing.
//
// With job.ListPrefix set, the first Match under that prefix lists it
// (ListObjectsV2, every page); every Match of the Uploader then answers "not
// there" without a request for a key the listing does not hold, or holds with
// another size than the file's, and sends the HEAD only for the others. A
// listing that fails (credentials from a token endpoint may not list the
// bucket: see internal/scope) is tried once per prefix; Match then sends a HEAD
// per key, as without ListPrefix. The listing is a snapshot of the run's
// start: an object written later by another process is not seen, and its
// file is sent again, never skipped wrongly.
func (u *Uploader) Match(ctx context.Context, job Job) (*Result, bool, error) {
	if job.Observer == nil {
		job.Observer = NopObserver{}
	}
	if job.ListPrefix != "" && strings.HasPrefix(job.Key, job.ListPrefix) {
		if sizes, ok := u.listed(ctx, job.Bucket, job.ListPrefix); ok {
			size, there := sizes[job.Key]
			if !there {
				return nil, false, nil
			}
			if fi, err := os.Stat(job.Path); err == nil && fi.Size() != size {
				return nil, false, nil
			}
		}
	}
	var out *s3.HeadObjectOutput
	var mode Checksum
	err := u.retry(ctx, call{op: "HeadObject", obs: job.Observer, timeout: u.callTimeout()}, func(actx context.Context) error {
		mode = u.ChecksumMode()
		in := &s3.HeadObjectInput{Bucket: aws.String(job.Bucket), Key: aws.String(job.Key)}
		if mode.headers() {
			in.ChecksumMode = types.ChecksumModeEnabled
		}
		var err error
		out, err = u.api.HeadObject(actx, in)
		if err != nil && u.refused(err, mode) {
			return errSendAgain{err}
		}
		return err
	})
	if err != nil {
		if Classify(err) == KindNotFound || hiddenByPolicy(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("look for an earlier upload: %w", err)
	}
	src, err := openSource(job.Path)
	if err != nil {
		return nil, false, fmt.Errorf("open: %w", err)
	}
	defer src.f.Close()
	if aws.ToInt64(out.ContentLength) != src.size {
		return nil, false, nil
	}
	wantSHA := out.Metadata[MetaSHA256]
	remoteCRC := aws.ToString(out.ChecksumCRC32C)
	remoteCRC64 := aws.ToString(out.ChecksumCRC64NVME)
	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	plan := Plan{Size: src.size, PartSize: max(src.size, 1), Parts: 1}
	resultPartSize := src.size
	multiETag := strings.Contains(etag, "-")
	if strings.Contains(remoteCRC, "-") || multiETag {
		ps, err := strconv.ParseInt(out.Metadata[MetaPartSize], 10, 64)
		if err != nil || ps < MinPartSize {
			if remoteCRC64 == "" && wantSHA == "" {
				return nil, false, nil
			}
		} else {
			plan = Plan{Size: src.size, PartSize: ps, Parts: int(ceilDiv(src.size, ps)), Multipart: true}
			resultPartSize = ps
		}
	}
	// The evidence, strongest first: the SHA-256 recorded at upload, the
	// full-object CRC64NVME, a CRC32C that can be recomputed (composite "-N",
	// or full-object), and last an MD5 ETag (moto reports multipart CRC32Cs
	// that are neither composite nor full-object; strict stores keep none).
	crcComparable := remoteCRC != "" && (strings.Contains(remoteCRC, "-") || !plan.Multipart || out.ChecksumType == types.ChecksumTypeFullObject)
	var evidence Checksum
	switch {
	case wantSHA != "":
		evidence = ChecksumOff
	case remoteCRC64 != "":
		evidence = ChecksumCRC64NVME
	case crcComparable:
		evidence = ChecksumCRC32C
	case looksLikeMD5ETag(etag) && (plan.Multipart == multiETag):
		evidence = ChecksumMD5
	default:
		return nil, false, nil // nothing trustworthy to compare with: upload again
	}
	sums := newFileSums(plan.Parts, evidence)
	if err := readParts(ctx, src.f, plan, sums, nil); err != nil {
		return nil, false, err
	}
	res := &Result{Bucket: job.Bucket, Key: job.Key, Size: src.size, SHA256: sums.SHA256(), PartSize: resultPartSize,
		Parts: plan.Parts, ETag: aws.ToString(out.ETag), Reused: true}
	var same bool
	switch evidence {
	case ChecksumOff:
		same = wantSHA == sums.SHA256()
	case ChecksumCRC64NVME:
		same = remoteCRC64 == sums.FullCRC64()
	case ChecksumCRC32C:
		want, _ := expectedCRC(out, sums, plan.Multipart)
		same = remoteCRC == want
	case ChecksumMD5:
		want := hex.EncodeToString(sums.md5.Sum(nil))
		if plan.Multipart {
			want = multipartETag(sums.partMD5)
		}
		same = etag == want
	}
	if !same {
		return nil, false, nil
	}
	switch {
	case remoteCRC64 != "":
		res.ChecksumMode, res.Checksum = ChecksumCRC64NVME, remoteCRC64
	case remoteCRC != "":
		res.ChecksumMode, res.Checksum = ChecksumCRC32C, remoteCRC
	default:
		res.ChecksumMode = ChecksumMD5
	}
	return res, true, nil
}

// maxListed bounds a listing kept in memory (about 100 bytes a key); a
// prefix holding more is not listed, and Match sends a HEAD per key.
const maxListed = 100_000

// listing is one ListObjectsV2 listing of a prefix: object key → size.
type listing struct {
	once  sync.Once
	sizes map[string]int64
	ok    bool
}

// listed returns the objects under prefix in bucket (key → size), listed once
// per Uploader, and false when the listing failed, was refused, was not
// possible (the API cannot list) or was larger than maxListed.
func (u *Uploader) listed(ctx context.Context, bucket, prefix string) (map[string]int64, bool) {
	lister, can := u.api.(s3.ListObjectsV2APIClient)
	if !can {
		return nil, false
	}
	u.listMu.Lock()
	if u.listings == nil {
		u.listings = map[string]*listing{}
	}
	l := u.listings[bucket+"\x00"+prefix]
	if l == nil {
		l = &listing{}
		u.listings[bucket+"\x00"+prefix] = l
	}
	u.listMu.Unlock()
	l.once.Do(func() {
		sizes := map[string]int64{}
		pages := s3.NewListObjectsV2Paginator(lister, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		for pages.HasMorePages() {
			actx, cancel := context.WithTimeout(ctx, u.callTimeout())
			page, err := pages.NextPage(actx)
			cancel()
			if err != nil || len(sizes)+len(page.Contents) > maxListed {
				return
			}
			for _, o := range page.Contents {
				sizes[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
			}
		}
		l.sizes, l.ok = sizes, true
	})
	return l.sizes, l.ok
}

// looksLikeMD5ETag reports an ETag of the form S3 gives objects stored
// without SSE-KMS/SSE-C: 32 hex digits, then "-N" for a multipart object.
func looksLikeMD5ETag(etag string) bool {
	hexPart, n, multi := strings.Cut(etag, "-")
	if len(hexPart) != 32 {
		return false
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return false
	}
	if multi {
		if _, err := strconv.Atoi(n); err != nil {
			return false
		}
	}
	return true
}

// hiddenByPolicy reports a HeadObject refused with a bare 403. Amazon S3
// answers 403, not 404, for a key that does not exist when the caller lacks
// s3:ListBucket on the bucket (S3 API Reference, HeadObject, "Permissions").
// Credentials from the token endpoint or --role-arn are confined to the
// dataset's prefix by a session policy that grants no s3:ListBucket, so for
// them a missing object always looks like this. Nothing can be matched then,
// and the upload goes on: credentials that are really refused fail on the
// PutObject or CreateMultipartUpload that follows, with S3's error code.
func hiddenByPolicy(err error) bool {
	code := APICode(err)
	return HTTPStatus(err) == http.StatusForbidden && (code == "" || code == "Forbidden") && Classify(err) == KindAuth
}
