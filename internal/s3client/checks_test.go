package s3client

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/ckanup/ckanup/internal/upload"
)

// storeChecks is what docs/s3-compatible.md's table says each store does.
type storeChecks struct {
	refusesBadMD5, refusesBadCRC32C, compositeCRC32C, fullObjectCRC64 bool
}

var documentedChecks = map[string]storeChecks{
	"versitygw":          {refusesBadMD5: true, refusesBadCRC32C: true, compositeCRC32C: true, fullObjectCRC64: true},
	"moto":               {refusesBadMD5: false, refusesBadCRC32C: false, compositeCRC32C: false, fullObjectCRC64: false},
	"minio":              {refusesBadMD5: true, refusesBadCRC32C: true, compositeCRC32C: true, fullObjectCRC64: true},
	"strict-no-checksum": {refusesBadMD5: true, refusesBadCRC32C: true /* refuses the header */, compositeCRC32C: false, fullObjectCRC64: false},
}

// The table of checks in docs/s3-compatible.md, measured on every store: a
// part with a wrong Content-MD5, a part with a wrong CRC32C, the checksum a
// multipart object reports in crc32c mode, and whether crc64nvme's
// full-object checksum is stored as sent.
func TestStoreChecks(t *testing.T) {
	for _, m := range matrixStores {
		t.Run(m.name, func(t *testing.T) {
			want := documentedChecks[m.name]
			client, target, _ := m.connect(t)
			ctx := context.Background()
			b := aws.String(target.Bucket)
			cu, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("bad")})
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("bad"), UploadId: cu.UploadId, PartNumber: aws.Int32(1),
				Body: strings.NewReader("hello"), ContentMD5: aws.String("AAAAAAAAAAAAAAAAAAAAAA==")})
			if got := err != nil; got != want.refusesBadMD5 {
				t.Errorf("wrong Content-MD5 refused: %v (%v), documented %v", got, err, want.refusesBadMD5)
			}
			_, err = client.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("bad"), UploadId: cu.UploadId, PartNumber: aws.Int32(2),
				Body: strings.NewReader("hello"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumCRC32C: aws.String("AAAAAA==")})
			if got := err != nil; got != want.refusesBadCRC32C {
				t.Errorf("wrong CRC32C refused: %v (%v), documented %v", got, err, want.refusesBadCRC32C)
			}
			client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("bad"), UploadId: cu.UploadId})

			large, _ := randomFile(t, "large.bin", 11<<20+7, 12)
			for _, mode := range []upload.Checksum{upload.ChecksumCRC32C, upload.ChecksumCRC64NVME} {
				key := "mode-" + string(mode)
				res, err := upload.New(client, upload.Options{Checksum: mode, MaxAttempts: 1}).Upload(ctx, upload.Job{Path: large, Bucket: target.Bucket, Key: key})
				if err != nil {
					if (mode == upload.ChecksumCRC32C && want.compositeCRC32C) || (mode == upload.ChecksumCRC64NVME && want.fullObjectCRC64) {
						t.Errorf("%s: %v", mode, err)
					}
					continue
				}
				h, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				switch mode {
				case upload.ChecksumCRC32C:
					if got := aws.ToString(h.ChecksumCRC32C) == res.Checksum && strings.HasSuffix(res.Checksum, "-3"); got != want.compositeCRC32C {
						t.Errorf("composite CRC32C %q reported (ours %q): %v, documented %v", aws.ToString(h.ChecksumCRC32C), res.Checksum, got, want.compositeCRC32C)
					}
				case upload.ChecksumCRC64NVME:
					if got := aws.ToString(h.ChecksumCRC64NVME) == res.Checksum && h.ChecksumType == types.ChecksumTypeFullObject; got != want.fullObjectCRC64 {
						t.Errorf("full-object CRC64NVME %q %s reported (ours %q): %v, documented %v", aws.ToString(h.ChecksumCRC64NVME), h.ChecksumType, res.Checksum, got, want.fullObjectCRC64)
					}
				}
			}
		})
	}
}
