package upload

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// partSum is one part of a plan with the CRC32C of its bytes.
type partSum struct {
	n         int
	off, size int64
	crc       uint32
}

// crcBase64 encodes a CRC32C the way S3's x-amz-checksum-crc32c header carries it.
func crcBase64(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

// compositeCRC is the checksum S3 reports for a multipart object uploaded with
// CRC32C part checksums: the CRC32C of the concatenated part checksums, "-N".
func compositeCRC(parts []uint32) string {
	h := crc32.New(castagnoli)
	var b [4]byte
	for _, c := range parts {
		binary.BigEndian.PutUint32(b[:], c)
		h.Write(b[:])
	}
	return crcBase64(h.Sum32()) + "-" + strconv.Itoa(len(parts))
}

// fileSums accumulates what one sequential read of a file yields: the SHA-256 of
// the whole file, its full-object CRC32C, and one CRC32C per part.
type fileSums struct {
	sha  hash.Hash
	full hash.Hash32
	// parts[i] is the CRC32C of part i+1.
	parts []uint32
}

func newFileSums(parts int) *fileSums {
	return &fileSums{sha: sha256.New(), full: crc32.New(castagnoli), parts: make([]uint32, parts)}
}

func (s *fileSums) SHA256() string  { return hex.EncodeToString(s.sha.Sum(nil)) }
func (s *fileSums) FullCRC() string { return crcBase64(s.full.Sum32()) }

// Composite is the multipart composite checksum of the parts read so far.
func (s *fileSums) Composite() string { return compositeCRC(s.parts) }

// readParts reads the file sequentially, part by part, updating s and calling
// emit after each part. It fails with ErrSourceChanged if the file is shorter
// than the plan says.
func readParts(ctx context.Context, r io.ReaderAt, plan Plan, s *fileSums, emit func(partSum) error) error {
	buf := make([]byte, 1<<20)
	for n := 1; n <= plan.Parts; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		off, size := plan.PartBounds(n)
		crc := crc32.New(castagnoli)
		got, err := io.CopyBuffer(io.MultiWriter(s.sha, s.full, crc), io.NewSectionReader(r, off, size), buf)
		if err != nil {
			return fmt.Errorf("read part %d: %w", n, err)
		}
		if got != size {
			return fmt.Errorf("part %d: read %d of %d bytes: %w", n, got, size, ErrSourceChanged)
		}
		s.parts[n-1] = crc.Sum32()
		if emit != nil {
			if err := emit(partSum{n: n, off: off, size: size, crc: s.parts[n-1]}); err != nil {
				return err
			}
		}
	}
	return nil
}
