package upload

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Checksum selects how each request's body is protected and how the object is
// checked after the upload.
type Checksum string

// The checksum modes (--checksum). Sources: S3 user guide, "Checking object
// integrity"; stores that refuse x-amz-checksum-* headers (B2, GCS's XML API,
// older MinIO and Ceph releases) accept Content-MD5.
const (
	// ChecksumAuto sends CRC32C and falls back to MD5 for the rest of the run
	// the first time the store refuses a checksum header.
	ChecksumAuto Checksum = "auto"
	// ChecksumCRC32C: x-amz-checksum-crc32c on every request; multipart
	// objects carry a composite checksum ("…-N"). The default.
	ChecksumCRC32C Checksum = "crc32c"
	// ChecksumCRC64NVME: x-amz-checksum-crc64nvme on every request; multipart
	// objects carry a full-object checksum (ChecksumType FULL_OBJECT) that any
	// downloader's SDK can verify without knowing the part size.
	ChecksumCRC64NVME Checksum = "crc64nvme"
	// ChecksumMD5: Content-MD5 on every request, no x-amz-checksum-* header;
	// the read-back compares the size (and the ETag where it is an MD5).
	ChecksumMD5 Checksum = "md5"
	// ChecksumOff: no per-request checksum beyond what TLS and SigV4 give; the
	// read-back compares the size.
	ChecksumOff Checksum = "off"
)

// ParseChecksum reads a --checksum value; "" means ChecksumAuto.
func ParseChecksum(s string) (Checksum, error) {
	switch c := Checksum(strings.ToLower(strings.TrimSpace(s))); c {
	case "":
		return ChecksumAuto, nil
	case ChecksumAuto, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumMD5, ChecksumOff:
		return c, nil
	}
	return "", fmt.Errorf("checksum %q: use auto, crc32c, crc64nvme, md5 or off", s)
}

// headers reports whether the mode sends x-amz-checksum-* headers.
func (c Checksum) headers() bool { return c == ChecksumCRC32C || c == ChecksumCRC64NVME }

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// nvme is the CRC-64/NVME table, in the reversed form crc64.MakeTable wants
	// (the constant the AWS SDK uses).
	nvme = crc64.MakeTable(0x9a6c9329ac4bc9b5)
)

// partSum is one part of a plan with the checksums of its bytes.
type partSum struct {
	n         int
	off, size int64
	crc       uint32 // CRC32C
	crc64     uint64 // CRC64NVME
	md5       []byte // only when the sums were asked for MD5
	sha256    []byte // only when the sums were asked for part SHA-256s
}

// crcBase64 encodes a CRC32C the way S3's x-amz-checksum-crc32c header carries it.
func crcBase64(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

// crc64Base64 encodes a CRC64NVME as x-amz-checksum-crc64nvme carries it.
func crc64Base64(c uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], c)
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

// multipartETag is the ETag S3 gives a multipart object stored without
// SSE-KMS/SSE-C: the MD5 of the concatenated part MD5s, "-N".
func multipartETag(parts [][]byte) string {
	h := md5.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// fileSums accumulates what one sequential read of a file yields: the SHA-256 of
// the whole file, its full-object CRC64NVME, and per-part checksums. The
// full-object CRC32C is combined from the parts' (FullCRC), not computed in a
// second pass over every byte.
type fileSums struct {
	sha    hash.Hash
	full64 hash.Hash64
	md5    hash.Hash // nil unless MD5s were asked for
	// parts[i] is the CRC32C of part i+1 and sizes[i] its size in bytes;
	// parts64 and partMD5 likewise.
	parts   []uint32
	sizes   []int64
	parts64 []uint64
	partMD5 [][]byte
	// partSHA asks for each part's SHA-256 (partSum.sha256), for a client
	// that signs payloads (see Options.SignedPayloads).
	partSHA bool
}

// newFileSums prepares the sums of a file of parts parts. CRC32C and SHA-256
// are always computed; CRC64NVME only for ChecksumCRC64NVME and MD5 only for
// ChecksumMD5 (each costs a pass of CPU over every byte).
func newFileSums(parts int, mode Checksum) *fileSums {
	s := &fileSums{sha: sha256.New(), parts: make([]uint32, parts), sizes: make([]int64, parts)}
	if mode == ChecksumCRC64NVME {
		s.full64 = crc64.New(nvme)
		s.parts64 = make([]uint64, parts)
	}
	if mode == ChecksumMD5 {
		s.md5 = md5.New()
		s.partMD5 = make([][]byte, parts)
	}
	return s
}

func (s *fileSums) SHA256() string { return hex.EncodeToString(s.sha.Sum(nil)) }

// FullCRC is the CRC32C of the whole file (S3's FULL_OBJECT checksum type),
// combined from the parts' CRC32Cs and sizes (crc32cCombine).
func (s *fileSums) FullCRC() string {
	var full uint32
	shifts := map[int64]*crcShift{}
	for i, c := range s.parts {
		m := shifts[s.sizes[i]]
		if m == nil {
			m = newCRCShift(castagnoliReversed, s.sizes[i])
			shifts[s.sizes[i]] = m
		}
		full = m.apply(full) ^ c
	}
	return crcBase64(full)
}

func (s *fileSums) FullCRC64() string {
	if s.full64 == nil {
		return ""
	}
	return crc64Base64(s.full64.Sum64())
}

// Composite is the multipart composite checksum of the parts read so far.
func (s *fileSums) Composite() string { return compositeCRC(s.parts) }

// add records one part's bytes (streams, which are not re-read).
func (s *fileSums) add(data []byte) partSum {
	p := partSum{n: len(s.parts) + 1, size: int64(len(data)), crc: crc32.Checksum(data, castagnoli)}
	s.sha.Write(data)
	s.parts = append(s.parts, p.crc)
	s.sizes = append(s.sizes, p.size)
	if s.full64 != nil {
		p.crc64 = crc64.Checksum(data, nvme)
		s.full64.Write(data)
		s.parts64 = append(s.parts64, p.crc64)
	}
	if s.md5 != nil {
		m := md5.Sum(data)
		p.md5 = m[:]
		s.md5.Write(data)
		s.partMD5 = append(s.partMD5, p.md5)
	}
	if s.partSHA {
		h := sha256.Sum256(data)
		p.sha256 = h[:]
	}
	return p
}

// ctxReader stops a long read when ctx is done (checked every buffer).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Read buffers of the checksum passes, reused. A fresh 1 MiB buffer per file
// made a directory of 100 KiB files allocate ten times its size, and garbage
// collection took more CPU than the checksums (see docs/performance.md). A
// file smaller than 1 MiB is read through a buffer of smallReadBuf bytes, so
// that a run of small files does not keep 1 MiB per file in flight.
const (
	largeReadBuf = 1 << 20
	smallReadBuf = 128 << 10
)

var (
	largeBufs = sync.Pool{New: func() any { b := make([]byte, largeReadBuf); return &b }}
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallReadBuf); return &b }}
)

