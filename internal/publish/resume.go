package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/upload"
)

// journalRecorder writes an upload's progress to its journal entry: at once when
// the upload is created or completed, and at most once a second as parts finish
// (S3 is the truth on resume; the journal only has to be close).
type journalRecorder struct {
	mu    sync.Mutex
	st    *journal.Store
	id    string
	e     *journal.Entry
	now   func() time.Time
	dirty bool
	last  time.Time
	err   error
}

func (j *journalRecorder) save() {
	now := j.now()
	j.e.Updated = now.UTC()
	if err := j.st.Save(j.id, j.e); err != nil && j.err == nil {
		j.err = err
	}
	j.dirty, j.last = false, now
}

func (j *journalRecorder) Created(uploadID string, partSize int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.e.UploadID != uploadID {
		j.e.Parts = nil
		j.e.Completed = false
		j.e.Started = j.now().UTC()
	}
	j.e.UploadID, j.e.PartSize = uploadID, partSize
	j.save()
}

// ChecksumMode keeps the upload's checksum mode, so a resume sends its parts alike.
func (j *journalRecorder) ChecksumMode(c upload.Checksum) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.e.Checksum = string(c)
	j.save()
}

func (j *journalRecorder) PartDone(n int, size int64, etag, crc string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := journal.Part{Number: n, Size: size, ETag: etag, CRC32C: crc}
	replaced := false
	for i := range j.e.Parts {
		if j.e.Parts[i].Number == n {
			j.e.Parts[i], replaced = p, true
		}
	}
	if !replaced {
		j.e.Parts = append(j.e.Parts, p)
	}
	j.dirty = true
	if j.now().Sub(j.last) >= time.Second {
		j.save()
	}
}

func (j *journalRecorder) Completed() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.e.Completed = true
	j.save()
}

// flush writes what is not yet written.
func (j *journalRecorder) flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dirty {
		j.save()
	}
	return j.err
}

func resumeOf(e *journal.Entry) *upload.Resume {
	r := &upload.Resume{UploadID: e.UploadID, PartSize: e.PartSize, Checksum: upload.Checksum(e.Checksum), Known: map[int]upload.KnownPart{}}
	for _, p := range e.Parts {
		r.Known[p.Number] = upload.KnownPart{Size: p.Size, ETag: p.ETag, CRC32C: p.CRC32C}
	}
	return r
}

// Aborter is the S3 call that aborts a multipart upload.
type Aborter interface {
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// AbortUpload aborts a multipart upload, with a context that outlives ctx's
// cancellation (a clean-up after Ctrl-C must still run) and a one-minute
// timeout. An upload that is already gone (NoSuchUpload) is not an error.
func AbortUpload(ctx context.Context, api Aborter, bucket, key, uploadID string) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err := api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
	if upload.APICode(err) == "NoSuchUpload" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("abort multipart upload %s of s3://%s/%s: %w", uploadID, bucket, key, err)
	}
	return nil
}

// openEntry takes the journal lock of a file's upload and loads what an earlier
// run left: an upload to resume, or nothing. An entry that no longer fits (file
// changed, different target) is aborted and dropped, saying so.
func (p *Publisher) openEntry(ctx context.Context, it *Item, state journal.FileState) (*journal.Lock, *journal.Entry, error) {
	id := journal.ID(p.o.CKAN.SiteURL(), p.o.Dataset.ID, state.Path)
	lock, err := p.o.Journal.Lock(id)
	if errors.Is(err, journal.ErrBusy) {
		return nil, nil, hint.With(err, "wait for it to finish, or stop it; its journal is in "+p.o.JournalDir)
	}
	if err != nil {
		return nil, nil, err
	}
	e, err := p.o.Journal.Load(id)
	if err != nil {
		p.o.Events.Notef("%s: %v; starting afresh (an upload it recorded may be left in S3: see `ckanup uploads list`)", it.File.Path, err)
		return lock, nil, nil
	}
	if e == nil {
		return lock, nil, nil
	}
	t := p.o.Target
	why := state.Changed(e.File)
	if why == "" && (e.Bucket != t.Bucket || e.Key != it.Key() || e.Endpoint != t.Endpoint) {
		why = "it now goes to another object"
	}
	if why == "" && e.Completed {
		return lock, e, nil // only the registration is left
	}
	if why != "" {
		p.o.Events.Notef("%s: %s since the interrupted upload %s; aborting that upload and starting afresh", it.File.Path, why, e.UploadID)
		if e.Bucket == t.Bucket && e.Endpoint == t.Endpoint {
			if err := AbortUpload(ctx, p.o.S3, e.Bucket, e.Key, e.UploadID); err != nil {
				p.o.Events.Notef("%s: could not abort: %v (see `ckanup uploads list`)", it.File.Path, err)
			}
		}
		if err := p.o.Journal.Delete(id); err != nil {
			lock.Unlock()
			return nil, nil, err
		}
		return lock, nil, nil
	}
	return lock, e, nil
}

// ResumeCommand is the command line that resumes a run, quoted for a POSIX
// shell; args are the arguments after "ckanup".
func ResumeCommand(args []string) string {
	q := make([]string, 0, len(args)+1)
	q = append(q, "ckanup")
	for _, a := range args {
		q = append(q, shellQuote(a))
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// describeHeld says what S3's ListParts reported an upload to resume holds.
func describeHeld(parts int, bytes int64) string {
	unit := "parts"
	if parts == 1 {
		unit = "part"
	}
	return fmt.Sprintf("%d %s, %s already in S3", parts, unit, upload.FormatSize(bytes))
}

// workDir is the process's working directory, "" when it cannot be read.
func workDir() string {
	d, err := os.Getwd()
	if err != nil {
		return ""
	}
	return d
}
