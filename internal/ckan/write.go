package ckan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ResourceFields are the resource fields ckanup sends to CKAN. An empty string
// or nil means "not sent" (resource_patch keeps the value, resource_create
// leaves it unset) — except URLType, which is always sent: ckanup owns what
// url means, and "" tells CKAN the url is a plain link, not a file in CKAN's
// own storage (url_type "upload"), whose url CKAN would rewrite to its
// /dataset/<id>/resource/<rid>/download/<file> URL
// (ckan.lib.dictization.model_dictize.resource_dictize).
type ResourceFields struct {
	ID        string `json:"id,omitempty"`
	PackageID string `json:"package_id,omitempty"`
	Name      string `json:"name,omitempty"`
	URL       string `json:"url,omitempty"`
	// URLType is always sent; "" clears "upload" or another extension's type.
	URLType     string `json:"url_type"`
	Description string `json:"description,omitempty"`
	Format      string `json:"format,omitempty"`
	Mimetype    string `json:"mimetype,omitempty"`
	// Size in bytes; CKAN refuses a size that is not an integer (409).
	Size *int64 `json:"size,omitempty"`
	// Hash is "sha256:<hex>" for ckanup's uploads.
	Hash string `json:"hash,omitempty"`
	// LastModified is an ISO 8601 time without zone, UTC ("2006-01-02T15:04:05").
	LastModified string `json:"last_modified,omitempty"`
	// S3Bucket and S3Key name the object; CKAN keeps them as resource extras.
	S3Bucket string `json:"s3_bucket,omitempty"`
	S3Key    string `json:"s3_key,omitempty"`
	// Extras are further fields sent as they are (CKAN keeps unknown keys as
	// extras). A key that is also a field above is ignored.
	Extras map[string]any `json:"-"`
}

