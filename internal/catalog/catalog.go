// Package catalog publishes data packages as CKAN datasets: it plans what a run
// changes — the dataset to create or whose metadata to update, the resources to
// create, update or skip, the resources CKAN holds that the descriptor no
// longer lists — and applies the plan, sending local files through the
// publishing flow of internal/publish and registering remote URLs as links.
//
// Mapping (descriptor → CKAN dataset): name → name, title → title,
// description → notes, licenses[0].name → license_id, keywords → tags.
// Only the fields the descriptor sets are compared and sent, with
// package_patch, so fields it does not mention are never wiped. Resources
// are matched by name (the descriptor's, else the file name).
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/datapackage"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/fileformat"
	"github.com/ckanup/ckanup/internal/hint"
)

// Actions of a dataset and of a resource in a Plan.
const (
	Create    = "create"
	Update    = "update"
	Unchanged = "unchanged" // a dataset whose metadata already matches
	Skip      = "skip"      // a resource already as the descriptor says
	Delete    = "delete"    // a resource not in the descriptor, with Prune
	Keep      = "keep"      // a resource not in the descriptor, without Prune
)

// Resource kinds.
const (
	KindFile = "file"
	KindLink = "link"
)

// CKAN is the part of the CKAN client the catalog calls; *ckan.Client
// satisfies it.
type CKAN interface {
	SiteURL() string
	PackageShow(ctx context.Context, id string) (*ckan.Dataset, error)
	PackageCreate(ctx context.Context, fields map[string]any) (*ckan.Dataset, error)
	PackagePatch(ctx context.Context, fields map[string]any) (*ckan.Dataset, error)
	ResourceCreate(ctx context.Context, fields map[string]any) (*ckan.Resource, error)
	ResourcePatch(ctx context.Context, fields map[string]any) (*ckan.Resource, error)
	ResourceDelete(ctx context.Context, id string) error
	// ResourceShow checks that a new resource's id is free (publish.NewResourceID).
	ResourceShow(ctx context.Context, id string) (*ckan.Resource, error)
}

// Change is one field that changes: Old is nil for a dataset to create.
type Change struct {
	Field string `json:"field"`
	Old   any    `json:"old"`
	New   any    `json:"new"`
}

