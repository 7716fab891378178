package upload

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Resume continues an earlier multipart upload of the same file.
type Resume struct {
	UploadID string
	PartSize int64
	// Checksum is the mode the upload was created in; the remaining parts are
	// sent the same way. "" (not recorded) means the Uploader's current mode.
	Checksum Checksum
	// Known are the parts recorded locally, by number. They vouch for a part
	// whose checksum the server's ListParts does not report.
	Known map[int]KnownPart
	// Listed, when set, hears what S3's ListParts reports the upload holds
	// (the number of parts and their size in bytes) before any part is sent.
	// Known may be short of it: a part whose answer an interrupted run never
	// heard is in S3 but not recorded.
	Listed func(parts int, bytes int64)
}

// KnownPart is a part recorded by an earlier run.
type KnownPart struct {
	Size   int64
	ETag   string
	CRC32C string
}

// Recorder hears what must be written down to resume an upload later. Calls may
// come from several goroutines.
type Recorder interface {
	// Created is called once the multipart upload exists (or is being resumed).
	Created(uploadID string, partSize int64)
	// PartDone is called for every part S3 holds, sent now or earlier.
	PartDone(n int, size int64, etag, crc32c string)
	// Completed is called once CompleteMultipartUpload succeeded.
	Completed()
}

type nopRecorder struct{}

func (nopRecorder) Created(string, int64)               {}
func (nopRecorder) PartDone(int, int64, string, string) {}
func (nopRecorder) Completed()                          {}

// remotePart is a part S3 reports for an upload.
type remotePart struct {
	size   int64
	etag   string
	crc32c string
	crc64  string
}

// resumePlan is the plan of a resumed upload: its recorded part size decides.
func resumePlan(size int64, r *Resume) (Plan, error) {
	if r.PartSize < MinPartSize || r.PartSize > MaxPartSize {
		return Plan{}, fmt.Errorf("recorded part size %d is outside S3's limits", r.PartSize)
	}
	if size < r.PartSize {
		return Plan{}, errors.New("the file is now smaller than one part")
	}
	parts := ceilDiv(size, r.PartSize)
	if parts > MaxParts {
		return Plan{}, fmt.Errorf("recorded part size %d needs %d parts", r.PartSize, parts)
	}
	return Plan{Size: size, PartSize: r.PartSize, Parts: int(parts), Multipart: true}, nil
}

// listParts asks S3 which parts it holds, page by page (1,000 parts a page).
func (u *Uploader) listParts(ctx context.Context, job Job, uploadID string) (map[int]remotePart, error) {
	parts := map[int]remotePart{}
	var marker *string
	for page := 0; ; page++ {
		var out *s3.ListPartsOutput
		err := u.retry(ctx, call{op: "ListParts", obs: job.Observer, timeout: u.callTimeout()}, func(actx context.Context) error {
			var err error
			out, err = u.api.ListParts(actx, &s3.ListPartsInput{
				Bucket: aws.String(job.Bucket), Key: aws.String(job.Key), UploadId: aws.String(uploadID),
				PartNumberMarker: marker, MaxParts: aws.Int32(1000),
			})
			return err
		})
		if APICode(err) == "NoSuchUpload" {
			return nil, fmt.Errorf("%w (upload %s)", ErrUploadGone, uploadID)
		}
		if err != nil {
			return nil, fmt.Errorf("list parts: %w", err)
		}
		for _, p := range out.Parts {
			parts[int(aws.ToInt32(p.PartNumber))] = remotePart{size: aws.ToInt64(p.Size), etag: aws.ToString(p.ETag),
				crc32c: aws.ToString(p.ChecksumCRC32C), crc64: aws.ToString(p.ChecksumCRC64NVME)}
		}
		next := aws.ToString(out.NextPartNumberMarker)
		if !aws.ToBool(out.IsTruncated) {
			return parts, nil
		}
		// A server that pages without moving forward would loop for ever.
		if next == "" || next == aws.ToString(marker) || page > MaxParts {
			return nil, fmt.Errorf("list parts: the server pages without progress (marker %q)", next)
		}
		marker = aws.String(next)
	}
}

// reusable says whether S3 already holds part p with exactly the local bytes:
// same size, and the same CRC32C or CRC64NVME as reported by S3, or — when S3 reports none —
// as recorded by the run that sent it, with the same ETag.
func reusable(p partSum, remote map[int]remotePart, known map[int]KnownPart) (remotePart, bool) {
	rp, ok := remote[p.n]
	if !ok || rp.size != p.size {
		return rp, false
	}
	crc := crcBase64(p.crc)
	switch {
	case rp.crc32c != "":
		return rp, rp.crc32c == crc
	case rp.crc64 != "":
		return rp, rp.crc64 == crc64Base64(p.crc64)
	}
	k, ok := known[p.n]
	return rp, ok && k.CRC32C == crc && k.ETag == rp.etag && k.Size == p.size
}
