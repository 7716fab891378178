package catalog

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/datapackage"
	"github.com/ckanup/ckanup/internal/publish"
)

// Statuses of an Outcome, beside publish's created, updated, skipped, failed.
const (
	StatusDeleted = "deleted"
	StatusKept    = "kept"
)

// Outcome is what happened to one resource outside the file flow (a link, a
// metadata-only update, a skip decided by the plan, a deletion), printed as a
// text line or a JSON object.
type Outcome struct {
	Type       string `json:"type"` // "resource"
	Dataset    string `json:"dataset"`
	Name       string `json:"name"`
	Kind       string `json:"kind"` // file or link
	Source     string `json:"source,omitempty"`
	ResourceID string `json:"resource_id,omitempty"`
	Status     string `json:"status"` // created, updated, skipped, deleted, kept, failed, interrupted
	Error      string `json:"error,omitempty"`
	Err        error  `json:"-"`
}

// ApplyOptions are Options plus the wiring of one run.
type ApplyOptions struct {
	Options
	// Files returns the publisher for the dataset's local files (its
	// credentials and target are per dataset); called only when a file is to
	// be sent.
	Files func(ctx context.Context, d *ckan.Dataset) (*publish.Publisher, error)
	// OnDataset hears the dataset's outcome (the plan's action done, or err)
	// before any resource's. May be nil.
	OnDataset func(d *ckan.Dataset, err error)
	// OnRecord hears each file the publishing flow finished; OnOutcome every
	// other resource. Either may be nil.
	OnRecord  func(*publish.Record)
	OnOutcome func(*Outcome)
}

// Result is what applying a plan did.
type Result struct {
	Dataset  *ckan.Dataset
	Records  []*publish.Record
	Outcomes []*Outcome
	// Fills are the size and SHA-256 of each local resource now in CKAN, by
	// index in the descriptor's resources, for --write-back.
	Fills map[int]datapackage.Fill
	// Failed counts the resources that failed.
	Failed int
}

