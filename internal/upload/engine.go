package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cenkalti/backoff/v4"
	"golang.org/x/sync/errgroup"
)

// Object metadata keys written by the engine itself (callers add their own).
const (
	MetaSHA256   = "sha256"
	MetaPartSize = "ckanup-part-size"
)

// Options tune the engine. Zero values mean the documented defaults.
type Options struct {
	// PartSize is the starting part size; NewPlan grows it for very large files.
	// Default DefaultPartSize (5 MiB).
	PartSize int64
	// Concurrency is the number of requests in flight, shared by every file the
	// Uploader sends at once. Default DefaultConcurrency (4).
	Concurrency int
	// MaxAttempts is the number of tries of one request before giving up. Default 10.
	MaxAttempts int
	// MaxRetryTime bounds the time spent retrying one request. Default 5 minutes.
	MaxRetryTime time.Duration
	// InitialInterval and MaxInterval shape the exponential backoff between tries.
	// Defaults 500ms and 30s; randomized by ±50%.
	InitialInterval, MaxInterval time.Duration
	// RequestTimeout bounds one attempt of one request, so a stalled connection
	// cannot hang a part. Default: 1 minute plus one minute per 8 MiB of part size
	// for part uploads (a floor of about 140 KiB/s), 1 minute for other requests.
	RequestTimeout time.Duration
	// KeepOnFailure leaves a failed multipart upload in place instead of aborting it.
	KeepOnFailure bool
	// RefreshCredentials, when set, is called when S3 says the credentials
	// expired or are unknown (ExpiredToken, InvalidToken, InvalidAccessKeyId —
	// servers differ); the request is then retried once with fresh ones.
	RefreshCredentials func()
}

func (o Options) withDefaults() Options {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.MaxRetryTime <= 0 {
		o.MaxRetryTime = 5 * time.Minute
	}
	if o.InitialInterval <= 0 {
		o.InitialInterval = 500 * time.Millisecond
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = 30 * time.Second
	}
	return o
}

// Observer hears about an upload as it goes. Calls may come from several goroutines.
type Observer interface {
	// Started is called once the file is opened and planned.
	Started(Plan)
	// Transferred reports n more bytes acknowledged by S3 (never counted twice).
	Transferred(n int64)
	// Retrying reports a failed attempt that will be tried again after a delay.
	Retrying(RetryEvent)
}

// RetryEvent describes one failed attempt that is about to be retried.
type RetryEvent struct {
	Op      string // "UploadPart", "PutObject", …
	Part    int    // 0 when the request is not about a part
	Attempt int    // the attempt that failed, from 1
	Delay   time.Duration
	Err     error
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Started(Plan)        {}
func (NopObserver) Transferred(int64)   {}
func (NopObserver) Retrying(RetryEvent) {}

// Job is one file to send to one object.
type Job struct {
	Path        string
	Bucket, Key string
	ContentType string
	// Metadata is stored with the object (x-amz-meta-*). The engine adds
	// MetaSHA256 for single-request uploads and MetaPartSize for multipart ones.
	Metadata map[string]string
	Observer Observer
	// Resume continues an earlier multipart upload; nil starts a new one.
	Resume *Resume
	// Recorder hears what a later run needs to resume this upload (optional).
	Recorder Recorder
}

// Result describes a verified object.
type Result struct {
	Bucket, Key string
	Size        int64
	SHA256      string // hex
	PartSize    int64
	Parts       int
	ETag        string
	// Checksum is the CRC32C S3 holds for the object: full-object for a single
	// request, composite ("…-N") for a multipart upload.
	Checksum string
	UploadID string
	// Reused is true when the object was already in place and nothing was sent.
	Reused   bool
	Duration time.Duration
}

// Uploader sends files to S3. One Uploader may run several Uploads at once; they
// share its pool of Concurrency request slots.
type Uploader struct {
	api    API
	opts   Options
	tokens chan struct{}
	now    func() time.Time
}

// New returns an Uploader calling api.
func New(api API, opts Options) *Uploader {
	opts = opts.withDefaults()
	return &Uploader{api: api, opts: opts, tokens: make(chan struct{}, opts.Concurrency), now: time.Now}
}

// Plan returns how the file of the given size would be sent.
func (u *Uploader) Plan(size int64) (Plan, error) { return NewPlan(size, u.opts.PartSize) }

// PartSize is the starting part size, in bytes (Options.PartSize or its default).
func (u *Uploader) PartSize() int64 { return u.opts.PartSize }

type source struct {
	f     *os.File
	size  int64
	mtime time.Time
}

func openSource(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return &source{f: f, size: fi.Size(), mtime: fi.ModTime()}, nil
}

// unchanged fails with ErrSourceChanged if the file's size or mtime moved.
func (s *source) unchanged() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if fi.Size() != s.size || !fi.ModTime().Equal(s.mtime) {
		return fmt.Errorf("size %d→%d, modified %s: %w", s.size, fi.Size(), fi.ModTime().Format(time.RFC3339), ErrSourceChanged)
	}
	return nil
}

