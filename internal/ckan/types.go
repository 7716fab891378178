package ckan

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Every type below decodes what real portals hold rather than what the current
// CKAN writes: each UnmarshalJSON reads its fields loosely (see loose.go), so a
// number where text was expected, "None" where a number was, or a string "True"
// for a boolean never fails the call. Encoding uses the json tags as usual.

// User is the account behind an API token (user_show).
type User struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Sysadmin    bool   `json:"sysadmin"`
	State       string `json:"state"`
}

// UnmarshalJSON reads a user dict loosely; it fails only when raw is not JSON.
func (u *User) UnmarshalJSON(raw []byte) error {
	o, err := objectOf(raw)
	if err != nil {
		return err
	}
	*u = User{ID: o.str("id"), Name: o.str("name"), DisplayName: o.str("display_name"),
		Sysadmin: bool(o.flag("sysadmin")), State: o.str("state")}
	return nil
}

// Organization is an entry of organization_list_for_user or a dataset's owner.
type Organization struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Title    string `json:"title"`
	Capacity string `json:"capacity,omitempty"`
}

// UnmarshalJSON reads an organization dict loosely.
func (g *Organization) UnmarshalJSON(raw []byte) error {
	o, err := objectOf(raw)
	if err != nil {
		return err
	}
	*g = Organization{ID: o.str("id"), Name: o.str("name"), Title: o.str("title"), Capacity: o.str("capacity")}
	return nil
}

// Dataset is the part of package_show that ckanup reads.
type Dataset struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Title        string        `json:"title"`
	Notes        string        `json:"notes"`
	LicenseID    string        `json:"license_id"`
	Tags         []string      `json:"-"` // tag names, from the tags dicts
	OwnerOrg     string        `json:"owner_org"`
	Private      bool          `json:"private"`
	State        string        `json:"state"`
	Organization *Organization `json:"organization"`
	Resources    []Resource    `json:"resources"`
}

// UnmarshalJSON reads a dataset dict loosely. Each resource is read on its own,
// so an odd resource never blocks the others; an entry of "resources" that is
// not an object at all (no CKAN writes one) is left out. A "resources" that is
// neither a list nor null is an error: ckanup must not act on a dataset whose
// resources it cannot see.
func (d *Dataset) UnmarshalJSON(raw []byte) error {
	o, err := objectOf(raw)
	if err != nil {
		return err
	}
	return d.fromObject(o)
}

// fromObject reads a dataset from its members (see UnmarshalJSON).
func (d *Dataset) fromObject(o object) error {
	*d = Dataset{ID: o.str("id"), Name: o.str("name"), Title: o.str("title"), OwnerOrg: o.str("owner_org"),
		Private: bool(o.flag("private")), State: o.str("state"), Notes: o.str("notes"), LicenseID: o.str("license_id")}
	var tags []json.RawMessage
	if json.Unmarshal(o["tags"], &tags) == nil {
		for _, t := range tags {
			if to, ok := decodeObject(t); ok {
				if n := to.str("name"); n != "" {
					d.Tags = append(d.Tags, n)
				}
			}
		}
	}
	if _, ok := decodeObject(o["organization"]); ok {
		d.Organization = &Organization{}
		_ = d.Organization.UnmarshalJSON(o["organization"]) // an object: cannot fail
	}
	if rs := o["resources"]; len(rs) > 0 && string(rs) != "null" {
		var items []json.RawMessage
		if err := json.Unmarshal(rs, &items); err != nil {
			return fmt.Errorf("dataset %s: resources is not a list", d.Name)
		}
		d.Resources = make([]Resource, 0, len(items))
		for _, it := range items {
			if _, ok := decodeObject(it); !ok {
				continue
			}
			var r Resource
			if err := r.read(it); err != nil { // it is a copy json.Unmarshal made
				continue
			}
			d.Resources = append(d.Resources, r)
		}
	}
	return nil
}

