package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/upload"
)

// One publishes one planned file: it skips a file the resource already
// describes (same size and sha256) unless Force; registers an object an earlier
// run uploaded but did not register; resumes an interrupted multipart upload
// recorded in the journal; otherwise uploads the file; then registers the
// verified object. The record's Err says what failed and, with a hint, what to
// do.
func (p *Publisher) One(ctx context.Context, it *Item) *Record {
	rec := p.Record(it)
	start := p.o.Now()
	prog := p.o.Events.Track(it.File.Name, it.File.Size)
	defer func() {
		rec.Duration = p.o.Now().Sub(start).Seconds()
		prog.Finish(rec.Status)
	}()
	fail := func(err error) *Record {
		rec.Status, rec.Err = StatusFailed, err
		return rec
	}

	if it.File.Path == StdinPath {
		res, err := p.o.Uploader.UploadStream(ctx, p.o.Stdin, upload.Job{Bucket: p.o.Target.Bucket, Key: it.Key,
			ContentType: it.Mimetype, Observer: prog, Metadata: p.objectMetadata(it)})
		if err != nil {
			return fail(p.explainS3(err))
		}
		return p.registered(ctx, it, rec, res)
	}
	if it.Resource != nil && !p.o.Force {
		sum, same, err := sameAsResource(ctx, it.File.Path, it.Resource)
		if err != nil {
			return fail(err)
		}
		if same {
			rec.Status, rec.SHA256 = StatusSkipped, sum
			return rec
		}
	}

	job := upload.Job{
		Path: it.File.Path, Bucket: p.o.Target.Bucket, Key: it.Key, ContentType: it.Mimetype, Observer: prog,
		Metadata: p.objectMetadata(it),
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
		defer lock.Unlock()
		if entry == nil {
			entry = &journal.Entry{Site: p.o.CKAN.SiteURL(), DatasetID: p.o.Dataset.ID, DatasetName: p.o.Dataset.Name,
				ResourceID: it.ResourceID, ResourceName: it.File.Name, Bucket: p.o.Target.Bucket, Key: it.Key,
				Endpoint: p.o.Target.Endpoint, File: state, Args: p.o.Args, Started: p.o.Now().UTC()}
		} else if !entry.Completed {
			job.Resume = resumeOf(entry)
			p.o.Events.Notef("%s: resuming the interrupted upload %s (%s)", it.File.Path, entry.UploadID, describeEntry(entry))
		}
		jr = &journalRecorder{st: p.o.Journal, id: journal.ID(p.o.CKAN.SiteURL(), p.o.Dataset.ID, state.Path), e: entry, now: p.o.Now}
		job.Recorder = jr
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
			return fail(hint.With(p.explainS3(err), "the upload is kept: run the same command again to resume it: "+ResumeCommand(p.o.Args)))
		}
		if jr != nil {
			_ = p.o.Journal.Delete(jr.id)
		}
		return fail(p.explainS3(err))
	}
	rec = p.registered(ctx, it, rec, res)
	if rec.Err == nil && jr != nil {
		if err := p.o.Journal.Delete(jr.id); err != nil {
			p.o.Events.Notef("%s: %v", it.File.Path, err)
		}
	}
	return rec
}

// registered registers a verified object and fills in the record.
func (p *Publisher) registered(ctx context.Context, it *Item, rec *Record, res *upload.Result) *Record {
	rec.Uploaded = !res.Reused
	rec.Size, rec.SHA256, rec.Parts, rec.PartSize = res.Size, res.SHA256, res.Parts, res.PartSize
	status, err := p.register(ctx, it, res)
	if err != nil {
		rec.Status = StatusFailed
		rec.Err = hint.With(fmt.Errorf("uploaded to s3://%s/%s, but registering it in CKAN failed: %w", res.Bucket, res.Key, err),
			"the object is in place: re-run the same command to register it without uploading again")
		return rec
	}
	rec.Status = status
	return rec
}