// MarshalJSON writes the fields above, then Extras under the keys they do not use.
func (f ResourceFields) MarshalJSON() ([]byte, error) {
	if len(f.Extras) == 0 { // the fields alone: no map to build and encode
		type plain ResourceFields
		return json.Marshal(plain(f))
	}
	m, err := f.dict()
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// dict is the fields as the JSON object sent to CKAN.
func (f ResourceFields) dict() (map[string]any, error) {
	type plain ResourceFields
	b, err := json.Marshal(plain(f))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range f.Extras {
		if _, typed := m[k]; !typed && !typedResourceKeys[k] {
			m[k] = v
		}
	}
	return m, nil
}

// typedResourceKeys are the JSON names of ResourceFields' own fields.
var typedResourceKeys = map[string]bool{"id": true, "package_id": true, "name": true, "url": true, "url_type": true,
	"description": true, "format": true, "mimetype": true, "size": true, "hash": true, "last_modified": true,
	"s3_bucket": true, "s3_key": true}

// ResourceCreateFields creates a resource (PackageID required). A
// client-chosen ID is accepted, and CKAN silently saves onto an existing
// resource with that id (core fields not sent are kept, extras dropped):
// check the dataset first.
func (c *Client) ResourceCreateFields(ctx context.Context, f ResourceFields) (*Resource, error) {
	if f.PackageID == "" {
		return nil, errors.New("CKAN resource_create: no package_id")
	}
	var r Resource
	if err := c.call(ctx, "resource_create", nil, f, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ResourcePatchFields updates the fields sent of resource f.ID; url_type is
// always among them.
func (c *Client) ResourcePatchFields(ctx context.Context, f ResourceFields) (*Resource, error) {
	if f.ID == "" {
		return nil, errors.New("CKAN resource_patch: no resource id")
	}
	var r Resource
	if err := c.call(ctx, "resource_patch", nil, f, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ResourceDelete deletes a resource (CKAN marks it deleted; package_show no
// longer lists it, resource_show still finds it with state "deleted").
func (c *Client) ResourceDelete(ctx context.Context, id string) error {
	return c.call(ctx, "resource_delete", nil, map[string]any{"id": id}, nil)
}

// PackageCreate creates a dataset from fields (name and, on most sites,
// owner_org required) and returns it.
func (c *Client) PackageCreate(ctx context.Context, fields map[string]any) (*Dataset, error) {
	var d Dataset
	if err := c.call(ctx, "package_create", nil, fields, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// PackagePatch updates the given fields of the dataset fields["id"] (id or
// name). Beware: a "resources" key replaces the dataset's whole resource list.
func (c *Client) PackagePatch(ctx context.Context, fields map[string]any) (*Dataset, error) {
	var d Dataset
	if err := c.call(ctx, "package_patch", nil, fields, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// PackageDelete deletes a dataset (CKAN marks it deleted; a sysadmin can purge
// it with dataset_purge).
func (c *Client) PackageDelete(ctx context.Context, id string) error {
	return c.call(ctx, "package_delete", nil, map[string]any{"id": id}, nil)
}

// ErrActionMissing is matched (errors.Is) by an error for an action the site
// does not have: CKAN answers 400 "Bad request - Action name not known"; for
// package_revise that is CKAN before 2.9. Callers fall back to one call per
// resource.
var ErrActionMissing = errors.New("CKAN site does not have this action")

// ActionMissingError is an action the site does not know.
type ActionMissingError struct {
	Action string
	Err    *APIError
}

func (e *ActionMissingError) Error() string {
	return fmt.Sprintf("CKAN site has no %s action (CKAN before 2.9, or a plugin removed it): %s", e.Action, e.Err.Message)
}

// Is makes errors.Is(err, ErrActionMissing) hold.
func (e *ActionMissingError) Is(target error) bool { return target == ErrActionMissing }

// Unwrap is the API error.
func (e *ActionMissingError) Unwrap() error { return e.Err }

// actionMissing recognises CKAN's bare-string 400 for an unknown action.
func actionMissing(action string, err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == 400 && ae.Type == "" && strings.Contains(ae.Message, "Action name not known") {
		return &ActionMissingError{Action: action, Err: ae}
	}
	return err
}

// Revision is one package_revise call on a dataset's resources.
type Revision struct {
	// Dataset is the dataset's id or name.
	Dataset string
	// Update changes existing resources, each by its ID (fields not sent
	// are kept, as with resource_patch).
	Update []ResourceFields
	// Add appends new resources; a client-chosen ID is kept. Beware: CKAN
	// (2.10) saves an added resource whose ID the dataset already holds onto
	// that resource, silently, and moves it to the end, as resource_create
	// does: add only ids the dataset does not hold.
	Add []ResourceFields
}

// PackageRevise applies rev in one call (CKAN ≥ 2.9: package_revise with
// match {"id"}, update__resources__<id> per updated resource and
// update__resources__extend for the new ones), so the dataset changes once
// rather than once per resource. It returns the dataset after the change,
// with only the resources rev names among its Resources (those it updates and
// those it adds, in the dataset's order): CKAN answers with every resource,
// and that answer is read as it arrives without being kept, so that revising
// a dataset of thousands of resources takes little memory (PackageShow reads
// them all). For the same reason these resources carry their typed fields
// only: Extra and Fields find nothing (read the resource again for those).
// Errors: *ActionMissingError (errors.Is ErrActionMissing) on a CKAN without
// package_revise; a 409 Validation Error ("resources__<id>: Unmatched key")
// when an updated resource id is not in the dataset, and then nothing
// changes; 403 when the user may not edit the dataset.
func (c *Client) PackageRevise(ctx context.Context, rev Revision) (*Dataset, error) {
	if rev.Dataset == "" {
		return nil, errors.New("CKAN package_revise: no dataset")
	}
	// CKAN compares match with the dataset's own values: an id must be the id,
	// a name the name.
	key := "name"
	if isUUID(rev.Dataset) {
		key = "id"
	}
	for _, u := range rev.Update {
		if u.ID == "" {
			return nil, errors.New("CKAN package_revise: an updated resource has no id")
		}
	}
	body := &revisionBody{matchKey: key, rev: rev}
	out := newRevisedDataset(rev)
	if err := c.call(ctx, "package_revise", nil, body, out); err != nil {
		return nil, actionMissing("package_revise", err)
	}
	return &out.d, nil
}

// revisionBody is package_revise's request,
// {"match": {key: dataset}, "update__resources__<id>": {…}, …,
// "update__resources__extend": [{…}, …]}, each resource encoded by
// ResourceFields.MarshalJSON without package_id (the dataset is the one
// matched). It is written as it is sent (a streamedBody): held whole, the
// request for 1,000 resources took 0.6 MB, and encoding it as one value twice
// that again, at the moment a registration batch holds the most memory.
type revisionBody struct {
	matchKey string
	rev      Revision
}

func (b *revisionBody) writeJSON(w io.Writer) error {
	jw := &jsonWriter{w: w}
	jw.raw("{")
	jw.value("match")
	jw.raw(":")
	jw.value(map[string]string{b.matchKey: b.rev.Dataset})
	for _, u := range b.rev.Update {
		u.PackageID = ""
		jw.raw(",")
		jw.value("update__resources__" + u.ID)
		jw.raw(":")
		jw.value(u)
	}
	if len(b.rev.Add) > 0 {
		jw.raw(",")
		jw.value("update__resources__extend")
		jw.raw(":[")
		for i, a := range b.rev.Add {
			a.PackageID = ""
			if i > 0 {
				jw.raw(",")
			}
			jw.value(a)
		}
		jw.raw("]")
	}
	jw.raw("}")
	return jw.err
}

// jsonWriter writes JSON pieces to w, keeping the first error.
type jsonWriter struct {
	w   io.Writer
	err error
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = io.WriteString(j.w, s)
	}
}

// value writes v as encoding/json encodes it.
func (j *jsonWriter) value(v any) {
	if j.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		j.err = err
		return
	}
	_, j.err = j.w.Write(b)
}

// isUUID reports a canonical 36-character UUID (what CKAN ids are).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// Differences compares what was sent with the resource CKAN answers or shows
// afterwards, for the fields that decide what a resource serves: url, size and
// hash (those sent), and url_type. Each difference reads
// `url: sent "…", CKAN has "…"`; none means CKAN stored what was sent. A
// url_type "upload" left in place, for example, shows as a url difference,
// since CKAN then serves its own download URL.
func (f ResourceFields) Differences(r *Resource) []string {
	var d []string
	if f.URL != "" && r.URL != f.URL {
		d = append(d, fmt.Sprintf("url: sent %q, CKAN has %q", f.URL, r.URL))
	}
	if f.Size != nil && (r.Size == nil || *r.Size != *f.Size) {
		has := "none"
		if r.Size != nil {
			has = fmt.Sprint(*r.Size)
		}
		d = append(d, fmt.Sprintf("size: sent %d, CKAN has %s", *f.Size, has))
	}
	if f.Hash != "" && !strings.EqualFold(r.Hash, f.Hash) {
		d = append(d, fmt.Sprintf("hash: sent %q, CKAN has %q", f.Hash, r.Hash))
	}
	if r.URLType != f.URLType {
		d = append(d, fmt.Sprintf("url_type: sent %q, CKAN has %q", f.URLType, r.URLType))
	}
	return d
}

// ManagedElsewhere says which other component serves the resource's data, or
// "" when the url is a plain link (url_type "" or null) or a file uploaded
// through CKAN's own form (url_type "upload"), which a publisher may repoint by
// clearing url_type. A resource in the DataStore (datastore_active) or with
// another url_type belongs to an extension: repointing it would leave that
// extension's copy and views behind.
func (r *Resource) ManagedElsewhere() string {
	switch {
	case r.DatastoreActive:
		return "the DataStore (datastore_active is true)"
	case r.URLType != "" && r.URLType != "upload":
		return fmt.Sprintf("the extension behind url_type %q", r.URLType)
	}
	return ""
}