// Resource is a CKAN resource. CKAN returns nulls for unset core fields; extra
// fields come back at the top level: Extra and Fields read them from the dict
// as CKAN sent it, which the Resource keeps (about 1 KB; decoded into a map, it
// took three times that, for every resource of every dataset read).
type Resource struct {
	ID          string `json:"id"`
	PackageID   string `json:"package_id"`
	Name        string `json:"name"`
	URL         string `json:"url"`
	Description string `json:"description"`
	Format      string `json:"format"`
	Mimetype    string `json:"mimetype"`
	Hash        string `json:"hash"`
	// Size in bytes; nil when unset or not a whole number ("", "None", 12.5).
	Size         *int64 `json:"size"`
	LastModified string `json:"last_modified"`
	State        string `json:"state"`
	// URLType says what url means: "" (or null) a link ckanup owns, "upload" a
	// file CKAN's own storage serves at /dataset/<id>/resource/<rid>/download/<file>,
	// anything else (e.g. "datastore") another extension's.
	URLType string `json:"url_type"`
	// Position is the resource's index in its dataset (-1 when unknown).
	Position int `json:"position"`
	// DatastoreActive is true when the resource's data is in the DataStore.
	DatastoreActive bool `json:"datastore_active"`
	// S3Bucket and S3Key are the extras ckanup registers with the object
	// (ResourceFields.S3Bucket, S3Key).
	S3Bucket string `json:"s3_bucket"`
	S3Key    string `json:"s3_key"`
	// raw is the resource dict as CKAN sent it, for Extra and Fields.
	raw json.RawMessage
}

// UnmarshalJSON reads a resource dict loosely and keeps a copy of the whole
// dict for Extra and Fields. It fails only when raw is not JSON or not an
// object (or null).
func (r *Resource) UnmarshalJSON(raw []byte) error {
	return r.read(bytes.Clone(raw))
}

// read is UnmarshalJSON for a raw the Resource may keep (nothing else holds
// or changes it).
func (r *Resource) read(raw []byte) error {
	o, err := objectOf(raw)
	if err != nil {
		return err
	}
	pos := o.num("position")
	*r = Resource{ID: o.str("id"), PackageID: o.str("package_id"), Name: o.str("name"), URL: o.str("url"),
		Description: o.str("description"), Format: o.str("format"), Mimetype: o.str("mimetype"),
		Hash: o.str("hash"), LastModified: o.str("last_modified"), State: o.str("state"),
		URLType: o.str("url_type"), Position: -1, DatastoreActive: bool(o.flag("datastore_active")),
		S3Bucket: o.str("s3_bucket"), S3Key: o.str("s3_key")}
	if n := o.num("size"); n.Valid && n.Value >= 0 {
		r.Size = n.Ptr()
	}
	if pos.Valid && pos.Value >= 0 && pos.Value <= 1<<31-1 {
		r.Position = int(pos.Value)
	}
	if string(raw) != "null" {
		r.raw = raw
	}
	return nil
}

// Extra returns a field of the resource dict as a string ("" when absent or not
// a string), e.g. the s3_key extra. Each call reads the dict again.
func (r *Resource) Extra(key string) string {
	o, ok := decodeObject(r.raw)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(o[key], &s) != nil {
		return ""
	}
	return s
}

// Fields returns every field of the resource dict, core ones and extras, as
// CKAN sent them (JSON numbers as float64); nil for a Resource not read from
// CKAN. Each call decodes the dict again.
func (r *Resource) Fields() map[string]any {
	var all map[string]any
	if json.Unmarshal(r.raw, &all) != nil {
		return nil
	}
	return all
}

// Collaboration is an entry of package_collaborator_list_for_user.
type Collaboration struct {
	PackageID string `json:"package_id"`
	UserID    string `json:"user_id"`
	Capacity  string `json:"capacity"`
}

// UnmarshalJSON reads a collaboration dict loosely.
func (c *Collaboration) UnmarshalJSON(raw []byte) error {
	o, err := objectOf(raw)
	if err != nil {
		return err
	}
	*c = Collaboration{PackageID: o.str("package_id"), UserID: o.str("user_id"), Capacity: o.str("capacity")}
	return nil
}

// Status is status_show's answer.
type Status struct {
	CKANVersion string `json:"ckan_version"`
	SiteURL     string `json:"site_url"`
	SiteTitle   string `json:"site_title"`
}

// UnmarshalJSON reads status_show's dict loosely.
func (s *Status) UnmarshalJSON(raw []byte) error {
	o, err := objectOf(raw)
	if err != nil {
		return err
	}
	*s = Status{CKANVersion: o.str("ckan_version"), SiteURL: o.str("site_url"), SiteTitle: o.str("site_title")}
	return nil
}

// objectOf reads raw as an object; null is an empty one. Anything else that is
// not an object is an error naming what came instead.
func objectOf(raw []byte) (object, error) {
	if o, ok := decodeObject(raw); ok {
		return o, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if v == nil {
		return object{}, nil
	}
	return nil, fmt.Errorf("expected a JSON object, got %T", v)
}
