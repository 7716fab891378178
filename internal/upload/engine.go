package upload

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
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
	// Uploader sends at once. Default DefaultConcurrency (4). With
	// AdaptiveConcurrency it is where the pool starts.
	Concurrency int
	// AdaptiveConcurrency makes the pool adapt to the link (--concurrency
	// auto): from Concurrency requests in flight it doubles while the
	// throughput measured over completed requests rises by at least 15 %, up
	// to ConcurrencyCeiling, then stays at the best size; the store's
	// throttling (SlowDown, 503, 429) halves it and stops its growth. Files
	// are read through the pool without copies, so a larger pool costs
	// connections, not memory, except for UploadStream, which holds one part
	// per request in flight. See controller for the measurement.
	AdaptiveConcurrency bool
	// ConcurrencyCeiling is the most requests in flight an adaptive pool grows
	// to. Default DefaultConcurrencyCeiling (32).
	ConcurrencyCeiling int
	// OnConcurrency, when set, hears each decision of an adaptive pool. Calls
	// may come from several goroutines.
	OnConcurrency func(ConcurrencyChange)
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
	// Checksum is how requests are protected; "" means ChecksumAuto.
	Checksum Checksum
	// OnChecksumFallback, when set, hears once per Uploader that ChecksumAuto
	// met a store refusing checksum headers and goes on with ChecksumMD5.
	OnChecksumFallback func(from, to Checksum, cause error)
	// Now is the clock (for clock-skew detection and durations). Default time.Now.
	Now func() time.Time
	// SignedPayloads says the client signs each request body with SigV4
	// (plain HTTP; over HTTPS ckanup sends UNSIGNED-PAYLOAD). The read pass
	// then also computes each part's SHA-256 and hands it to the signer, which
	// otherwise reads and hashes every body a second time.
	SignedPayloads bool
}

