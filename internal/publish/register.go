package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/hint"
)

// Registration: every verified object becomes a resource, then CKAN's answer
// is read back and compared with what was sent.
//
// Several files are registered in one package_revise call (CKAN ≥ 2.9) when
// Run has more than one waiting: CKAN revalidates and rewrites the whole
// dataset on every resource_create, so one call per file costs more the larger
// the dataset. package_revise runs in one transaction. When it fails, the
// dataset is read again to tell which files CKAN holds as sent; the others
// are registered one at a time (resource_create / resource_patch) when CKAN
// refused the batch or lacks the action, or fail with a message naming the
// batch when CKAN could not be reached. Nothing is registered before its
// object is verified, and ids are chosen before the upload (claimID).

// fields are the resource fields ckanup sets. url_type is always sent, empty:
// ckanup owns what url means (CKAN serves a url_type "upload" resource from
// its own storage, whatever url says).
func (p *Publisher) fields(st *staged) ckan.ResourceFields {
	it, res := st.it, st.res
	size := res.Size
	return ckan.ResourceFields{
		ID: it.ResourceID, Name: it.File.Name, URL: p.objectURL(it), URLType: "",
		Description: it.File.Description, Format: it.File.Format, Mimetype: it.File.Mimetype,
		Size: &size, Hash: "sha256:" + res.SHA256,
		LastModified: p.o.Now().UTC().Format("2006-01-02T15:04:05"),
		S3Bucket:     res.Bucket, S3Key: res.Key,
	}
}

// registerAll registers staged files and ends each record. More than one file
// goes in one package_revise call unless the portal has shown it cannot
// take one.
func (p *Publisher) registerAll(ctx context.Context, sts []*staged) {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	if len(sts) > 1 && !p.noRevise.Load() {
		sts = p.revise(ctx, sts)
	}
	for _, st := range sts {
		status, err := p.registerOne(ctx, st)
		p.end(st, status, p.explainRegistration(st, err))
	}
}

// registerOne creates or updates one resource and checks CKAN's answer.
func (p *Publisher) registerOne(ctx context.Context, st *staged) (string, error) {
	f := p.fields(st)
	if st.it.Resource != nil {
		got, err := p.o.CKAN.ResourcePatchFields(ctx, f)
		if err != nil {
			return "", fmt.Errorf("resource_patch %s: %w", st.it.ResourceID, err)
		}
		return StatusUpdated, p.readBack(st, got)
	}
	f.PackageID = p.o.Dataset.ID
	got, err := p.o.CKAN.ResourceCreateFields(ctx, f)
	if err != nil {
		return "", fmt.Errorf("resource_create %s: %w", st.it.ResourceID, err)
	}
	return StatusCreated, p.readBack(st, got)
}

// revise registers sts in one package_revise call and ends the records it
// settles; it returns those left to register one at a time.
func (p *Publisher) revise(ctx context.Context, sts []*staged) []*staged {
	rev := ckan.Revision{Dataset: p.o.Dataset.ID}
	for _, st := range sts {
		if st.it.Resource != nil {
			rev.Update = append(rev.Update, p.fields(st))
		} else {
			rev.Add = append(rev.Add, p.fields(st))
		}
	}
	p.o.Events.Logf("registering %d files in one package_revise call", len(sts))
	d, err := p.o.CKAN.PackageRevise(ctx, rev)
	if err == nil {
		p.settle(sts, d, nil)
		return nil
	}
	if ckan.IsTooLarge(err) && len(sts) > 1 {
		// Refused before CKAN saw it: send it in halves, and no more than a
		// half at once from now on.
		half := len(sts) / 2
		p.batchSize.Store(int64(half))
		p.o.Events.Logf("package_revise with %d files was refused as too large (HTTP 413); sending %d at a time", len(sts), half)
		return append(p.revise(ctx, sts[:half]), p.revise(ctx, sts[half:])...)
	}
	if errors.Is(err, ckan.ErrActionMissing) || ckan.IsForbidden(err) {
		if !p.noRevise.Swap(true) {
			p.o.Events.Notef("CKAN did not take package_revise (%v); registering one file at a time", err)
		}
		return sts
	}
	// One transaction: CKAN saved all of them or none, but an answer lost on
	// the way back leaves which one unknown. Ask.
	d, serr := p.o.CKAN.PackageShow(ctx, p.o.Dataset.ID)
	if serr != nil {
		names := make([]string, len(sts))
		for i, st := range sts {
			names[i] = st.it.File.Path
		}
		for _, st := range sts {
			p.end(st, "", hint.With(fmt.Errorf("uploaded to s3://%s/%s, but registering it in CKAN failed with %d other files in one package_revise call (%s), and reading the dataset back failed too (%v): %w",
				st.res.Bucket, st.res.Key, len(sts)-1, strings.Join(names, ", "), serr, err),
				"the objects are in place: re-run the same command to register them without uploading again"))
		}
		return nil
	}
	left := p.settle(sts, d, err)
	if len(left) > 0 && ckan.IsTemporary(err) {
		for _, st := range left {
			p.end(st, "", p.explainRegistration(st, fmt.Errorf("package_revise with %d files: %w (CKAN saved none of them)", len(left), err)))
		}
		return nil
	}
	if len(left) > 0 {
		p.o.Events.Logf("package_revise refused the batch (%v); registering its %d files one at a time", err, len(left))
	}
	return left
}

