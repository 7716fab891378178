package upload

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Match reports whether the object at job.Key already holds exactly the bytes of
// job.Path, as left by an earlier Upload whose registration did not happen: same
// size, and the same SHA-256 (recorded in metadata by single-request uploads) or
// the same composite CRC32C at the recorded part size (multipart uploads). It
// reads the file once when the size matches and sends nothing.
func (u *Uploader) Match(ctx context.Context, job Job) (*Result, bool, error) {
	if job.Observer == nil {
		job.Observer = NopObserver{}
	}
	var out *s3.HeadObjectOutput
	err := u.retry(ctx, "HeadObject", 0, job.Observer, u.callTimeout(), func(actx context.Context) error {
		var err error
		out, err = u.api.HeadObject(actx, &s3.HeadObjectInput{
			Bucket: aws.String(job.Bucket), Key: aws.String(job.Key), ChecksumMode: types.ChecksumModeEnabled,
		})
		return err
	})
	if err != nil {
		if HTTPStatus(err) == http.StatusNotFound || APICode(err) == "NotFound" || APICode(err) == "NoSuchKey" {
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
	plan := Plan{Size: src.size, PartSize: max(src.size, 1), Parts: 1}
	resultPartSize := src.size
	if strings.Contains(remoteCRC, "-") {
		ps, err := strconv.ParseInt(out.Metadata[MetaPartSize], 10, 64)
		if err != nil || ps < MinPartSize {
			return nil, false, nil
		}
		plan = Plan{Size: src.size, PartSize: ps, Parts: int(ceilDiv(src.size, ps)), Multipart: true}
		resultPartSize = ps
	}
	if wantSHA == "" && remoteCRC == "" {
		return nil, false, nil // nothing to compare with: upload again
	}
	sums := newFileSums(plan.Parts)
	if err := readParts(ctx, src.f, plan, sums, nil); err != nil {
		return nil, false, err
	}
	if wantSHA != "" && wantSHA != sums.SHA256() {
		return nil, false, nil
	}
	want, comparable := expectedCRC(out, sums, plan.Multipart)
	if wantSHA == "" && !comparable {
		return nil, false, nil // nothing trustworthy to compare with: upload again
	}
	if comparable && remoteCRC != want {
		return nil, false, nil
	}
	return &Result{Bucket: job.Bucket, Key: job.Key, Size: src.size, SHA256: sums.SHA256(), PartSize: resultPartSize,
		Parts: plan.Parts, ETag: aws.ToString(out.ETag), Checksum: remoteCRC, Reused: true}, true, nil
}