// Upload sends job.Path to job.Bucket/job.Key and verifies the object.
func (u *Uploader) Upload(ctx context.Context, job Job) (*Result, error) {
	if job.Observer == nil {
		job.Observer = NopObserver{}
	}
	if job.Recorder == nil {
		job.Recorder = nopRecorder{}
	}
	start := u.now()
	src, err := openSource(job.Path)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer src.f.Close()
	var plan Plan
	if job.Resume != nil {
		if plan, err = resumePlan(src.size, job.Resume); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUploadGone, err)
		}
	} else if plan, err = u.Plan(src.size); err != nil {
		return nil, err
	}
	job.Observer.Started(plan)
	var res *Result
	if plan.Multipart {
		res, err = u.multipart(ctx, job, src, plan)
	} else {
		res, err = u.single(ctx, job, src.f, plan.Size, src.unchanged)
	}
	if err != nil {
		return nil, err
	}
	res.Duration = u.now().Sub(start)
	return res, nil
}

func (u *Uploader) metadata(job Job, extra map[string]string) map[string]string {
	m := make(map[string]string, len(job.Metadata)+len(extra))
	for k, v := range job.Metadata {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// single sends a body smaller than one part with one PutObject. unchanged, when
// set, is checked after the checksum pass (a file must not have moved).
func (u *Uploader) single(ctx context.Context, job Job, body io.ReaderAt, size int64, unchanged func() error) (*Result, error) {
	plan := Plan{Size: size, PartSize: max(size, 1), Parts: 1}
	sums := newFileSums(1)
	if err := readParts(ctx, body, plan, sums, nil); err != nil {
		return nil, err
	}
	if unchanged != nil {
		if err := unchanged(); err != nil {
			return nil, err
		}
	}
	sha := sums.SHA256()
	crc := crcBase64(sums.parts[0])
	var etag string
	err := u.acquire(ctx, func() error {
		return u.retry(ctx, "PutObject", 0, job.Observer, u.partTimeout(size), func(actx context.Context) error {
			out, err := u.api.PutObject(actx, &s3.PutObjectInput{
				Bucket:            aws.String(job.Bucket),
				Key:               aws.String(job.Key),
				Body:              io.NewSectionReader(body, 0, size),
				ContentLength:     aws.Int64(size),
				ContentType:       nonEmpty(job.ContentType),
				Metadata:          u.metadata(job, map[string]string{MetaSHA256: sha}),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
				ChecksumCRC32C:    aws.String(crc),
			})
			if err != nil {
				return err
			}
			etag = aws.ToString(out.ETag)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	job.Observer.Transferred(size)
	res := &Result{Bucket: job.Bucket, Key: job.Key, Size: size, SHA256: sha, PartSize: size, Parts: 1, ETag: etag, Checksum: crc}
	if err := u.verify(ctx, job, res, sums); err != nil {
		return nil, err
	}
	return res, nil
}

// multipart sends a file in parts. One goroutine reads the file once, in order,
// computing the whole-file SHA-256 and each part's CRC32C; each checksummed part
// is handed to the shared pool, whose requests re-read it through a SectionReader
// (from the page cache, just read) so no part is ever copied into memory.
func (u *Uploader) multipart(ctx context.Context, job Job, src *source, plan Plan) (res *Result, err error) {
	var uploadID string
	var remote map[int]remotePart
	var known map[int]KnownPart
	if job.Resume != nil {
		uploadID, known = job.Resume.UploadID, job.Resume.Known
		if remote, err = u.listParts(ctx, job, uploadID); err != nil {
			return nil, err
		}
	} else if uploadID, err = u.create(ctx, job, plan); err != nil {
		return nil, err
	}
	job.Recorder.Created(uploadID, plan.PartSize)
	defer func() {
		if err != nil && !errors.Is(err, ErrUploadGone) {
			err = u.abandon(ctx, job, uploadID, err, u.opts.KeepOnFailure)
		}
	}()

	sums := newFileSums(plan.Parts)
	completed := make([]types.CompletedPart, plan.Parts)
	var sent atomic.Int64
	var stopped atomic.Bool
	parts := make(chan partSum)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(parts)
		return readParts(gctx, src.f, plan, sums, func(p partSum) error {
			select {
			case parts <- p:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	g.Go(func() error {
		for p := range parts {
			if rp, ok := reusable(p, remote, known); ok {
				completed[p.n-1] = types.CompletedPart{ETag: aws.String(rp.etag), PartNumber: aws.Int32(int32(p.n)), ChecksumCRC32C: aws.String(crcBase64(p.crc))}
				sent.Add(p.size)
				job.Recorder.PartDone(p.n, p.size, rp.etag, crcBase64(p.crc))
				job.Observer.Transferred(p.size)
				continue
			}
			select {
			case u.tokens <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			if stopped.Load() {
				<-u.tokens
				return nil // a part failed: its error is the group's
			}
			g.Go(func() error {
				defer func() { <-u.tokens }()
				cp, err := u.uploadPart(gctx, job, src, uploadID, p)
				if err != nil {
					stopped.Store(true) // before the slot is released: no new part starts
					return fmt.Errorf("upload part %d of %d: %w", p.n, plan.Parts, err)
				}
				completed[p.n-1] = cp
				sent.Add(p.size)
				job.Recorder.PartDone(p.n, p.size, aws.ToString(cp.ETag), aws.ToString(cp.ChecksumCRC32C))
				job.Observer.Transferred(p.size)
				return nil
			})
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if got := sent.Load(); got != plan.Size {
		return nil, fmt.Errorf("sent %d of %d bytes: %w", got, plan.Size, ErrSourceChanged)
	}
	if err := src.unchanged(); err != nil {
		return nil, err
	}

	res = &Result{Bucket: job.Bucket, Key: job.Key, Size: plan.Size, SHA256: sums.SHA256(), PartSize: plan.PartSize,
		Parts: plan.Parts, Checksum: sums.Composite(), UploadID: uploadID}
	if err := u.complete(ctx, job, uploadID, completed, res, sums); err != nil {
		if code := APICode(err); job.Resume != nil && (code == "InvalidPart" || code == "NoSuchUpload") {
			// The upload resumed is not the one recorded: S3 lost or replaced
			// parts (a part still in flight when it was aborted can revive it).
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.callTimeout())
			defer cancel()
			_, _ = u.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(job.Bucket), Key: aws.String(job.Key), UploadId: aws.String(uploadID)})
			return nil, fmt.Errorf("%w (upload %s: %v)", ErrUploadGone, uploadID, err)
		}
		return nil, err
	}
	job.Recorder.Completed()
	if err := u.verify(ctx, job, res, sums); err != nil {
		return nil, err
	}
	return res, nil
}

// create starts a multipart upload.
func (u *Uploader) create(ctx context.Context, job Job, plan Plan) (string, error) {
	var uploadID string
	err := u.retry(ctx, "CreateMultipartUpload", 0, job.Observer, u.callTimeout(), func(actx context.Context) error {
		out, err := u.api.CreateMultipartUpload(actx, &s3.CreateMultipartUploadInput{
			Bucket:            aws.String(job.Bucket),
			Key:               aws.String(job.Key),
			ContentType:       nonEmpty(job.ContentType),
			Metadata:          u.metadata(job, map[string]string{MetaPartSize: strconv.FormatInt(plan.PartSize, 10)}),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		})
		if err != nil {
			return err
		}
		uploadID = aws.ToString(out.UploadId)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("create multipart upload: %w", err)
	}
	if uploadID == "" {
		return "", errors.New("create multipart upload: S3 returned no upload id")
	}
	return uploadID, nil
}

func (u *Uploader) uploadPart(ctx context.Context, job Job, src *source, uploadID string, p partSum) (types.CompletedPart, error) {
	return u.sendPart(ctx, job, uploadID, p, func() io.ReadSeeker { return io.NewSectionReader(src.f, p.off, p.size) })
}

// sendPart uploads one part, with retries; body gives a fresh reader per attempt.
func (u *Uploader) sendPart(ctx context.Context, job Job, uploadID string, p partSum, body func() io.ReadSeeker) (types.CompletedPart, error) {
	crc := crcBase64(p.crc)
	var cp types.CompletedPart
	err := u.retry(ctx, "UploadPart", p.n, job.Observer, u.partTimeout(p.size), func(actx context.Context) error {
		out, err := u.api.UploadPart(actx, &s3.UploadPartInput{
			Bucket:            aws.String(job.Bucket),
			Key:               aws.String(job.Key),
			UploadId:          aws.String(uploadID),
			PartNumber:        aws.Int32(int32(p.n)),
			Body:              body(),
			ContentLength:     aws.Int64(p.size),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			ChecksumCRC32C:    aws.String(crc),
		})
		if err != nil {
			return err
		}
		if got := aws.ToString(out.ChecksumCRC32C); got != "" && got != crc {
			return backoff.Permanent(fmt.Errorf("S3 acknowledged part %d with CRC32C %s, expected %s: %w", p.n, got, crc, ErrVerify))
		}
		cp = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(p.n)), ChecksumCRC32C: aws.String(crc)}
		return nil
	})
	return cp, err
}

// complete finishes the upload. S3 may fail a CompleteMultipartUpload it has in
// fact carried out; a retry then meets NoSuchUpload, and the object itself decides.
func (u *Uploader) complete(ctx context.Context, job Job, uploadID string, parts []types.CompletedPart, res *Result, sums *fileSums) error {
	attempts := 0
	err := u.retry(ctx, "CompleteMultipartUpload", 0, job.Observer, u.completeTimeout(len(parts)), func(actx context.Context) error {
		attempts++
		out, err := u.api.CompleteMultipartUpload(actx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(job.Bucket),
			Key:             aws.String(job.Key),
			UploadId:        aws.String(uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		if err != nil {
			if attempts > 1 && APICode(err) == "NoSuchUpload" {
				if verr := u.verify(actx, job, res, sums); verr == nil {
					return nil
				}
			}
			return err
		}
		res.ETag = aws.ToString(out.ETag)
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	return nil
}

// verify reads the object's size and checksum back and compares them with what
// was read from the file.
func (u *Uploader) verify(ctx context.Context, job Job, res *Result, sums *fileSums) error {
	var out *s3.HeadObjectOutput
	err := u.retry(ctx, "HeadObject", 0, job.Observer, u.callTimeout(), func(actx context.Context) error {
		var err error
		out, err = u.api.HeadObject(actx, &s3.HeadObjectInput{
			Bucket:       aws.String(job.Bucket),
			Key:          aws.String(job.Key),
			ChecksumMode: types.ChecksumModeEnabled,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("verify object: %w", err)
	}
	if got := aws.ToInt64(out.ContentLength); got != res.Size {
		return fmt.Errorf("object is %d bytes, file is %d: %w", got, res.Size, ErrVerify)
	}
	if want, comparable := expectedCRC(out, sums, res.Parts > 1 || res.UploadID != ""); comparable {
		if got := aws.ToString(out.ChecksumCRC32C); got != want {
			return fmt.Errorf("object CRC32C is %s, file's is %s: %w", got, want, ErrVerify)
		}
	}
	if res.ETag == "" {
		res.ETag = aws.ToString(out.ETag)
	}
	return nil
}

// expectedCRC is the CRC32C the object should report, and whether the server's
// answer can be compared at all: a composite "…-N" value for a multipart upload,
// a full-object value for a single request or when the server says FULL_OBJECT.
// Some S3 implementations report other values (moto: a CRC32C without the part
// count that is neither); those are not compared, and the size check stands alone.
func expectedCRC(out *s3.HeadObjectOutput, sums *fileSums, multipart bool) (string, bool) {
	got := aws.ToString(out.ChecksumCRC32C)
	switch {
	case got == "":
		return "", false
	case strings.Contains(got, "-"):
		return sums.Composite(), true
	case !multipart || out.ChecksumType == types.ChecksumTypeFullObject:
		return sums.FullCRC(), true
	}
	return "", false
}

// abandon aborts a failed multipart upload (unless told to keep it) with a
// context that outlives the caller's cancellation.
func (u *Uploader) abandon(ctx context.Context, job Job, uploadID string, cause error, keep bool) error {
	me := &MultipartError{Bucket: job.Bucket, Key: job.Key, UploadID: uploadID, Err: cause}
	if keep && !errors.Is(cause, ErrSourceChanged) { // a changed file's parts are of no use to a resume
		return me
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*u.callTimeout())
	defer cancel()
	me.AbortErr = u.retry(actx, "AbortMultipartUpload", 0, job.Observer, u.callTimeout(), func(c context.Context) error {
		_, err := u.api.AbortMultipartUpload(c, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(job.Bucket), Key: aws.String(job.Key), UploadId: aws.String(uploadID),
		})
		if APICode(err) == "NoSuchUpload" {
			return nil
		}
		return err
	})
	me.Aborted = me.AbortErr == nil
	return me
}

// acquire runs fn holding one of the shared request slots.
func (u *Uploader) acquire(ctx context.Context, fn func() error) error {
	select {
	case u.tokens <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-u.tokens }()
	return fn()
}

// retry runs fn until it succeeds, fails permanently, or the attempts or the
// retry time run out. Each attempt gets its own timeout.
func (u *Uploader) retry(ctx context.Context, op string, part int, obs Observer, timeout time.Duration, fn func(context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = u.opts.InitialInterval
	b.MaxInterval = u.opts.MaxInterval
	b.MaxElapsedTime = u.opts.MaxRetryTime
	b.RandomizationFactor = 0.5
	policy := backoff.WithContext(backoff.WithMaxRetries(b, uint64(u.opts.MaxAttempts-1)), ctx)
	attempt := 0
	refreshed := false
	var last error
	err := backoff.RetryNotify(func() error {
		attempt++
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := fn(actx)
		if err == nil {
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		last = err
		if credentialsExpired(err) && u.opts.RefreshCredentials != nil && !refreshed && ctx.Err() == nil {
			refreshed = true
			u.opts.RefreshCredentials()
			return fmt.Errorf("credentials refused, fetching fresh ones: %w", err)
		}
		if !retryable(ctx, err) {
			return backoff.Permanent(err)
		}
		return err
	}, policy, func(err error, d time.Duration) {
		if obs != nil {
			obs.Retrying(RetryEvent{Op: op, Part: part, Attempt: attempt, Delay: d, Err: err})
		}
	})
	if err != nil && attempt > 1 && last != nil && ctx.Err() == nil {
		return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
	}
	return err
}

func (u *Uploader) callTimeout() time.Duration {
	if u.opts.RequestTimeout > 0 {
		return u.opts.RequestTimeout
	}
	return time.Minute
}

func (u *Uploader) partTimeout(size int64) time.Duration {
	if u.opts.RequestTimeout > 0 {
		return u.opts.RequestTimeout
	}
	return time.Minute + time.Duration(size/(8<<20))*time.Minute
}

// completeTimeout allows S3 time to assemble many parts.
func (u *Uploader) completeTimeout(parts int) time.Duration {
	return u.callTimeout() + time.Duration(parts/100)*time.Second
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
