package ckansim

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// postOnly are the actions CKAN refuses on GET: they are not side_effect_free,
// and CKAN answers a GET with a bare-string 400 (ckan/views/api.py
// _get_request_data).
var postOnly = map[string]bool{
	"resource_create": true, "resource_patch": true, "resource_delete": true,
	"package_create": true, "package_patch": true, "package_revise": true, "package_delete": true,
	"dataset_purge": true,
}

const getOnPostOnly = "Bad request - JSON Error: Invalid request. Please use POST method for your request"

func init() {
	actions["package_create"] = (*Server).packageCreate
	actions["package_patch"] = (*Server).packagePatch
	actions["package_delete"] = (*Server).packageDelete
	actions["package_revise"] = (*Server).packageRevise
	actions["resource_delete"] = (*Server).resourceDelete
	actions["dataset_purge"] = (*Server).datasetPurge
}

// datasetPurge removes a dataset for good (sysadmins only); the simulator
// forgets deleted datasets anyway.
func (s *Server) datasetPurge(caller *User, p map[string]any) answer {
	if caller == nil || !caller.Sysadmin {
		return denied(fmt.Sprintf("User %s not authorized to purge package", callerName(caller)))
	}
	if d := s.datasetByRef(str(p, "id")); d != nil {
		return s.packageDelete(caller, p)
	}
	return ok(nil)
}

var datasetName = regexp.MustCompile(`^[a-z0-9_-]{2,100}$`)

func (s *Server) packageCreate(caller *User, p map[string]any) answer {
	if caller == nil {
		return denied("User  not authorized to create packages")
	}
	name := str(p, "name")
	errs := map[string][]string{}
	switch {
	case name == "":
		errs["name"] = []string{"Missing value"}
	case !datasetName.MatchString(name):
		errs["name"] = []string{"Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_"}
	case s.datasetByRef(name) != nil:
		errs["name"] = []string{"That URL is already in use."}
	}
	o := s.orgByRef(str(p, "owner_org"))
	if o == nil {
		if str(p, "owner_org") == "" {
			errs["owner_org"] = []string{"An organization must be provided"}
		} else {
			errs["owner_org"] = []string{"Organization does not exist"}
		}
	} else if !caller.Sysadmin && !permits(o.Members[caller.ID], "create_dataset") {
		return denied(fmt.Sprintf("User %s not authorized to add dataset to this organization", caller.Name))
	}
	if len(errs) > 0 {
		return invalid(errs)
	}
	private, _ := p["private"].(bool)
	d := &Dataset{ID: newID(), Name: name, Title: str(p, "title"), Notes: str(p, "notes"), OwnerOrg: o.ID,
		Private: private, CreatorUserID: caller.ID, Created: s.now(), Modified: s.now(), Collaborators: map[string]string{}}
	if d.Title == "" {
		d.Title = name
	}
	if id := str(p, "id"); id != "" {
		d.ID = id
	}
	if errs := setDatasetFields(d, p); errs != nil {
		return invalid(errs)
	}
	s.datasets = append(s.datasets, d)
	if rs, ok := p["resources"].([]any); ok {
		if a := s.appendResources(d, rs); a.status != 0 {
			return a
		}
	}
	return ok(s.datasetDict(d))
}

// appendResources validates and appends resource dicts (package_create's and
// package_revise's new resources); a zero answer means success.
func (s *Server) appendResources(d *Dataset, rs []any) answer {
	now := ts(s.now())
	for i, x := range rs {
		m, isMap := x.(map[string]any)
		if !isMap {
			return invalid(map[string][]string{"resources": {fmt.Sprintf("item %d is not an object", i)}})
		}
		if errs := validateResource(m); errs != nil {
			return invalid(map[string][]string{"resources": {fmt.Sprint(errs)}})
		}
		r := map[string]any{}
		for _, k := range coreResourceFields {
			r[k] = nil
		}
		for k, v := range m {
			r[k] = v
		}
		if str(r, "id") == "" {
			r["id"] = newID()
		} else if od, j := s.resourceByID(str(r, "id")); od == d {
			s.saveOnto(d, j, r, m)
			continue
		} else if od != nil {
			// Another dataset's resource: CKAN takes it over, moving it here.
			od.Resources = append(od.Resources[:j:j], od.Resources[j+1:]...)
			od.Modified = s.now()
			s.changed() // od's positions moved
		}
		r["package_id"], r["state"], r["created"], r["metadata_modified"] = d.ID, "active", now, now
		r["position"] = len(d.Resources)
		normalize(r)
		stripUploadURL(r)
		d.Resources = append(d.Resources, r)
		s.noteAdded(d, len(d.Resources)-1) // for a later item of the same call
	}
	d.Modified = s.now()
	return answer{}
}

func (s *Server) editable(caller *User, ref string) (*Dataset, answer) {
	d := s.datasetByRef(ref)
	if d == nil {
		return nil, notFound()
	}
	if !s.canEdit(caller, d) {
		return nil, denied(fmt.Sprintf("User %s not authorized to edit package %s", callerName(caller), d.ID))
	}
	return d, answer{}
}

