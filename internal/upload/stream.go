package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
// reads the stream once, part by part, into one buffer of the part size per
// request in flight plus one (memory is bounded by that: Concurrency+1 buffers,
// or as many as an adaptive pool grows to, at most ConcurrencyCeiling+1),
// computing the SHA-256 and each
// part's checksums as it goes; a stream shorter than one part goes in a single
// PutObject. The part size is fixed, so a stream can be at most
// MaxStreamSize(part size): raise --part-size for larger ones. A stream cannot
// be resumed: on failure the upload is aborted, once every part in flight has
// finished.
func (u *Uploader) UploadStream(ctx context.Context, r io.Reader, job Job) (*Result, error) {
	if job.Observer == nil {
		job.Observer = NopObserver{}
	}
	start := u.now()
	partSize := u.opts.PartSize
	first := make([]byte, partSize)
	n, err := io.ReadFull(ctxReader{ctx, r}, first)
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

// errTooManyParts is returned for a stream longer than MaxParts parts.
var errTooManyParts = errors.New("the stream is longer than the part limit")

func (u *Uploader) streamMultipart(ctx context.Context, r io.Reader, first []byte, job Job) (res *Result, err error) {
	partSize := int64(len(first))
	job.Observer.Started(Plan{Size: -1, PartSize: partSize, Parts: -1, Multipart: true})
	mode := &uploadMode{}
	uploadID, err := u.create(ctx, job, Plan{PartSize: partSize, Multipart: true}, mode)
	if err != nil {
		return nil, err
	}
	completedUpload := false
	defer func() {
		if err != nil && !completedUpload {
			err = u.abandon(ctx, job, uploadID, err, false) // a stream cannot be resumed
		}
	}()
	// Buffers circulate: read into a free one, upload it, give it back.
	// At most one buffer per request in flight, plus the one being read.
	free := make(chan []byte, u.pool.ceiling()+1)
	for i := 0; i < u.pool.ceiling(); i++ { // first is in use
		free <- nil // allocated on first use
	}
	sums := newFileSums(0, mode.get())
	sums.partSHA = u.opts.SignedPayloads
	var mu sync.Mutex
	var completed []types.CompletedPart
	var total atomic.Int64
	var stopped atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	// fail stops the loop: every part in flight finishes (or is cancelled)
	// before the caller aborts the upload underneath them.
	fail := func(cause error) error {
		stopped.Store(true)
		gerr := g.Wait()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case cause != nil:
			return cause
		case gerr != nil:
			return gerr
		}
		return errors.New("upload stopped")
	}
	buf, n := first, len(first)
	for part := 1; ; part++ {
		if part > u.maxParts {
			return nil, fail(fmt.Errorf("%w: more than %d parts of %s (%s): raise --part-size", errTooManyParts, u.maxParts, FormatSize(partSize), FormatSize(partSize*int64(u.maxParts))))
		}
		data := buf[:n]
		p := sums.add(data)
		s, err := u.pool.acquire(gctx)
		if err != nil {
			return nil, fail(nil)
		}
		if stopped.Load() {
			u.pool.release(s, 0, false)
			return nil, fail(nil)
		}
		g.Go(func() error {
			cp, err := u.sendPart(gctx, job, uploadID, s, p, mode, nil, func() io.ReadSeeker { return bytes.NewReader(data) })
			free <- data[:cap(data)]
			if err != nil {
				stopped.Store(true)
				u.pool.release(s, 0, false)
				return fmt.Errorf("upload part %d: %w", p.n, err)
			}
			u.pool.release(s, p.size, true)
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
			return nil, fail(nil)
		}
		if buf == nil {
			buf = make([]byte, partSize)
		}
		rn, rerr := io.ReadFull(ctxReader{gctx, r}, buf)
		if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
			return nil, fail(fmt.Errorf("read: %w", rerr))
		}
		if rn == 0 {
			break
		}
		n = rn
	}
	if err := g.Wait(); err != nil {
		return nil, fail(nil)
	}
	sortParts(completed)
	res = &Result{Bucket: job.Bucket, Key: job.Key, Size: total.Load(), SHA256: sums.SHA256(), PartSize: partSize,
		Parts: len(completed), UploadID: uploadID, ChecksumMode: mode.get()}
	switch mode.get() {
	case ChecksumCRC32C:
		res.Checksum = sums.Composite()
	case ChecksumCRC64NVME:
		res.Checksum = sums.FullCRC64()
	}
	if err := u.complete(ctx, job, uploadID, completed, res, sums); err != nil {
		return nil, err
	}
	completedUpload = true
	if err := u.verify(ctx, job, res, sums); err != nil {
		return nil, &CompletedMismatchError{Bucket: job.Bucket, Key: job.Key, Err: err}
	}
	return res, nil
}

func sortParts(ps []types.CompletedPart) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && aws.ToInt32(ps[j].PartNumber) < aws.ToInt32(ps[j-1].PartNumber); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}
