package publish

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/scope"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/google/uuid"
)

// Which resource a file may write to, and when it may be skipped.
//
// ckanup writes only to the resource the person named: the one given with
// --resource-id, the dataset's live resource of the file's name, or a new
// resource whose id no resource on the site holds (claimID). It owns the
// fields that decide what a resource's url means (url_type is sent empty), so
// it does not take over a resource another extension serves (refuseManaged).

// maxDerivedIDs bounds the candidate ids claimID tries for one name.
const maxDerivedIDs = 16

// candidateID is the n-th candidate id (n ≥ 1) for a new resource: n = 1 is
// DerivedResourceID; later ones add "#n" to what is hashed.
func candidateID(site, datasetID, name string, n int) string {
	if n == 1 {
		return DerivedResourceID(site, datasetID, name)
	}
	return uuid.NewSHA1(resourceNamespace, fmt.Appendf(nil, "%s\n%s\n%s\n#%d", site, datasetID, name, n)).String()
}

// ResourceShower is the CKAN call that tells whether a resource id is held;
// *ckan.Client satisfies it.
type ResourceShower interface {
	ResourceShow(ctx context.Context, id string) (*ckan.Resource, error)
}

// NewResourceID chooses the id of a new resource named name in dataset d on
// site: the first candidate id (see candidateID) that neither the dataset nor
// the site holds. CKAN resource ids are global, and resource_create or
// package_revise with an id that exists anywhere (a resource renamed in this
// dataset, one in another dataset, a deleted one still in the database)
// silently saves onto that resource and moves it here. So each candidate is
// checked with resource_show, and only an id CKAN answers a plain "Not found"
// for is used (ckan.IsResourceAbsent). The choice is deterministic: a re-run
// after a failed registration claims the same id again. why, when non-nil,
// hears each candidate passed over. Errors: a failure.Config error when no
// candidate is free, or the resource_show error when CKAN cannot say.
func NewResourceID(ctx context.Context, c ResourceShower, site string, d *ckan.Dataset, name string, why func(id, reason string)) (string, error) {
	if why == nil {
		why = func(string, string) {}
	}
	held := make(map[string]string, len(d.Resources))
	for _, r := range d.Resources {
		held[r.ID] = r.Name
	}
	for n := 1; n <= maxDerivedIDs; n++ {
		id := candidateID(site, d.ID, name, n)
		if other, ok := held[id]; ok {
			why(id, fmt.Sprintf("held by resource %q of this dataset (renamed?)", other))
			continue
		}
		_, err := c.ResourceShow(ctx, id)
		switch {
		case err == nil || ckan.IsForbidden(err):
			why(id, "held by another resource on the site (another dataset's)")
		case ckan.IsResourceAbsent(err):
			return id, nil
		case ckan.IsNotFound(err):
			why(id, "held by a deleted resource")
		default:
			return "", fmt.Errorf("check that resource id %s is free before creating %q: %w", id, name, err)
		}
	}
	return "", failure.Wrap(failure.Config, fmt.Errorf("the first %d ids derived for resource %q are all held by other resources", maxDerivedIDs, name))
}