// settle ends the records of the files dataset d holds as they were sent
// (status created or updated). With reviseErr nil, every file must be there:
// one that is not, or differs, fails the read-back. With reviseErr set, the
// files not there are returned.
func (p *Publisher) settle(sts []*staged, d *ckan.Dataset, reviseErr error) []*staged {
	byID := make(map[string]*ckan.Resource, len(d.Resources))
	for i := range d.Resources {
		byID[d.Resources[i].ID] = &d.Resources[i]
	}
	var left []*staged
	for _, st := range sts {
		status := StatusCreated
		if st.it.Resource != nil {
			status = StatusUpdated
		}
		got := byID[st.it.ResourceID]
		if reviseErr != nil && (got == nil || p.readBack(st, got) != nil) {
			left = append(left, st)
			continue
		}
		if got == nil {
			p.end(st, "", p.explainRegistration(st, failure.Wrap(failure.Config,
				fmt.Errorf("package_revise answered without resource %s", st.it.ResourceID))))
			continue
		}
		p.end(st, status, p.explainRegistration(st, p.readBack(st, got)))
	}
	return left
}

// readBack compares what CKAN holds with what was sent: url, size and hash.
// A difference is a failure.Config error: something on the portal (an
// extension, a setting) rewrites the fields, and running again will not help.
func (p *Publisher) readBack(st *staged, got *ckan.Resource) error {
	want := "sha256:" + st.res.SHA256
	url := p.objectURL(st.it)
	var diffs []string
	if got.URL != url {
		diffs = append(diffs, fmt.Sprintf("url %q (sent %q)", got.URL, url))
	}
	if got.Size == nil || *got.Size != st.res.Size {
		size := "none"
		if got.Size != nil {
			size = fmt.Sprint(*got.Size)
		}
		diffs = append(diffs, fmt.Sprintf("size %s (sent %d)", size, st.res.Size))
	}
	if !strings.EqualFold(got.Hash, want) {
		diffs = append(diffs, fmt.Sprintf("hash %q (sent %q)", got.Hash, want))
	}
	if len(diffs) == 0 {
		return nil
	}
	err := failure.Wrap(failure.Config, fmt.Errorf("%w: CKAN reports %s for resource %s", ErrReadBack, strings.Join(diffs, ", "), st.it.ResourceID))
	return hint.With(err, "a CKAN extension or setting rewrites these fields (url_type "+fmt.Sprintf("%q", got.URLType)+"): the resource does not serve this object; ask the portal's administrators, or publish to another resource (--name)")
}

// ErrReadBack means CKAN holds other values than ckanup registered.
var ErrReadBack = fmt.Errorf("the resource read back differs from what was registered")

// explainRegistration wraps a registration error with where the object is.
func (p *Publisher) explainRegistration(st *staged, err error) error {
	if err == nil {
		return nil
	}
	what := "registering it in CKAN failed"
	if hint.Of(err) != "" { // readBack and the like carry their own advice
		return fmt.Errorf("uploaded to s3://%s/%s, but %s: %w", st.res.Bucket, st.res.Key, what, err)
	}
	h := "the object is in place: re-run the same command to register it without uploading again"
	if !ckan.IsTemporary(err) {
		h = "the object is in place; once the cause is fixed, re-run the same command to register it without uploading again"
	}
	return hint.With(fmt.Errorf("uploaded to s3://%s/%s, but %s: %w", st.res.Bucket, st.res.Key, what, err), h)
}