// readBuf returns a pooled read buffer for a file of size bytes (-1:
// unknown) and the function that gives it back.
func readBuf(size int64) (buf []byte, release func()) {
	pool := &largeBufs
	if size >= 0 && size < largeReadBuf {
		pool = &smallBufs
	}
	bp := pool.Get().(*[]byte)
	return *bp, func() { pool.Put(bp) }
}

// readParts reads the file sequentially, part by part, updating s and calling
// emit after each part. It fails with ErrSourceChanged if the file is shorter
// than the plan says, and with ctx's error within one 1 MiB buffer of a
// cancellation.
func readParts(ctx context.Context, r io.ReaderAt, plan Plan, s *fileSums, emit func(partSum) error) error {
	buf, release := readBuf(plan.Size)
	defer release()
	for n := 1; n <= plan.Parts; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		off, size := plan.PartBounds(n)
		p, err := sumPart(ctx, r, n, off, size, s, buf)
		if err != nil {
			return err
		}
		if emit != nil {
			if err := emit(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// sumPart reads part n (size bytes at off) and returns its checksums, adding
// the bytes to s when s is not nil (without s, only the CRC32C is computed).
func sumPart(ctx context.Context, r io.ReaderAt, n int, off, size int64, s *fileSums, buf []byte) (partSum, error) {
	crc := crc32.New(castagnoli)
	ws := []io.Writer{crc}
	var c64 hash.Hash64
	var m, sh hash.Hash
	if s != nil {
		ws = append(ws, s.sha)
		if s.full64 != nil {
			c64 = crc64.New(nvme)
			ws = append(ws, c64, s.full64)
		}
		if s.md5 != nil {
			m = md5.New()
			ws = append(ws, m, s.md5)
		}
		if s.partSHA {
			sh = sha256.New()
			ws = append(ws, sh)
		}
	}
	got, err := io.CopyBuffer(io.MultiWriter(ws...), ctxReader{ctx, io.NewSectionReader(r, off, size)}, buf)
	if err != nil {
		if ctx.Err() != nil {
			return partSum{}, ctx.Err()
		}
		return partSum{}, fmt.Errorf("read part %d: %w", n, err)
	}
	if got != size {
		return partSum{}, fmt.Errorf("part %d: read %d of %d bytes: %w", n, got, size, ErrSourceChanged)
	}
	p := partSum{n: n, off: off, size: size, crc: crc.Sum32()}
	if s != nil {
		s.parts[n-1] = p.crc
		s.sizes[n-1] = size
		if c64 != nil {
			p.crc64 = c64.Sum64()
			s.parts64[n-1] = p.crc64
		}
		if m != nil {
			p.md5 = m.Sum(nil)
			s.partMD5[n-1] = p.md5
		}
		if sh != nil {
			p.sha256 = sh.Sum(nil)
		}
	}
	return p, nil
}