func (p *Publisher) objectMetadata(it *Item) map[string]string {
	return map[string]string{
		"ckan-site":        p.o.CKAN.SiteURL(),
		"ckan-dataset-id":  p.o.Dataset.ID,
		"ckan-resource-id": it.ResourceID,
		"ckan-user":        p.o.User,
	}
}

// sameAsResource says whether the resource already describes exactly this file:
// same size and the same "sha256:" hash. The file is hashed only when the sizes
// agree, and the read stops on ctx's cancellation (upload.HashFile).
func sameAsResource(ctx context.Context, path string, res *ckan.Resource) (string, bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false, err
	}
	want, isSHA := strings.CutPrefix(res.Hash, "sha256:")
	if res.Size == nil || *res.Size != fi.Size() || !isSHA {
		return "", false, nil
	}
	sum, _, err := upload.HashFile(ctx, path)
	if err != nil {
		return "", false, err
	}
	return sum, strings.EqualFold(sum, want), nil
}

// register creates or updates the resource. Registrations into a dataset are
// serialised: CKAN before 2.9.6 lost resources created concurrently.
func (p *Publisher) register(ctx context.Context, it *Item, res *upload.Result) (string, error) {
	fields := map[string]any{
		"name":          it.File.Name,
		"url":           it.URL,
		"format":        it.Format,
		"mimetype":      it.Mimetype,
		"size":          res.Size,
		"hash":          "sha256:" + res.SHA256,
		"last_modified": p.o.Now().UTC().Format("2006-01-02T15:04:05"),
		"s3_bucket":     res.Bucket,
		"s3_key":        res.Key,
	}
	if it.Description != "" {
		fields["description"] = it.Description
	}
	fields["id"] = it.ResourceID
	p.regMu.Lock()
	defer p.regMu.Unlock()
	if it.Resource != nil {
		if _, err := p.o.CKAN.ResourcePatch(ctx, fields); err != nil {
			return "", fmt.Errorf("resource_patch %s: %w", it.ResourceID, err)
		}
		return StatusUpdated, nil
	}
	fields["package_id"] = p.o.Dataset.ID
	if _, err := p.o.CKAN.ResourceCreate(ctx, fields); err != nil {
		return "", fmt.Errorf("resource_create %s: %w", it.ResourceID, err)
	}
	return StatusCreated, nil
}

// explainS3 adds what to do to the S3 errors a person can fix.
func (p *Publisher) explainS3(err error) error {
	t := p.o.Target
	switch {
	case upload.APICode(err) == "NoSuchBucket":
		return hint.With(err, fmt.Sprintf("bucket %q does not exist there: check --bucket / CKANUP_BUCKET and the region or endpoint", t.Bucket))
	case upload.IsAccessDenied(err):
		return hint.With(err, fmt.Sprintf("the AWS credentials were refused for s3://%s/%s: check them, their permissions and the bucket policy", t.Bucket, t.KeyPrefix))
	case errors.Is(err, upload.ErrSourceChanged):
		return hint.With(err, "nothing was registered; upload the file again once it is no longer being written")
	}
	return err
}

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
	open, err := p.o.FindUploads(ctx, it.Key)
	if err != nil {
		p.o.Events.Logf("%s: could not look for an interrupted upload in S3: %v", it.File.Path, err)
		return nil
	}
	var newest *OpenUpload
	others := 0
	for i := range open {
		u := &open[i]
		if u.Key != it.Key {
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
	p.o.Events.Notef("%s: resuming multipart upload %s found in S3 (started %s); parts whose checksum matches the file are kept",
		it.File.Path, newest.UploadID, newest.Initiated.UTC().Format(time.RFC3339))
	if others > 0 {
		p.o.Events.Notef("%s: %d older multipart upload(s) of the same object are open: see `ckanup uploads list`", it.File.Path, others)
	}
	return &upload.Resume{UploadID: newest.UploadID, PartSize: it.Plan.PartSize, Known: map[int]upload.KnownPart{}}
}
