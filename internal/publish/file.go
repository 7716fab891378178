package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/upload"
)

// One publishes one planned file: it refuses a resource another extension
// serves (DataStore, url_type other than "" or "upload"); chooses a free id
// for a new resource (see claimID); skips a file only when the resource
// already points at the object this run would write and that object holds the
// file (see skipOrWhy); registers an object an earlier run uploaded but did not
// register; resumes an interrupted multipart upload recorded in the journal;
// otherwise uploads the file; then registers the verified object and reads the
// registration back. The record's Err says what failed and, with a hint, what
// to do; its Reason says why the file was skipped or sent.
func (p *Publisher) One(ctx context.Context, it *Item) *Record {
	st, rec := p.stage(ctx, it)
	if st == nil {
		return rec
	}
	p.registerAll(ctx, []*staged{st})
	return st.rec
}

// staged is a file whose object is in place and verified, waiting for its
// registration.
type staged struct {
	it    *Item
	rec   *Record
	res   *upload.Result
	prog  Progress
	start time.Time
	// verified is when the file was ready to register.
	verified time.Time
	// after runs once the registration is decided (journal clean-up, unlock).
	after func(registered bool)
}

// end finishes the record: status or error, duration, display, and the
// object's key and URL, which a staged file's record does not hold while it
// waits (of 1,000 files waiting for registration, they were a third of the
// memory the records took).
func (p *Publisher) end(st *staged, status string, err error) {
	if st.rec.Key == "" {
		st.rec.Key, st.rec.URL = st.it.Key(), p.objectURL(st.it)
	}
	switch {
	case errors.Is(err, context.Canceled):
		st.rec.Status, st.rec.Err = StatusInterrupted, interrupted(err, true)
	case err != nil:
		st.rec.Status, st.rec.Err = StatusFailed, err
	default:
		st.rec.Status = status
	}
	if st.after != nil {
		st.after(err == nil)
	}
	st.rec.Duration = p.o.Now().Sub(st.start).Seconds()
	st.prog.Finish(st.rec.Status)
}

// stage does everything but the registration. It returns the staged file, or
// nil and the final record when the file is finished (skipped or failed).
func (p *Publisher) stage(ctx context.Context, it *Item) (*staged, *Record) {
	start := p.o.Now()
	prog := p.o.Events.Track(it.File.Name, it.File.Size)
	st := &staged{it: it, prog: prog, start: start}
	done := func(status string, err error) (*staged, *Record) {
		if st.rec == nil {
			st.rec = p.Record(it)
		}
		p.end(st, status, err)
		return nil, st.rec
	}
	if err := p.refuseManaged(it); err != nil {
		return done("", err)
	}
	if it.Resource == nil && p.o.ResourceID == "" {
		if err := p.claimID(ctx, it); err != nil {
			return done("", err)
		}
	}
	rec := p.unplacedRecord(it) // end adds the key and URL
	st.rec = rec
	fail := func(err error) (*staged, *Record) { return done("", err) }

	if it.File.Path == StdinPath {
		res, err := p.o.Uploader.UploadStream(ctx, p.o.Stdin, upload.Job{Bucket: p.o.Target.Bucket, Key: it.Key(),
			ContentType: it.File.Mimetype, Observer: prog, Metadata: p.objectMetadata(it)})
		if err != nil {
			return fail(p.explainS3(err))
		}
		st.res = res
		p.fill(rec, res)
		return st, nil
	}

	// ListPrefix: the look for an earlier upload lists the dataset's prefix
	// once per run instead of a HEAD per new file (upload.Uploader.Match).
	job := upload.Job{
		Path: it.File.Path, Bucket: p.o.Target.Bucket, Key: it.Key(), ContentType: it.File.Mimetype, Observer: prog,
		Metadata: p.objectMetadata(it), ListPrefix: p.o.Target.DatasetPrefix,
	}
	if it.Resource != nil && !p.o.Force {
		res, why, err := p.skipOrWhy(ctx, it, job)
		if err != nil {
			return fail(err)
		}
		if res != nil {
			rec.SHA256, rec.Size, rec.Reason = res.SHA256, res.Size, why
			p.o.Events.Logf("%s: skipped: %s", it.File.Path, why)
			return done(StatusSkipped, nil)
		}
		rec.Reason = why
		p.o.Events.Logf("%s: %s", it.File.Path, why)
	}

	var jr *journalRecorder
	if it.Plan.Multipart && p.o.Journal != nil {
		state, err := journal.StateOf(it.File.Path)
		if err != nil {
			return fail(fmt.Errorf("read %s: %w", it.File.Path, err))
		}
		lock, entry, err := p.openEntry(ctx, it, state)
		if err != nil {
			return fail(err)
		}
		if entry == nil {
			entry = &journal.Entry{Site: p.o.CKAN.SiteURL(), DatasetID: p.o.Dataset.ID, DatasetName: p.o.Dataset.Name,
				ResourceID: it.ResourceID, ResourceName: it.File.Name, Bucket: p.o.Target.Bucket, Key: it.Key(),
				Endpoint: p.o.Target.Endpoint, File: state, Args: p.o.Args, Dir: workDir(), Started: p.o.Now().UTC()}
		} else if !entry.Completed {
			job.Resume = resumeOf(entry)
			job.Resume.Listed = func(parts int, bytes int64) {
				// What S3's ListParts found, not the journal: a part whose answer the
				// interrupted run never heard is in S3 and will be kept.
				p.o.Events.Notef("%s: resuming the interrupted upload %s (%s)", it.File.Path, entry.UploadID, describeHeld(parts, bytes))
			}
		}
		jr = &journalRecorder{st: p.o.Journal, id: journal.ID(p.o.CKAN.SiteURL(), p.o.Dataset.ID, state.Path), e: entry, now: p.o.Now}
		job.Recorder = jr
		st.after = func(registered bool) {
			if registered {
				if err := p.o.Journal.Delete(jr.id); err != nil {
					p.o.Events.Notef("%s: %v", it.File.Path, err)
				}
			}
			lock.Unlock()
		}
	}
	if it.Plan.Multipart && job.Resume == nil && (jr == nil || !jr.e.Completed) {
		job.Resume = p.openUploadInStore(ctx, it)
	}

	var res *upload.Result
	found, err := false, error(nil)
	if job.Resume == nil && !p.o.Force { // --force sends the bytes again, whatever S3 holds
		res, found, err = p.o.Uploader.Match(ctx, job)
		if found {
			// Nothing is sent: no Transferred, so progress and the summary count only bytes that went out.
			p.o.Events.Logf("%s: s3://%s/%s already holds this file; registering it without uploading", it.File.Path, res.Bucket, res.Key)
		}
	}
	if err == nil && !found {
		res, err = p.o.Uploader.Upload(ctx, job)
		if errors.Is(err, upload.ErrUploadGone) {
			p.o.Events.Notef("%s: %v (aborted by a bucket lifecycle rule or by hand); starting afresh", it.File.Path, err)
			job.Resume = nil
			res, err = p.o.Uploader.Upload(ctx, job)
		}
	}
	if jr != nil {
		if ferr := jr.flush(); ferr != nil {
			p.o.Events.Notef("%s: could not write the upload journal: %v", it.File.Path, ferr)
		}
	}
	if err != nil {
		if me, ok := errorsAsMultipart(err); ok && !me.Aborted && me.AbortErr == nil {
			err, h := p.explainS3(err), "the upload is kept: run the same command again to resume it: "+ResumeCommand(p.o.Args)
			if first := hint.Of(err); first != "" {
				h = first + "; " + h
			}
			return fail(hint.With(err, h))
		}
		if jr != nil {
			_ = p.o.Journal.Delete(jr.id)
		}
		return fail(p.explainS3(err))
	}
	st.res = res
	p.fill(rec, res)
	return st, nil
}

