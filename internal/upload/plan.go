// Package upload is ckanup's transfer engine: it moves one local file into one S3
// object with parallel, checksummed, retried parts, and verifies the result.
//
// The engine knows nothing of CKAN, terminals or flags: callers describe the object,
// pass an S3 client that satisfies API, and observe progress through Observer.
package upload

import (
	"fmt"
)

// S3 limits that shape every plan.
const (
	// MinPartSize is the smallest part S3 accepts for any part but the last.
	MinPartSize int64 = 5 << 20
	// MaxPartSize is the largest part S3 accepts.
	MaxPartSize int64 = 5 << 30
	// MaxParts is the largest number of parts in one multipart upload.
	MaxParts = 10000
	// MaxObjectSize is the largest object S3 stores (5 TiB).
	MaxObjectSize int64 = 5 << 40

	// DefaultPartSize is the part size used when Options.PartSize is zero.
	DefaultPartSize = MinPartSize
	// DefaultConcurrency is the number of parts in flight when Options.Concurrency is zero.
	DefaultConcurrency = 4
)

// Plan is how a file of a given size is cut into parts.
type Plan struct {
	Size      int64
	PartSize  int64
	Parts     int  // 1 for a single PutObject
	Multipart bool // false: one PutObject request
}

// NewPlan cuts size bytes into parts of at least partSize bytes (DefaultPartSize
// when zero), growing the part size in whole MiB so that no more than MaxParts
// parts are needed. Files smaller than one part are sent with a single PutObject.
func NewPlan(size, partSize int64) (Plan, error) {
	if size < 0 {
		return Plan{}, fmt.Errorf("negative size %d", size)
	}
	if size > MaxObjectSize {
		return Plan{}, fmt.Errorf("file is %s; S3 objects are at most %s", FormatSize(size), FormatSize(MaxObjectSize))
	}
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < MinPartSize {
		return Plan{}, fmt.Errorf("part size %s is below the S3 minimum of %s", FormatSize(partSize), FormatSize(MinPartSize))
	}
	if partSize > MaxPartSize {
		return Plan{}, fmt.Errorf("part size %s is above the S3 maximum of %s", FormatSize(partSize), FormatSize(MaxPartSize))
	}
	if size < partSize {
		return Plan{Size: size, PartSize: partSize, Parts: 1}, nil
	}
	if parts := ceilDiv(size, partSize); parts > MaxParts {
		// Grow to the smallest whole-MiB size that fits in MaxParts parts.
		const mib = 1 << 20
		partSize = ceilDiv(ceilDiv(size, MaxParts), mib) * mib
		if partSize > MaxPartSize {
			return Plan{}, fmt.Errorf("file is %s, too large for %d parts of at most %s", FormatSize(size), MaxParts, FormatSize(MaxPartSize))
		}
	}
	return Plan{Size: size, PartSize: partSize, Parts: int(ceilDiv(size, partSize)), Multipart: true}, nil
}

// PartBounds returns the offset and length of part n (1-based).
func (p Plan) PartBounds(n int) (off, length int64) {
	off = int64(n-1) * p.PartSize
	length = p.PartSize
	if off+length > p.Size {
		length = p.Size - off
	}
	return off, length
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