func (o Options) withDefaults() Options {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ConcurrencyCeiling <= 0 {
		o.ConcurrencyCeiling = DefaultConcurrencyCeiling
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
	if o.Checksum == "" {
		o.Checksum = ChecksumAuto
	}
	if o.Now == nil {
		o.Now = time.Now
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

// ReuseObserver is an Observer that also hears about the parts a resumed
// multipart upload already holds: acknowledged by S3 in an earlier run, not sent
// again. An Observer without it hears about them through Transferred.
type ReuseObserver interface {
	Reused(n int64)
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
	// ListPrefix, when set and a prefix of Key, lets Match list the objects
	// under it once per Uploader (shared by every Match with the same bucket
	// and prefix) and HEAD only keys that are listed with the file's size.
	ListPrefix string
}

// Result describes a verified object.
type Result struct {
	Bucket, Key string
	Size        int64
	SHA256      string // hex
	PartSize    int64
	Parts       int
	ETag        string
	// ChecksumMode is how the requests were protected: crc32c, crc64nvme, md5
	// or off (never auto: the mode auto settled on).
	ChecksumMode Checksum
	// Checksum is the checksum S3 holds for the object in that mode: CRC32C
	// full-object for a single request, composite ("…-N") for a multipart
	// upload; CRC64NVME full-object; empty for md5 and off.
	Checksum string
	UploadID string
	// Reused is true when the object was already in place and nothing was sent.
	Reused   bool
	Duration time.Duration
}

// Uploader sends files to S3. One Uploader may run several Uploads at once; they
// share its pool of request slots (Concurrency, or adaptive) and its checksum
// choice.
type Uploader struct {
	api      API
	opts     Options
	pool     *pool
	now      func() time.Time
	maxParts int // MaxParts; smaller in tests
	// fellBack is set once ChecksumAuto fell back to ChecksumMD5.
	fellBack atomic.Bool
	// listings holds one listing per bucket and prefix (see Match).
	listMu   sync.Mutex
	listings map[string]*listing
}

// New returns an Uploader calling api.
func New(api API, opts Options) *Uploader {
	opts = opts.withDefaults()
	var ctl *controller
	if opts.AdaptiveConcurrency {
		ctl = newController(opts.Concurrency, opts.ConcurrencyCeiling)
	}
	return &Uploader{api: api, opts: opts, pool: newPool(opts.Concurrency, ctl, opts.Now, opts.OnConcurrency), now: opts.Now, maxParts: MaxParts}
}

// Concurrency is the number of requests the pool lets in flight now: fixed,
// or where an adaptive pool has got to.
func (u *Uploader) Concurrency() int { return u.pool.size() }

// Plan returns how the file of the given size would be sent.
func (u *Uploader) Plan(size int64) (Plan, error) { return NewPlan(size, u.opts.PartSize) }

// PartSize is the starting part size, in bytes (Options.PartSize or its default).
func (u *Uploader) PartSize() int64 { return u.opts.PartSize }

// ChecksumMode is the mode requests are sent with now: Options.Checksum, or
// for ChecksumAuto, crc32c until a store refused it and md5 after.
func (u *Uploader) ChecksumMode() Checksum {
	switch {
	case u.opts.Checksum != ChecksumAuto:
		return u.opts.Checksum
	case u.fellBack.Load():
		return ChecksumMD5
	}
	return ChecksumCRC32C
}

// refused is called with a failed request sent in mode sent. It reports
// whether the request should be sent again in the (new) current mode: true
// when the mode is auto and the store refused the checksum headers.
func (u *Uploader) refused(err error, sent Checksum) bool {
	if u.opts.Checksum != ChecksumAuto || !sent.headers() || !checksumRefusal(err) {
		return false
	}
	if u.fellBack.CompareAndSwap(false, true) && u.opts.OnChecksumFallback != nil {
		u.opts.OnChecksumFallback(sent, ChecksumMD5, err)
	}
	return true
}

// checksumRefusal reports an answer that a store refusing x-amz-checksum-*
// headers gives: 501, NotImplemented, or a 400 that names a checksum header or
// says nothing at all (a HEAD's 400 has no body).
func checksumRefusal(err error) bool {
	status, code := HTTPStatus(err), APICode(err)
	if status == 501 || code == "NotImplemented" {
		return true
	}
	if status != 400 {
		return false
	}
	msg := ""
	if m := errMessage(err); m != "" {
		msg = strings.ToLower(strings.ReplaceAll(m, " ", ""))
	}
	switch code {
	case "", "BadRequest":
		return msg == "" || msg == "badrequest" || strings.Contains(msg, "checksum") || strings.Contains(msg, "x-amz-")
	case "InvalidArgument", "InvalidRequest", "UnsupportedHeader", "InvalidHeader":
		return strings.Contains(msg, "checksum") || strings.Contains(msg, "x-amz-sdk") || strings.Contains(msg, "x-amz-checksum")
	}
	return false
}

type source struct {
	path  string
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
	return &source{path: path, f: f, size: fi.Size(), mtime: fi.ModTime()}, nil
}

// unchanged fails with ErrSourceChanged if the file's size or mtime moved.
func (s *source) unchanged() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("stat %s: %w", s.path, err)
	}
	if fi.Size() != s.size || !fi.ModTime().Equal(s.mtime) {
		return fmt.Errorf("%s: size %d→%d, modified %s: %w", s.path, s.size, fi.Size(), fi.ModTime().Format(time.RFC3339), ErrSourceChanged)
	}
	return nil
}

// recheck is run after a digest error: the size and mtime, then the bytes of
// the part (whose CRC32C was want) are read again. A changed file is a
// permanent ErrSourceChanged naming it.
func (s *source) recheck(ctx context.Context, n int, off, size int64, want uint32) error {
	if err := s.unchanged(); err != nil {
		return err
	}
	p, err := sumPart(ctx, s.f, n, off, size, nil, make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	if p.crc != want {
		return fmt.Errorf("%s: the bytes of part %d changed: %w", s.path, n, ErrSourceChanged)
	}
	return nil
}

// HashFile returns the SHA-256 (hex) and size of the file at path, reading it
// once. It stops within one read buffer (at most 1 MiB) of ctx's cancellation, returning ctx's error.
func HashFile(ctx context.Context, path string) (string, int64, error) {
	src, err := openSource(path)
	if err != nil {
		return "", 0, err
	}
	defer src.f.Close()
	sums := newFileSums(0, ChecksumOff)
	buf, release := readBuf(src.size)
	defer release()
	n, err := io.CopyBuffer(sums.sha, ctxReader{ctx, src.f}, buf)
	if err != nil {
		if ctx.Err() != nil {
			return "", n, ctx.Err()
		}
		return "", n, fmt.Errorf("hash %s: %w", path, err)
	}
	return sums.SHA256(), n, nil
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
		res, err = u.single(ctx, job, src.f, plan.Size, src)
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

// protect sets the checksum fields of a request body in mode c.
func protect(c Checksum, p partSum, algo *types.ChecksumAlgorithm, crc32c, crc64 **string, contentMD5 **string) {
	switch c {
	case ChecksumCRC32C:
		*algo, *crc32c = types.ChecksumAlgorithmCrc32c, aws.String(crcBase64(p.crc))
	case ChecksumCRC64NVME:
		*algo, *crc64 = types.ChecksumAlgorithmCrc64nvme, aws.String(crc64Base64(p.crc64))
	case ChecksumMD5:
		*contentMD5 = aws.String(base64.StdEncoding.EncodeToString(p.md5))
	}
}

// single sends a body smaller than one part with one PutObject. src, when set,
// is the file: checked unchanged before and after sending, and re-checked on
// a digest error.
func (u *Uploader) single(ctx context.Context, job Job, body io.ReaderAt, size int64, src *source) (*Result, error) {
	plan := Plan{Size: size, PartSize: max(size, 1), Parts: 1}
	sums := newFileSums(1, u.ChecksumMode())
	if sums.md5 == nil { // auto may fall back to MD5 on this very request
		sums.md5, sums.partMD5 = md5.New(), make([][]byte, 1)
	}
	if err := readParts(ctx, body, plan, sums, nil); err != nil {
		return nil, err
	}
	if src != nil {
		if err := src.unchanged(); err != nil {
			return nil, err
		}
	}
	sha := sums.SHA256()
	p := partSum{n: 1, size: size, crc: sums.parts[0], md5: sums.partMD5[0]}
	if u.opts.SignedPayloads { // the body is the whole file: its SHA-256 is the one read
		p.sha256 = sums.sha.Sum(nil)
	}
	if sums.full64 != nil {
		p.crc64 = sums.parts64[0]
	}
	c := call{op: "PutObject", obs: job.Observer, timeout: u.partTimeout(size)}
	if src != nil {
		c.recheck = func(ctx context.Context) error { return src.recheck(ctx, 1, 0, size, p.crc) }
	}
	var answer *s3.PutObjectOutput
	var mode Checksum
	err := u.acquire(ctx, size, func(s slot) error {
		c.slot = s
		return u.retry(ctx, c, func(actx context.Context) error {
			mode = u.ChecksumMode()
			in := &s3.PutObjectInput{
				Bucket:        aws.String(job.Bucket),
				Key:           aws.String(job.Key),
				Body:          io.NewSectionReader(body, 0, size),
				ContentLength: aws.Int64(size),
				ContentType:   nonEmpty(job.ContentType),
				Metadata:      u.metadata(job, map[string]string{MetaSHA256: sha}),
			}
			protect(mode, p, &in.ChecksumAlgorithm, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME, &in.ContentMD5)
			out, err := u.api.PutObject(actx, in, payloadHash(p.sha256)...)
			if err != nil {
				if u.refused(err, mode) {
					return errSendAgain{err}
				}
				return err
			}
			answer = out
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	if src != nil {
		// The file may have moved while it was being sent: the object then
		// holds bytes that are not the ones checksummed.
		if err := src.unchanged(); err != nil {
			return nil, fmt.Errorf("after sending s3://%s/%s: %w", job.Bucket, job.Key, err)
		}
	}
	job.Observer.Transferred(size)
	res := &Result{Bucket: job.Bucket, Key: job.Key, Size: size, SHA256: sha, PartSize: size, Parts: 1, ETag: aws.ToString(answer.ETag), ChecksumMode: mode}
	switch mode {
	case ChecksumCRC32C:
		res.Checksum = crcBase64(p.crc)
	case ChecksumCRC64NVME:
		res.Checksum = crc64Base64(p.crc64)
	}
	if putVerified(mode, answer, p) {
		return res, nil // the answer is the read-back: no HEAD
	}
	if err := u.verify(ctx, job, res, sums); err != nil {
		return nil, &CompletedMismatchError{Bucket: job.Bucket, Key: job.Key, Err: err}
	}
	return res, nil
}

// multipart sends a file in parts. One goroutine reads the file once, in order,
// computing the whole-file SHA-256 and each part's checksums; each checksummed
// part is handed to the shared pool, whose requests re-read it through a
// SectionReader (from the page cache, just read) so no part is ever copied
// into memory.
func (u *Uploader) multipart(ctx context.Context, job Job, src *source, plan Plan) (res *Result, err error) {
	var uploadID string
	var remote map[int]remotePart
	var known map[int]KnownPart
	mode := &uploadMode{}
	if job.Resume != nil {
		uploadID, known = job.Resume.UploadID, job.Resume.Known
		mode.set(job.Resume.Checksum)
		if mode.get() == "" {
			// Not recorded (an upload found in S3, or a journal from before
			// the mode was kept): the run's own mode.
			mode.set(u.ChecksumMode())
		}
		if remote, err = u.listParts(ctx, job, uploadID); err != nil {
			return nil, err
		}
		if job.Resume.Listed != nil {
			var bytes int64
			for _, rp := range remote {
				bytes += rp.size
			}
			job.Resume.Listed(len(remote), bytes)
		}
	} else if uploadID, err = u.create(ctx, job, plan, mode); err != nil {
		return nil, err
	}
	job.Recorder.Created(uploadID, plan.PartSize)
	if cr, ok := job.Recorder.(ChecksumRecorder); ok {
		cr.ChecksumMode(mode.get())
	}
	completedUpload := false
	held := newHeldParts(remote)
	defer func() {
		if err != nil && !completedUpload && !errors.Is(err, ErrUploadGone) {
			err = u.abandon(ctx, job, uploadID, err, u.opts.KeepOnFailure)
			var me *MultipartError
			if errors.As(err, &me) {
				me.Parts, me.Bytes, me.Unsure = held.counts()
			}
		}
	}()

	sums := newFileSums(plan.Parts, mode.get())
	sums.partSHA = u.opts.SignedPayloads
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
				completed[p.n-1] = completedPart(mode.get(), p, rp.etag)
				sent.Add(p.size)
				job.Recorder.PartDone(p.n, p.size, rp.etag, crcBase64(p.crc))
				if ro, ok := job.Observer.(ReuseObserver); ok {
					ro.Reused(p.size)
				} else {
					job.Observer.Transferred(p.size)
				}
				continue
			}
			s, err := u.pool.acquire(gctx)
			if err != nil {
				return err
			}
			if stopped.Load() {
				u.pool.release(s, 0, false)
				return nil // a part failed: its error is the group's
			}
			g.Go(func() error {
				recheck := func(ctx context.Context) error { return src.recheck(ctx, p.n, p.off, p.size, p.crc) }
				cp, err := u.sendPart(gctx, job, uploadID, s, p, mode, recheck, func() io.ReadSeeker { return io.NewSectionReader(src.f, p.off, p.size) })
				if err != nil {
					stopped.Store(true) // before the slot is released: no new part starts
					u.pool.release(s, 0, false)
					if gctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
						// Cut off before S3 answered: it may have stored the part.
						held.cutOff(p.n)
					}
					return fmt.Errorf("upload part %d of %d: %w", p.n, plan.Parts, err)
				}
				u.pool.release(s, p.size, true)
				completed[p.n-1] = cp
				held.add(p.n, p.size)
				sent.Add(p.size)
				job.Recorder.PartDone(p.n, p.size, aws.ToString(cp.ETag), crcBase64(p.crc))
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
		return nil, fmt.Errorf("%s: sent %d of %d bytes: %w", src.path, got, plan.Size, ErrSourceChanged)
	}
	if err := src.unchanged(); err != nil {
		return nil, err
	}

	res = &Result{Bucket: job.Bucket, Key: job.Key, Size: plan.Size, SHA256: sums.SHA256(), PartSize: plan.PartSize,
		Parts: plan.Parts, UploadID: uploadID, ChecksumMode: mode.get()}
	switch mode.get() {
	case ChecksumCRC32C:
		res.Checksum = sums.Composite()
	case ChecksumCRC64NVME:
		res.Checksum = sums.FullCRC64()
	}
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
	completedUpload = true
	job.Recorder.Completed()
	if err := u.verify(ctx, job, res, sums); err != nil {
		return nil, &CompletedMismatchError{Bucket: job.Bucket, Key: job.Key, Err: err}
	}
	return res, nil
}

// heldParts keeps what S3 holds of a multipart upload as far as this run
// knows: the parts ListParts reported and those acknowledged since, by number
// with their size, and the parts whose request was cut off before an answer.
type heldParts struct {
	mu     sync.Mutex
	sizes  map[int]int64
	unsure map[int]bool
}

func newHeldParts(remote map[int]remotePart) *heldParts {
	h := &heldParts{sizes: make(map[int]int64, len(remote)), unsure: map[int]bool{}}
	for n, rp := range remote {
		h.sizes[n] = rp.size
	}
	return h
}

func (h *heldParts) add(n int, size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sizes[n] = size
	delete(h.unsure, n)
}

func (h *heldParts) cutOff(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sizes[n]; !ok {
		h.unsure[n] = true
	}
}

// counts returns the parts known held, their bytes, and the parts that may be
// held besides.
func (h *heldParts) counts() (parts int, bytes int64, unsure int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sizes {
		bytes += s
	}
	return len(h.sizes), bytes, len(h.unsure)
}

// ChecksumRecorder is a Recorder that also keeps the checksum mode of a
// multipart upload, so a resume sends the remaining parts the same way.
type ChecksumRecorder interface {
	ChecksumMode(Checksum)
}

// uploadMode is the checksum mode of one multipart upload: fixed when it is
// created, except that ChecksumAuto may fall back while parts are sent.
type uploadMode struct {
	mu sync.Mutex
	c  Checksum
}

func (m *uploadMode) get() Checksum {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c
}

func (m *uploadMode) set(c Checksum) {
	m.mu.Lock()
	m.c = c
	m.mu.Unlock()
}

func completedPart(mode Checksum, p partSum, etag string) types.CompletedPart {
	cp := types.CompletedPart{ETag: aws.String(etag), PartNumber: aws.Int32(int32(p.n))}
	switch mode {
	case ChecksumCRC32C:
		cp.ChecksumCRC32C = aws.String(crcBase64(p.crc))
	case ChecksumCRC64NVME:
		cp.ChecksumCRC64NVME = aws.String(crc64Base64(p.crc64))
	}
	return cp
}

// create starts a multipart upload, setting mode to the mode it was created in.
func (u *Uploader) create(ctx context.Context, job Job, plan Plan, mode *uploadMode) (string, error) {
	var uploadID string
	err := u.retry(ctx, call{op: "CreateMultipartUpload", obs: job.Observer, timeout: u.callTimeout()}, func(actx context.Context) error {
		m := u.ChecksumMode()
		in := &s3.CreateMultipartUploadInput{
			Bucket:      aws.String(job.Bucket),
			Key:         aws.String(job.Key),
			ContentType: nonEmpty(job.ContentType),
			Metadata:    u.metadata(job, map[string]string{MetaPartSize: strconv.FormatInt(plan.PartSize, 10)}),
		}
		switch m {
		case ChecksumCRC32C:
			in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
		case ChecksumCRC64NVME:
			in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeFullObject
		}
		out, err := u.api.CreateMultipartUpload(actx, in)
		if err != nil {
			if u.refused(err, m) {
				return errSendAgain{err}
			}
			return err
		}
		mode.set(m)
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

// sendPart uploads one part holding slot s, with retries; body gives a fresh
// reader per attempt; recheck (optional) re-reads the source after a digest
// error.
func (u *Uploader) sendPart(ctx context.Context, job Job, uploadID string, s slot, p partSum, mode *uploadMode, recheck func(context.Context) error, body func() io.ReadSeeker) (types.CompletedPart, error) {
	var cp types.CompletedPart
	c := call{op: "UploadPart", part: p.n, obs: job.Observer, timeout: u.partTimeout(p.size), recheck: recheck, slot: s}
	err := u.retry(ctx, c, func(actx context.Context) error {
		m := mode.get()
		if m == ChecksumMD5 && p.md5 == nil {
			return backoff.Permanent(fmt.Errorf("part %d has no MD5 (the upload started in another checksum mode)", p.n))
		}
		in := &s3.UploadPartInput{
			Bucket:        aws.String(job.Bucket),
			Key:           aws.String(job.Key),
			UploadId:      aws.String(uploadID),
			PartNumber:    aws.Int32(int32(p.n)),
			Body:          body(),
			ContentLength: aws.Int64(p.size),
		}
		protect(m, p, &in.ChecksumAlgorithm, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME, &in.ContentMD5)
		out, err := u.api.UploadPart(actx, in, payloadHash(p.sha256)...)
		if err != nil {
			return err
		}
		switch {
		case m == ChecksumCRC32C && aws.ToString(out.ChecksumCRC32C) != "" && aws.ToString(out.ChecksumCRC32C) != aws.ToString(in.ChecksumCRC32C):
			return backoff.Permanent(fmt.Errorf("S3 acknowledged part %d with CRC32C %s, expected %s: %w", p.n, aws.ToString(out.ChecksumCRC32C), aws.ToString(in.ChecksumCRC32C), ErrVerify))
		case m == ChecksumCRC64NVME && aws.ToString(out.ChecksumCRC64NVME) != "" && aws.ToString(out.ChecksumCRC64NVME) != aws.ToString(in.ChecksumCRC64NVME):
			return backoff.Permanent(fmt.Errorf("S3 acknowledged part %d with CRC64NVME %s, expected %s: %w", p.n, aws.ToString(out.ChecksumCRC64NVME), aws.ToString(in.ChecksumCRC64NVME), ErrVerify))
		}
		cp = completedPart(m, p, aws.ToString(out.ETag))
		return nil
	})
	return cp, err
}

// complete finishes the upload. S3 may fail a CompleteMultipartUpload it has in
// fact carried out; a retry then meets NoSuchUpload, and the object itself decides.
func (u *Uploader) complete(ctx context.Context, job Job, uploadID string, parts []types.CompletedPart, res *Result, sums *fileSums) error {
	attempts := 0
	err := u.retry(ctx, call{op: "CompleteMultipartUpload", obs: job.Observer, timeout: u.completeTimeout(len(parts))}, func(actx context.Context) error {
		attempts++
		in := &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(job.Bucket),
			Key:             aws.String(job.Key),
			UploadId:        aws.String(uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		}
		if res.ChecksumMode == ChecksumCRC64NVME {
			in.ChecksumCRC64NVME, in.ChecksumType = aws.String(sums.FullCRC64()), types.ChecksumTypeFullObject
		}
		out, err := u.api.CompleteMultipartUpload(actx, in)
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

// payloadHash returns the client option that hands SigV4 the SHA-256 of the
// request body computed in the read pass (none when sum is nil). The signer
// reads and hashes the body only when no hash was set before it runs (SDK
// aws/signer/v4 ComputePayloadSHA256); the value goes into the signature and
// x-amz-content-sha256, so a body that differs from what was read is refused
// by S3 (XAmzContentSHA256Mismatch), as before. Over HTTPS it sets nothing:
// the client then sends UNSIGNED-PAYLOAD.
func payloadHash(sum []byte) []func(*s3.Options) {
	if sum == nil {
		return nil
	}
	h := hex.EncodeToString(sum)
	mw := middleware.FinalizeMiddlewareFunc("ckanupPayloadHash", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if req, ok := in.Request.(*smithyhttp.Request); ok && !req.IsHTTPS() {
			ctx = v4.SetPayloadHash(ctx, h)
		}
		return next.HandleFinalize(ctx, in)
	})
	return []func(*s3.Options){func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			// Right after the endpoint is resolved (the URL's scheme is
			// known), before the payload hash middleware.
			return st.Finalize.Insert(mw, "ResolveEndpointV2", middleware.After)
		})
	}}
}

// putVerified reports whether a PutObject answer shows that the store holds
// exactly the bytes of part p, so that no HEAD read-back is needed. Evidence,
// either of:
//   - an ETag of the plain MD5 form equal to the MD5 of the bytes read: the
//     store computed it from the bytes it received (S3 without SSE-KMS/SSE-C,
//     versitygw, MinIO and moto do); equal MD5s mean equal bytes, so equal size;
//   - where the ETag is not of the MD5 form (SSE-KMS), the CRC32C or CRC64NVME
//     the store reports having verified, equal to the one sent (S3 refuses a
//     body whose checksum differs: "Checking object integrity").
//
// An echoed checksum alone is not trusted beside an MD5-form ETag that differs
// (moto echoes the header it was sent without checking it; SSE-C gives an ETag
// of the same form that is not the MD5). Anything else — an answer without
// either, a different value — leaves the HEAD read-back to decide.
func putVerified(mode Checksum, out *s3.PutObjectOutput, p partSum) bool {
	if out == nil {
		return false
	}
	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	if looksLikeMD5ETag(etag) {
		return !strings.Contains(etag, "-") && p.md5 != nil && etag == hex.EncodeToString(p.md5)
	}
	switch mode {
	case ChecksumCRC32C:
		return aws.ToString(out.ChecksumCRC32C) == crcBase64(p.crc)
	case ChecksumCRC64NVME:
		return aws.ToString(out.ChecksumCRC64NVME) == crc64Base64(p.crc64)
	}
	return false
}

// verify reads the object's size and checksum back and compares them with what
// was read from the file.
func (u *Uploader) verify(ctx context.Context, job Job, res *Result, sums *fileSums) error {
	mode := res.ChecksumMode
	var out *s3.HeadObjectOutput
	err := u.retry(ctx, call{op: "HeadObject", obs: job.Observer, timeout: u.callTimeout()}, func(actx context.Context) error {
		in := &s3.HeadObjectInput{Bucket: aws.String(job.Bucket), Key: aws.String(job.Key)}
		if mode.headers() {
			in.ChecksumMode = types.ChecksumModeEnabled
		}
		var err error
		out, err = u.api.HeadObject(actx, in)
		return err
	})
	if err != nil {
		return fmt.Errorf("verify object: %w", err)
	}
	if got := aws.ToInt64(out.ContentLength); got != res.Size {
		return fmt.Errorf("object is %d bytes, file is %d: %w", got, res.Size, ErrVerify)
	}
	switch mode {
	case ChecksumCRC32C:
		if want, comparable := expectedCRC(out, sums, res.Parts > 1 || res.UploadID != ""); comparable {
			if got := aws.ToString(out.ChecksumCRC32C); got != want {
				return fmt.Errorf("object CRC32C is %s, file's is %s: %w", got, want, ErrVerify)
			}
		}
	case ChecksumCRC64NVME:
		if got := aws.ToString(out.ChecksumCRC64NVME); got != "" && got != sums.FullCRC64() {
			return fmt.Errorf("object CRC64NVME is %s, file's is %s: %w", got, sums.FullCRC64(), ErrVerify)
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
	me.AbortErr = u.retry(actx, call{op: "AbortMultipartUpload", obs: job.Observer, timeout: u.callTimeout()}, func(c context.Context) error {
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

// acquire runs fn holding one of the shared request slots; when fn
// succeeds, S3 acknowledged n bytes.
func (u *Uploader) acquire(ctx context.Context, n int64, fn func(slot) error) error {
	s, err := u.pool.acquire(ctx)
	if err != nil {
		return err
	}
	err = fn(s)
	u.pool.release(s, n, err == nil)
	return err
}

// call describes one S3 request for retry.
type call struct {
	op      string
	part    int // 0 when not about a part
	obs     Observer
	timeout time.Duration // per attempt
	// recheck, when set, runs after a digest error before any retry; its
	// error (a changed source) ends the retries.
	recheck func(context.Context) error
	// slot is the request's place in the pool (zero for requests outside it),
	// told when the store throttles it.
	slot slot
}

// errSendAgain asks retry to send the request again at once, without counting
// an attempt (the checksum mode changed).
type errSendAgain struct{ err error }

func (e errSendAgain) Error() string { return e.err.Error() }
func (e errSendAgain) Unwrap() error { return e.err }

// retry runs fn until it succeeds, fails permanently, or the attempts or the
// retry time run out. Each attempt gets its own timeout. Failures are read by
// Classify; on top of it: expired credentials are refreshed once, a refusal a
// skewed clock explains is retried once at once (the SDK has learnt the
// server's time from the Date header and signs with it), a digest error
// re-checks the source first.
func (u *Uploader) retry(ctx context.Context, c call, fn func(context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = u.opts.InitialInterval
	b.MaxInterval = u.opts.MaxInterval
	b.MaxElapsedTime = u.opts.MaxRetryTime
	b.RandomizationFactor = 0.5
	policy := backoff.WithContext(backoff.WithMaxRetries(b, uint64(u.opts.MaxAttempts-1)), ctx)
	attempt := 0
	refreshed, skewRetried := false, false
	var last error
	once := func() error {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		err := fn(actx)
		if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", c.timeout, err)
		}
		return err
	}
	err := backoff.RetryNotify(func() error {
		attempt++
		err := once()
		for tries := 0; tries < 3 && err != nil; tries++ {
			var again errSendAgain
			if errors.As(err, &again) { // the checksum mode changed: send it in the new one
				err = once()
				continue
			}
			if _, ok := responseSkew(err, u.now()); ok && !skewRetried && ctx.Err() == nil {
				skewRetried = true
				err = once()
				continue
			}
			break
		}
		var again errSendAgain
		if errors.As(err, &again) {
			err = again.err
		}
		if err == nil {
			return nil
		}
		last = err
		if throttling(err) {
			u.pool.throttled(c.slot)
		}
		var pe *backoff.PermanentError
		if errors.As(err, &pe) {
			return err
		}
		if skew, ok := responseSkew(err, u.now()); ok {
			return backoff.Permanent(&ClockSkewError{Skew: skew, Err: err})
		}
		if credentialsExpired(err) && u.opts.RefreshCredentials != nil && !refreshed && ctx.Err() == nil {
			refreshed = true
			u.opts.RefreshCredentials()
			return fmt.Errorf("credentials refused, fetching fresh ones: %w", err)
		}
		if digestMismatch(err) && c.recheck != nil {
			if rerr := c.recheck(ctx); rerr != nil {
				return backoff.Permanent(fmt.Errorf("%w (S3 answered %s)", rerr, APICode(err)))
			}
		}
		if ctx.Err() != nil || Classify(err) != KindTemporary {
			return backoff.Permanent(Explain(err))
		}
		return err
	}, policy, func(err error, d time.Duration) {
		if c.obs != nil {
			c.obs.Retrying(RetryEvent{Op: c.op, Part: c.part, Attempt: attempt, Delay: d, Err: err})
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

// errMessage is the message of the S3 error behind err, or "".
func errMessage(err error) string {
	var ae interface{ ErrorMessage() string }
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}