// fill copies a verified object's facts into its record.
func (p *Publisher) fill(rec *Record, res *upload.Result) {
	rec.Uploaded = !res.Reused
	rec.Size, rec.SHA256, rec.Parts, rec.PartSize, rec.Checksum = res.Size, res.SHA256, res.Parts, res.PartSize, string(res.ChecksumMode)
}

func (p *Publisher) objectMetadata(it *Item) map[string]string {
	return map[string]string{
		"ckan-site":        p.o.CKAN.SiteURL(),
		"ckan-dataset-id":  p.o.Dataset.ID,
		"ckan-resource-id": it.ResourceID,
		"ckan-user":        p.o.User,
	}
}

// explainS3 adds what to do to the S3 errors a person can fix (ExplainS3).
func (p *Publisher) explainS3(err error) error { return ExplainS3(p.o.Target, err) }

// openUploadInStore looks in S3 itself, through Options.FindUploads, for a
// multipart upload of the item's key that no journal here knows of (a pod or
// CI runner restarted with an empty state directory). The key is
// deterministic, so such an upload belongs to this file's resource; its parts
// are reused only where S3's CRC32C of a part equals the local bytes' (the
// engine checks each one), so a different file's parts are never kept. The
// newest upload is resumed; others are reported. It returns nil when there is
// nothing to resume, when Force is set, or when listing is not allowed.
func (p *Publisher) openUploadInStore(ctx context.Context, it *Item) *upload.Resume {
	if p.o.FindUploads == nil || p.o.Force {
		return nil
	}
	open, err := p.o.FindUploads(ctx, it.Key())
	if err != nil {
		p.o.Events.Logf("%s: could not look for an interrupted upload in S3: %v", it.File.Path, err)
		return nil
	}
	var newest *OpenUpload
	others := 0
	for i := range open {
		u := &open[i]
		if u.Key != it.Key() {
			continue
		}
		if newest != nil {
			others++
			if !u.Initiated.After(newest.Initiated) {
				continue
			}
		}
		newest = u
	}
	if newest == nil {
		return nil
	}
	if others > 0 {
		p.o.Events.Notef("%s: %d older multipart upload(s) of the same object are open: see `ckanup uploads list`", it.File.Path, others)
	}
	return &upload.Resume{UploadID: newest.UploadID, PartSize: it.Plan.PartSize, Known: map[int]upload.KnownPart{},
		Listed: func(parts int, bytes int64) {
			p.o.Events.Notef("%s: resuming multipart upload %s found in S3 (started %s; %s); parts whose checksum matches the file are kept",
				it.File.Path, newest.UploadID, newest.Initiated.UTC().Format(time.RFC3339), describeHeld(parts, bytes))
		}}
}
