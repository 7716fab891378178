package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// MaxStreamSize is the largest stream UploadStream accepts at a part size.
func MaxStreamSize(partSize int64) int64 { return partSize * MaxParts }

// UploadStream sends a stream of unknown size (standard input) to job.Key. It
// reads the stream once, part by part, into at most Concurrency+1 buffers of
// the part size (memory is bounded by that), computing the SHA-256 and each
// part's CRC32C as it goes; a stream shorter than one part goes in a single
// PutObject. The part size is fixed, so a stream can be at most
// MaxStreamSize(part size): raise --part-size for larger ones. A stream cannot
// be resumed: on failure the upload is aborted.
func (u *Uploader) UploadStream(ctx context.Context, r io.Reader, job Job) (*Result, error) {
	if job.Observer == nil {
		job.Observer = NopObserver{}
	}
	start := u.now()
	partSize := u.opts.PartSize
	first := make([]byte, partSize)
	n, err := io.ReadFull(r, first)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read: %w", err)
	}
	if int64(n) < partSize {
		res, err := u.streamSingle(ctx, job, first[:n])
		if err != nil {
			return nil, err
		}
		res.Duration = u.now().Sub(start)
		return res, nil
	}
	res, err := u.streamMultipart(ctx, r, first, job)
	if err != nil {
		return nil, err
	}
	res.Duration = u.now().Sub(start)
	return res, nil
}

func (u *Uploader) streamSingle(ctx context.Context, job Job, data []byte) (*Result, error) {
	size := int64(len(data))
	job.Observer.Started(Plan{Size: size, PartSize: max(size, 1), Parts: 1})
	return u.single(ctx, job, bytes.NewReader(data), size, nil)
}

func (u *Uploader) streamMultipart(ctx context.Context, r io.Reader, first []byte, job Job) (res *Result, err error) {
	partSize := int64(len(first))
	job.Observer.Started(Plan{Size: -1, PartSize: partSize, Parts: -1, Multipart: true})
	uploadID, err := u.create(ctx, job, Plan{PartSize: partSize, Multipart: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = u.abandon(ctx, job, uploadID, err, false) // a stream cannot be resumed
		}
	}()
	// Buffers circulate: read into a free one, upload it, give it back.
	free := make(chan []byte, u.opts.Concurrency+1)
	for i := 0; i < u.opts.Concurrency; i++ { // first is in use

		free <- nil // allocated on first use
	}
	sums := newFileSums(0)
	var mu sync.Mutex
	var completed []types.CompletedPart
	var total atomic.Int64
	var stopped atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	buf, n := first, len(first)
	for part := 1; ; part++ {
		if part > MaxParts {
			return nil, fmt.Errorf("the stream is longer than %d parts of %s (%s): raise --part-size", MaxParts, FormatSize(partSize), FormatSize(MaxStreamSize(partSize)))
		}
		data := buf[:n]
		crc := crc32.Checksum(data, castagnoli)
		sums.sha.Write(data)
		sums.full.Write(data)
		sums.parts = append(sums.parts, crc)
		p := partSum{n: part, size: int64(n), crc: crc}
		select {
		case u.tokens <- struct{}{}:
		case <-gctx.Done():
			return nil, u.groupErr(ctx, g)
		}
		if stopped.Load() {
			<-u.tokens
			return nil, u.groupErr(ctx, g)
		}
		g.Go(func() error {
			defer func() { <-u.tokens }()
			defer func() { free <- data[:cap(data)] }()
			cp, err := u.uploadPartBytes(gctx, job, uploadID, p, data)
			if err != nil {
				stopped.Store(true)
				return fmt.Errorf("upload part %d: %w", p.n, err)
			}
			mu.Lock()
			completed = append(completed, cp)
			mu.Unlock()
			total.Add(p.size)
			job.Observer.Transferred(p.size)
			return nil
		})
		// Read the next part into a free buffer.
		select {
		case buf = <-free:
		case <-gctx.Done():
			return nil, u.groupErr(ctx, g)
		}
		if buf == nil {
			buf = make([]byte, partSize)
		}
		rn, rerr := io.ReadFull(r, buf)
		if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
			_ = g.Wait()
			return nil, fmt.Errorf("read: %w", rerr)
		}
		if rn == 0 {
			break
		}
		n = rn
	}
	if err := g.Wait(); err != nil {
		return nil, u.groupErr(ctx, g)
	}
	sortParts(completed)
	res = &Result{Bucket: job.Bucket, Key: job.Key, Size: total.Load(), SHA256: sums.SHA256(), PartSize: partSize,
		Parts: len(completed), Checksum: sums.Composite(), UploadID: uploadID}
	if err := u.complete(ctx, job, uploadID, completed, res, sums); err != nil {
		return nil, err
	}
	if err := u.verify(ctx, job, res, sums); err != nil {
		return nil, err
	}
	return res, nil
}

// groupErr waits for the group and prefers the caller's cancellation.
func (u *Uploader) groupErr(ctx context.Context, g *errgroup.Group) error {
	err := g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		err = errors.New("upload stopped")
	}
	return err
}

func sortParts(ps []types.CompletedPart) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && aws.ToInt32(ps[j].PartNumber) < aws.ToInt32(ps[j-1].PartNumber); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func (u *Uploader) uploadPartBytes(ctx context.Context, job Job, uploadID string, p partSum, data []byte) (types.CompletedPart, error) {
	return u.sendPart(ctx, job, uploadID, p, func() io.ReadSeeker { return bytes.NewReader(data) })
}