// ResourcePlan is what happens to one resource.
type ResourcePlan struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`             // file or link
	Source     string   `json:"source,omitempty"` // the local file or the URL
	Action     string   `json:"action"`
	ResourceID string   `json:"resource_id,omitempty"`
	Size       int64    `json:"size,omitempty"` // a local file's bytes
	Changes    []Change `json:"changes,omitempty"`
	// Content reports that a file's bytes change (an upload); false for a
	// metadata-only update.
	Content bool `json:"content,omitempty"`

	res      *datapackage.Resource
	existing *ckan.Resource
	sha256   string // a local file's, when it was hashed
}

// Plan is what a run does to one dataset.
type Plan struct {
	Type         string          `json:"type"` // always "plan"
	Descriptor   string          `json:"descriptor"`
	Dataset      string          `json:"dataset"`
	DatasetID    string          `json:"dataset_id,omitempty"`
	Organization string          `json:"organization,omitempty"`
	Action       string          `json:"action"` // create, update or unchanged
	Changes      []Change        `json:"changes,omitempty"`
	Resources    []*ResourcePlan `json:"resources"`
	// Unlisted are the dataset's resources the descriptor does not name:
	// Action delete with Options.Prune, else keep.
	Unlisted []*ResourcePlan `json:"unlisted,omitempty"`

	Package *datapackage.Package `json:"-"`
	// Current is the dataset as CKAN holds it; nil when it is to be created.
	Current *ckan.Dataset `json:"-"`
}

// Options configure planning and applying.
type Options struct {
	// Org is the organization a missing dataset is created in.
	Org string
	// Prune deletes the resources the descriptor does not list.
	Prune bool
	// Force sends every local file again, as upload --force.
	Force bool
	// HashFiles compares each local file with its resource (size, then
	// SHA-256) to tell skip from update, as --plan shows them. Without it a
	// file that has a resource is left to the publishing flow, which applies
	// upload's skip rule itself (same size and SHA-256, and the resource
	// still pointing at an object S3 holds) — one hash per run, not two.
	HashFiles bool
}

// PlanDataset compares a data package with the dataset CKAN holds under its
// name. It reads local files (stat; with HashFiles also the SHA-256 when the
// size agrees with the resource's) but changes nothing. Errors: a missing dataset without
// Options.Org (failure.Usage), a missing local file (failure.NotFound, naming
// the descriptor and the field; another unreadable path is failure.Usage),
// CKAN errors.
func PlanDataset(ctx context.Context, c CKAN, pkg *datapackage.Package, o Options) (*Plan, error) {
	p := &Plan{Type: "plan", Descriptor: pkg.File, Dataset: pkg.Name, Package: pkg, Organization: o.Org}
	d, err := c.PackageShow(ctx, pkg.Name)
	switch {
	case ckan.IsNotFound(err):
		if o.Org == "" {
			return nil, failure.Wrap(failure.Usage, hint.With(
				fmt.Errorf("%s: dataset %q does not exist on %s", pkg.File, pkg.Name, c.SiteURL()),
				"name the organization to create it in with --org"))
		}
		p.Action = Create
	case ckan.IsForbidden(err):
		return nil, hint.With(fmt.Errorf("%s: dataset %q on %s: %w", pkg.File, pkg.Name, c.SiteURL(), err),
			"the dataset exists but is private to an organization this user is not a member of")
	case err != nil:
		return nil, fmt.Errorf("look up dataset %q: %w", pkg.Name, err)
	default:
		p.Current, p.DatasetID, p.Action = d, d.ID, Unchanged
		if d.Organization != nil {
			p.Organization = d.Organization.Name
		}
	}
	p.Changes = metadataChanges(pkg, p.Current)
	if p.Action == Unchanged && len(p.Changes) > 0 {
		p.Action = Update
	}

	listed := map[string]bool{}
	for i := range pkg.Resources {
		r := &pkg.Resources[i]
		rp, err := planResource(pkg, r, p.Current, o)
		if err != nil {
			return nil, err
		}
		listed[rp.Name] = true
		p.Resources = append(p.Resources, rp)
	}
	if p.Current != nil {
		for i, res := range p.Current.Resources {
			if res.State == "deleted" || listed[res.Name] {
				continue
			}
			action := Keep
			if o.Prune {
				action = Delete
			}
			kind := KindLink
			if res.S3Key != "" {
				kind = KindFile // one ckanup uploaded
			}
			p.Unlisted = append(p.Unlisted, &ResourcePlan{Name: res.Name, Kind: kind, Source: res.URL, Action: action,
				ResourceID: res.ID, existing: &p.Current.Resources[i]})
		}
	}
	return p, nil
}

// Wanted dataset fields, in the order they are shown.
func wantedMetadata(pkg *datapackage.Package) []Change {
	var w []Change
	if pkg.Has["title"] {
		w = append(w, Change{Field: "title", New: pkg.Title})
	}
	if pkg.Has["description"] {
		w = append(w, Change{Field: "notes", New: pkg.Description})
	}
	if pkg.Has["licenses"] {
		w = append(w, Change{Field: "license_id", New: pkg.LicenseID()})
	}
	if pkg.Has["keywords"] {
		tags := slices.Clone(pkg.Keywords)
		slices.Sort(tags)
		w = append(w, Change{Field: "tags", New: slices.Compact(tags)})
	}
	return w
}

func metadataChanges(pkg *datapackage.Package, d *ckan.Dataset) []Change {
	var out []Change
	for _, w := range wantedMetadata(pkg) {
		if d == nil {
			out = append(out, w)
			continue
		}
		var old any
		switch w.Field {
		case "title":
			old = d.Title
		case "notes":
			old = d.Notes
		case "license_id":
			old = d.LicenseID
		case "tags":
			tags := slices.Clone(d.Tags)
			slices.Sort(tags)
			if slices.Equal(tags, w.New.([]string)) {
				continue
			}
			if tags == nil {
				tags = []string{}
			}
			old = tags
		}
		if w.Field != "tags" && old == w.New {
			continue
		}
		w.Old = old
		out = append(out, w)
	}
	return out
}

// resourceFields are the metadata a descriptor resource sets on its CKAN
// resource: description, format and MIME type, each only when given (a local
// file's format and MIME type default to the guess from its name).
func resourceFields(r *datapackage.Resource) []Change {
	var w []Change
	format, mimetype := r.Format, r.Mediatype
	if !r.Remote() {
		gf, gm := fileformat.Of(path.Base(r.Path))
		format, mimetype = firstOf(format, gf), firstOf(mimetype, gm)
	}
	if r.Description != "" {
		w = append(w, Change{Field: "description", New: r.Description})
	}
	if format != "" {
		w = append(w, Change{Field: "format", New: format})
	}
	if mimetype != "" {
		w = append(w, Change{Field: "mimetype", New: mimetype})
	}
	return w
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func planResource(pkg *datapackage.Package, r *datapackage.Resource, d *ckan.Dataset, o Options) (*ResourcePlan, error) {
	rp := &ResourcePlan{Name: r.ResourceName(), Kind: KindFile, Source: r.Path, res: r}
	if d != nil {
		for i, res := range d.Resources {
			if res.Name == rp.Name && res.State != "deleted" {
				rp.existing, rp.ResourceID = &d.Resources[i], res.ID
				break
			}
		}
	}
	want := resourceFields(r)
	if r.Remote() {
		rp.Kind = KindLink
		want = append([]Change{{Field: "url", New: r.Path}}, want...)
	} else {
		rp.Source = pkg.LocalPath(r)
		fi, err := os.Stat(rp.Source)
		if err != nil || !fi.Mode().IsRegular() {
			if err == nil {
				err = errors.New("not a regular file")
			}
			kind, msg := failure.Usage, fmt.Sprintf("%s: %v", rp.Source, err)
			if errors.Is(err, fs.ErrNotExist) {
				kind, msg = failure.NotFound, fmt.Sprintf("%s does not exist", rp.Source)
			}
			return nil, failure.Wrap(kind, hint.With(&datapackage.FieldError{File: pkg.File,
				Field: fmt.Sprintf("resources[%d].path", r.Index), Msg: msg},
				"a local path is relative to the descriptor's directory; fix the path or the file (docs/publish.md)"))
		}
		rp.Size = fi.Size()
	}
	if rp.existing == nil {
		rp.Action, rp.Changes, rp.Content = Create, want, rp.Kind == KindFile
		return rp, nil
	}
	ex := rp.existing
	for _, w := range want {
		var old string
		switch w.Field {
		case "url":
			old = ex.URL
		case "description":
			old = ex.Description
		case "format":
			old = ex.Format
		case "mimetype":
			old = ex.Mimetype
		}
		if old == w.New || w.Field == "format" && strings.EqualFold(old, w.New.(string)) {
			// CKAN writes known formats its own way (clean_format: "csv" → "CSV").
			continue
		}
		w.Old = old
		rp.Changes = append(rp.Changes, w)
	}
	if rp.Kind == KindFile {
		same := false
		if o.HashFiles {
			var sum string
			var err error
			if same, sum, err = sameContent(rp.Source, rp.Size, ex); err != nil {
				return nil, err
			}
			rp.sha256 = sum
			// A resource CKAN serves itself is repointed at the object.
			same = same && ex.URLType == ""
		}
		rp.Content = !same || o.Force
		if rp.Content && (ex.Size == nil || *ex.Size != rp.Size || o.HashFiles) {
			var oldSize any
			if ex.Size != nil {
				oldSize = *ex.Size
			}
			rp.Changes = append(rp.Changes, Change{Field: "size", Old: oldSize, New: rp.Size})
		}
	}
	rp.Action = Skip
	if len(rp.Changes) > 0 {
		rp.Action = Update
	}
	return rp, nil
}

// sameContent says whether the resource already holds exactly this file, by
// the rule the publishing flow skips on: the same size and "sha256:" hash. The
// file is hashed only when the sizes agree; sum is "" when it was not.
func sameContent(file string, size int64, res *ckan.Resource) (same bool, sum string, err error) {
	want, isSHA := strings.CutPrefix(res.Hash, "sha256:")
	if res.Size == nil || *res.Size != size || !isSHA {
		return false, "", nil
	}
	f, err := os.Open(file)
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, "", fmt.Errorf("hash %s: %w", file, err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	return strings.EqualFold(sum, want), sum, nil
}

// Counts sums the plan's actions: "dataset create", "resource update", ….
func (p *Plan) Counts() map[string]int {
	n := map[string]int{"dataset " + p.Action: 1}
	for _, r := range p.Resources {
		n["resource "+r.Action]++
	}
	for _, r := range p.Unlisted {
		n["unlisted "+r.Action]++
	}
	return n
}

// Writes reports whether applying the plan sends anything to CKAN or S3.
func (p *Plan) Writes() bool {
	if p.Action != Unchanged {
		return true
	}
	for _, r := range append(slices.Clone(p.Resources), p.Unlisted...) {
		if r.Action != Skip && r.Action != Keep {
			return true
		}
	}
	return false
}