func (s *Server) packagePatch(caller *User, p map[string]any) answer {
	d, a := s.editable(caller, str(p, "id"))
	if d == nil {
		return a
	}
	for k, v := range p {
		switch k {
		case "title":
			d.Title = str(p, k)
		case "notes":
			d.Notes = str(p, k)
		case "license_id", "tags":
			if errs := setDatasetFields(d, map[string]any{k: v}); errs != nil {
				return invalid(errs)
			}
		case "private":
			d.Private, _ = v.(bool)
		case "name":
			if n := str(p, k); n != d.Name {
				if !datasetName.MatchString(n) || s.datasetByRef(n) != nil {
					return invalid(map[string][]string{"name": {"That URL is already in use."}})
				}
				d.Name = n
			}
		case "resources":
			// package_patch replaces the whole list.
			rs, _ := v.([]any)
			d.Resources = nil
			if a := s.appendResources(d, rs); a.status != 0 {
				return a
			}
		}
	}
	d.Modified = s.now()
	return ok(s.datasetDict(d))
}

func (s *Server) packageDelete(caller *User, p map[string]any) answer {
	d, a := s.editable(caller, str(p, "id"))
	if d == nil {
		return a
	}
	for i, x := range s.datasets {
		if x == d {
			s.datasets = append(s.datasets[:i], s.datasets[i+1:]...)
			break
		}
	}
	return ok(nil)
}

func (s *Server) resourceDelete(caller *User, p map[string]any) answer {
	id := str(p, "id")
	d, i := s.resourceByID(id)
	if d == nil {
		return notFound()
	}
	if !s.canEdit(caller, d) {
		return denied(fmt.Sprintf("User %s not authorized to delete resource %s", callerName(caller), id))
	}
	d.Resources = append(d.Resources[:i], d.Resources[i+1:]...)
	if s.deleted == nil {
		s.deleted = map[string]bool{}
	}
	s.deleted[id] = true
	for j, r := range d.Resources {
		r["position"] = j
	}
	d.Modified = s.now()
	return ok(nil)
}

// packageRevise implements the part of package_revise ckanup uses: match by
// id or name (match.id / match.name / match__id / match__name; every other
// match key compared as a string), update__resources__<id or id prefix of at
// least 5 characters> merged into that resource, update__resources__extend
// appended. Changes apply all or nothing. It answers {"package": <dataset>}.
func (s *Server) packageRevise(caller *User, p map[string]any) answer {
	match, _ := p["match"].(map[string]any)
	ref := firstStr(match["id"], p["match__id"], match["name"], p["match__name"])
	if ref == "" {
		return invalid(map[string][]string{"match__id": {"Missing value"}})
	}
	// CKAN's order: package_show (read access), match, then the edit check on
	// the merged dataset.
	d := s.datasetByRef(ref)
	if d == nil {
		return notFound()
	}
	if !s.canRead(caller, d) {
		return denied(fmt.Sprintf("User %s not authorized to read package %s", callerName(caller), d.ID))
	}
	var unmatched []string
	for k, v := range match {
		if got := fieldOf(d, k); got != fmt.Sprint(v) {
			unmatched = append(unmatched, k)
		}
	}
	if len(unmatched) > 0 {
		sort.Strings(unmatched)
		return invalid(map[string][]string{"match": unmatched})
	}
	if !s.canEdit(caller, d) {
		return denied(fmt.Sprintf("User %s not authorized to edit package %s", callerName(caller), d.ID))
	}
	// Work on copies so that a failure leaves the dataset as it was.
	res := make([]map[string]any, len(d.Resources))
	for i, r := range d.Resources {
		res[i] = copyMap(r)
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var extend []any
	for _, k := range keys {
		ref, isRes := strings.CutPrefix(k, "update__resources__")
		if !isRes {
			continue
		}
		if ref == "extend" {
			extend, _ = p[k].([]any)
			continue
		}
		patch, isMap := p[k].(map[string]any)
		if !isMap {
			return invalid(map[string][]string{k: {"Expecting a dict"}})
		}
		idx := -1
		for i, r := range res {
			if len(ref) >= 5 && strings.HasPrefix(str(r, "id"), ref) {
				idx = i
				break
			}
		}
		if idx < 0 {
			return invalid(map[string][]string{"resources__" + ref: {"Unmatched key " + ref}})
		}
		if errs := validateResource(patch); errs != nil {
			return invalid(map[string][]string{k: {fmt.Sprint(errs)}})
		}
		r := s.resourceDict(res[idx])
		for f, v := range patch {
			if f != "id" && f != "package_id" && f != "position" && f != "created" {
				r[f] = v
			}
		}
		r["metadata_modified"] = ts(s.now())
		normalize(r)
		stripUploadURL(r)
		res[idx] = r
	}
	saved := d.Resources
	d.Resources = res
	if len(extend) > 0 {
		if a := s.appendResources(d, extend); a.status != 0 {
			d.Resources = saved
			return a
		}
	}
	d.Modified = s.now()
	return ok(map[string]any{"package": s.datasetDict(d)})
}

func firstStr(vs ...any) string {
	for _, v := range vs {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// fieldOf is a dataset-level field as text, for package_revise's match.
func fieldOf(d *Dataset, k string) string {
	switch k {
	case "id":
		return d.ID
	case "name":
		return d.Name
	case "title":
		return d.Title
	case "notes":
		return d.Notes
	case "owner_org":
		return d.OwnerOrg
	}
	return "\x00" // a field the simulator does not keep never matches
}

// refuseGET answers a GET on a POST-only action as CKAN does.
func refuseGET(r *http.Request, action string) bool {
	return r.Method == http.MethodGet && postOnly[action]
}