// Apply carries out a plan: it creates the dataset or patches the metadata
// fields that change, registers links and metadata-only updates, sends the
// local files that changed through the publishing flow, and, with Prune and no
// failure before, deletes the resources the descriptor no longer lists. A
// plan that changes nothing sends nothing. The error is a dataset-level one
// (create, patch, the file publisher's setup); a failed resource is counted in
// Result.Failed and reported through OnRecord/OnOutcome.
func Apply(ctx context.Context, c CKAN, p *Plan, o ApplyOptions) (*Result, error) {
	res := &Result{Dataset: p.Current, Fills: map[int]datapackage.Fill{}}
	err := applyDataset(ctx, c, p, res)
	if o.OnDataset != nil {
		o.OnDataset(res.Dataset, err)
	}
	if err != nil {
		return res, err
	}
	d := res.Dataset
	report := func(oc *Outcome) {
		oc.Type, oc.Dataset = "resource", d.Name
		if oc.Err != nil {
			oc.Status, oc.Error = publish.StatusFailed, oc.Err.Error()
			if errors.Is(oc.Err, context.Canceled) {
				oc.Status = publish.StatusInterrupted
			}
			res.Failed++
		}
		res.Outcomes = append(res.Outcomes, oc)
		if o.OnOutcome != nil {
			o.OnOutcome(oc)
		}
	}

	var files []publish.File
	byName := map[string]*ResourcePlan{}
	for _, rp := range p.Resources {
		oc := &Outcome{Name: rp.Name, Kind: rp.Kind, Source: rp.Source, ResourceID: rp.ResourceID}
		switch {
		case rp.Kind == KindFile && rp.Content:
			r := rp.res
			files = append(files, publish.File{Path: rp.Source, Name: rp.Name, Size: rp.Size, ObjectName: path.Base(r.Path),
				Description: r.Description, Format: wanted(r, "format"), Mimetype: wanted(r, "mimetype")})
			byName[rp.Name] = rp
			continue
		case rp.Action == Skip:
			oc.Status = publish.StatusSkipped
		case rp.Action == Create: // a link
			fields := resourceMap(rp)
			fields["package_id"] = d.ID
			fields["name"] = rp.Name
			// An id no resource on the site holds: CKAN would save onto one.
			id, err := publish.NewResourceID(ctx, c, c.SiteURL(), d, rp.Name, nil)
			if err != nil {
				oc.Err = fmt.Errorf("resource %s in %s: %w", rp.Name, d.Name, err)
			} else {
				fields["id"], oc.ResourceID = id, id
				if _, err := c.ResourceCreate(ctx, fields); err != nil {
					oc.Err = fmt.Errorf("resource_create %s in %s: %w", rp.Name, d.Name, err)
				}
			}
			oc.Status = publish.StatusCreated
		default: // a link, or a file whose metadata alone changes
			fields := resourceMap(rp)
			fields["id"] = rp.ResourceID
			if _, err := c.ResourcePatch(ctx, fields); err != nil {
				oc.Err = fmt.Errorf("resource_patch %s (%s) in %s: %w", rp.Name, rp.ResourceID, d.Name, err)
			}
			oc.Status = publish.StatusUpdated
		}
		if rp.Kind == KindFile && oc.Err == nil && rp.sha256 != "" {
			res.Fills[rp.res.Index] = datapackage.Fill{Bytes: rp.Size, SHA256: rp.sha256}
		}
		report(oc)
	}

	if len(files) > 0 {
		pub, err := o.Files(ctx, d)
		if err != nil {
			return res, err
		}
		items, err := pub.Plan(files)
		if err != nil {
			return res, err
		}
		res.Records = pub.Run(ctx, items, o.OnRecord)
		for _, rec := range res.Records {
			if rec.Err != nil {
				res.Failed++
				continue
			}
			rp := byName[rec.Name]
			if rp == nil {
				continue
			}
			if rec.SHA256 != "" {
				res.Fills[rp.res.Index] = datapackage.Fill{Bytes: rec.Size, SHA256: rec.SHA256}
			}
			// The flow skipped the file: its description, format or MIME
			// type may still have changed.
			if fields := resourceMap(rp); rec.Status == publish.StatusSkipped && len(fields) > 0 {
				oc := &Outcome{Name: rp.Name, Kind: rp.Kind, Source: rp.Source, ResourceID: rec.ResourceID, Status: publish.StatusUpdated}
				fields["id"] = rec.ResourceID
				if _, err := c.ResourcePatch(ctx, fields); err != nil {
					oc.Err = fmt.Errorf("resource_patch %s (%s) in %s: %w", rp.Name, rec.ResourceID, d.Name, err)
				}
				report(oc)
			}
		}
	}

	for _, rp := range p.Unlisted {
		oc := &Outcome{Name: rp.Name, Kind: rp.Kind, Source: rp.Source, ResourceID: rp.ResourceID, Status: StatusKept}
		if rp.Action == Delete {
			if res.Failed > 0 {
				oc.Err = fmt.Errorf("not deleted: %d resource(s) of %s failed; run again to prune once they succeed", res.Failed, d.Name)
			} else if err := c.ResourceDelete(ctx, rp.ResourceID); err != nil {
				oc.Err = fmt.Errorf("resource_delete %s (%s) in %s: %w", rp.Name, rp.ResourceID, d.Name, err)
			} else {
				oc.Status = StatusDeleted
			}
		}
		report(oc)
	}
	return res, nil
}

// applyDataset creates the dataset or patches its changed metadata.
func applyDataset(ctx context.Context, c CKAN, p *Plan, res *Result) error {
	fields := map[string]any{}
	for _, ch := range p.Changes {
		v := ch.New
		if ch.Field == "tags" {
			tags := []map[string]string{}
			for _, t := range ch.New.([]string) {
				tags = append(tags, map[string]string{"name": t})
			}
			v = tags
		}
		fields[ch.Field] = v
	}
	switch p.Action {
	case Create:
		fields["name"], fields["owner_org"] = p.Dataset, p.Organization
		d, err := c.PackageCreate(ctx, fields)
		if err != nil {
			return fmt.Errorf("%s: package_create %s in organization %s: %w", p.Descriptor, p.Dataset, p.Organization, err)
		}
		res.Dataset = d
	case Update:
		fields["id"] = p.Current.ID
		d, err := c.PackagePatch(ctx, fields)
		if err != nil {
			return fmt.Errorf("%s: package_patch %s: %w", p.Descriptor, p.Dataset, err)
		}
		res.Dataset = d
	}
	return nil
}

// resourceMap is the fields a link or metadata update sends: those that change
// (for a resource to create, all the descriptor sets).
func resourceMap(rp *ResourcePlan) map[string]any {
	fields := map[string]any{}
	for _, ch := range rp.Changes {
		if ch.Field != "size" {
			fields[ch.Field] = ch.New
		}
	}
	if _, ok := fields["url"]; ok {
		// ckanup owns what url means: a url_type "upload" (or another
		// extension's) would keep CKAN serving its own file instead.
		fields["url_type"] = ""
	}
	return fields
}

// wanted is the value the descriptor gives a resource field ("" when none).
func wanted(r *datapackage.Resource, field string) string {
	for _, ch := range resourceFields(r) {
		if ch.Field == field {
			s, _ := ch.New.(string)
			return s
		}
	}
	return ""
}
