package ckan

import "encoding/json"

// User is the account behind an API token (user_show).
type User struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Sysadmin    bool   `json:"sysadmin"`
	State       string `json:"state"`
}

// Organization is an entry of organization_list_for_user or a dataset's owner.
type Organization struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Title    string `json:"title"`
	Capacity string `json:"capacity,omitempty"`
}

// Dataset is the part of package_show that ckanup reads.
type Dataset struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Title        string        `json:"title"`
	OwnerOrg     string        `json:"owner_org"`
	Private      bool          `json:"private"`
	State        string        `json:"state"`
	Organization *Organization `json:"organization"`
	Resources    []Resource    `json:"resources"`
}

// Resource is a CKAN resource. CKAN returns nulls for unset core fields; extra
// fields come back at the top level and are kept in Extras.
type Resource struct {
	ID           string `json:"id"`
	PackageID    string `json:"package_id"`
	Name         string `json:"name"`
	URL          string `json:"url"`
	Description  string `json:"description"`
	Format       string `json:"format"`
	Mimetype     string `json:"mimetype"`
	Hash         string `json:"hash"`
	Size         *int64 `json:"size"`
	LastModified string `json:"last_modified"`
	State        string `json:"state"`
	URLType      string `json:"url_type"`
	// Extras holds every field of the resource, core ones included.
	Extras map[string]any `json:"-"`
}

// UnmarshalJSON keeps the whole dict in Extras beside the typed fields.
func (r *Resource) UnmarshalJSON(b []byte) error {
	type plain Resource
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*r = Resource(p)
	r.Extras = all
	return nil
}

// Extra returns an extra field as a string ("" when absent or not a string).
func (r *Resource) Extra(key string) string {
	s, _ := r.Extras[key].(string)
	return s
}

// Collaboration is an entry of package_collaborator_list_for_user.
type Collaboration struct {
	PackageID string `json:"package_id"`
	UserID    string `json:"user_id"`
	Capacity  string `json:"capacity"`
}

// Status is status_show's answer.
type Status struct {
	CKANVersion string `json:"ckan_version"`
	SiteURL     string `json:"site_url"`
	SiteTitle   string `json:"site_title"`
}