// claimID sets a new resource's id (NewResourceID), key and URL.
func (p *Publisher) claimID(ctx context.Context, it *Item) error {
	id, err := NewResourceID(ctx, p.o.CKAN, p.o.CKAN.SiteURL(), p.o.Dataset, it.File.Name, func(id, reason string) {
		p.o.Events.Logf("%s: id %s is %s; choosing another", it.File.Path, id, reason)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", it.File.Path, err)
	}
	return p.locate(it, id)
}

// locate sets the item's resource id and the object key and URL that follow.
func (p *Publisher) locate(it *Item, id string) error {
	if _, err := scope.ObjectKey(p.o.Target.DatasetPrefix, id, it.File.objectName()); err != nil {
		return failure.Wrap(failure.Usage, fmt.Errorf("%s: %w: use a shorter --name or a shallower directory", it.File.Path, err))
	}
	it.ResourceID, it.prefix = id, p.o.Target.DatasetPrefix
	return nil
}

// refuseManaged fails a file whose resource another extension serves: one
// backed by the DataStore (datastore_active) or whose url_type is neither ""
// (a link) nor "upload" (CKAN's own storage, which ckanup replaces with a link
// to the object). Repointing such a resource would leave the extension serving
// its own data under the new url. The error is failure.Config with what to do.
func (p *Publisher) refuseManaged(it *Item) error {
	r := it.Resource
	if r == nil {
		return nil
	}
	var why string
	switch {
	case r.DatastoreActive:
		why = "its data is in CKAN's DataStore (datastore_active), which would keep serving the old rows"
	case r.URLType != "" && r.URLType != "upload":
		why = fmt.Sprintf("its url_type is %q: another CKAN extension serves it", r.URLType)
	default:
		return nil
	}
	return hint.With(failure.Wrap(failure.Config, fmt.Errorf("%s: resource %s (%q) is not repointed: %s", it.File.Path, r.ID, r.Name, why)),
		"upload the file as another resource (--name with a new name), or to a resource ckanup manages (--resource-id), or remove that resource's DataStore table or extension data in CKAN first")
}

// skipOrWhy decides whether an existing resource already has this file. It
// does only when all of these hold: the resource describes the file (same
// size and "sha256:" hash), it is a plain link (url_type ""), it points at the
// object this run writes (same url, s3_bucket and s3_key; the url carries the
// endpoint or the public URL base), and that object is there with the file's
// size and checksum (a HEAD, see upload.Uploader.Match). It returns the
// matched object when the file can be skipped; otherwise nil and why the file
// is sent or registered again.
func (p *Publisher) skipOrWhy(ctx context.Context, it *Item, job upload.Job) (*upload.Result, string, error) {
	r := it.Resource
	sum, same, err := sameAsResource(ctx, it.File.Path, r)
	if err != nil {
		return nil, "", err
	}
	if !same {
		if sum == "" {
			return nil, fmt.Sprintf("resource %s describes another size or hash than this file", r.ID), nil
		}
		return nil, fmt.Sprintf("resource %s describes another file (sha256 differs)", r.ID), nil
	}
	t := p.o.Target
	switch {
	case r.URLType != "":
		return nil, fmt.Sprintf("resource %s is served by CKAN (url_type %q), not from the object: repointing it", r.ID, r.URLType), nil
	case r.URL != p.objectURL(it):
		return nil, fmt.Sprintf("resource %s points at %s, this run writes %s", r.ID, r.URL, p.objectURL(it)), nil
	case r.S3Bucket != t.Bucket || r.S3Key != it.Key():
		return nil, fmt.Sprintf("resource %s names s3://%s/%s, this run writes s3://%s/%s", r.ID, r.S3Bucket, r.S3Key, t.Bucket, it.Key()), nil
	}
	res, found, err := p.o.Uploader.Match(ctx, job)
	if err != nil {
		return nil, "", p.explainS3(err)
	}
	if !found {
		return nil, fmt.Sprintf("resource %s describes this file, but s3://%s/%s is missing or holds other bytes: uploading again", r.ID, t.Bucket, it.Key()), nil
	}
	return res, fmt.Sprintf("resource %s already points at s3://%s/%s, which holds this file (size and checksum checked)", r.ID, t.Bucket, it.Key()), nil
}

// sameAsResource says whether the resource already describes exactly this file:
// same size and the same "sha256:" hash. The file is hashed only when the sizes
// agree, and the read stops on ctx's cancellation (upload.HashFile); sum is ""
// when it was not hashed.
func sameAsResource(ctx context.Context, path string, res *ckan.Resource) (sum string, same bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false, err
	}
	want, isSHA := strings.CutPrefix(res.Hash, "sha256:")
	if res.Size == nil || *res.Size != fi.Size() || !isSHA {
		return "", false, nil
	}
	sum, _, err = upload.HashFile(ctx, path)
	if err != nil {
		return "", false, err
	}
	return sum, strings.EqualFold(sum, want), nil
}
