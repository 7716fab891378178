// Package ckansim is a small, strict CKAN action-API server: it answers the calls
// ckanup makes exactly as a real CKAN 2.10 does (envelopes, status codes, the
// anonymous treatment of a bad token, the bare-string 400s), as recorded in the
// project's CKAN fixtures. It backs `ckanup sandbox` and the tests.
package ckansim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// User is an account with one API token.
type User struct {
	ID, Name, FullName, Email, Token string
	Sysadmin                         bool
	Created                          time.Time
}

// Org is an organization; Members maps user id to capacity (member, editor, admin).
type Org struct {
	ID, Name, Title string
	Members         map[string]string
	Created         time.Time
}

// Dataset is a package with its resources (CKAN resource dicts).
type Dataset struct {
	ID, Name, Title, Notes, OwnerOrg string
	LicenseID                        string
	Tags                             []string
	Private                          bool
	CreatorUserID                    string
	Resources                        []map[string]any
	Created, Modified                time.Time
	// Collaborators maps user id to capacity (member, editor).
	Collaborators map[string]string
}

// Call is one action the server answered, for tests to inspect.
type Call struct {
	Action string
	User   string // "" when anonymous
	Status int
	// Dataset is the name of the dataset the call named (by package_id, id or
	// name, or through a resource id); "" when none.
	Dataset string
}

// Server is an in-memory CKAN. Its zero value is not usable: call New.
type Server struct {
	mu       sync.Mutex
	users    []*User
	orgs     []*Org
	datasets []*Dataset
	calls    []Call
	// SiteURL is reported by status_show and in "help" links.
	SiteURL string
	// CollaboratorsEnabled mirrors ckan.auth.allow_dataset_collaborators (off by default).
	CollaboratorsEnabled bool
	// TokenHeader is the one header a token is read from, like a site whose
	// apitoken_header_name names it behind a proxy that drops the other. Empty
	// reads X-CKAN-API-Key, then Authorization, as CKAN 2.9 and 2.10 do with
	// their default settings (ckan/views/__init__.py _get_user_for_apitoken).
	TokenHeader string
	intercept   func(w http.ResponseWriter, r *http.Request, action string) bool
	now         func() time.Time
	// deleted holds the ids of resources resource_delete removed: CKAN keeps
	// them in its database, and resource_show answers "Not found: Resource was
	// not found." for them rather than a plain "Not found".
	deleted map[string]bool
	// resIndex finds a resource by id without reading every dataset (a run
	// of 10,000 files asks resource_show for each new id): built from the
	// datasets when first needed after gen moved, which every call that may
	// change a dataset does (changed).
	resIndex    map[string]resLoc
	resIndexGen uint64
	gen         uint64
}

// resLoc is where a resource was when resIndex was built.
type resLoc struct {
	d *Dataset
	i int
}

// changed marks the datasets as possibly changed. Call with s.mu held.
func (s *Server) changed() { s.gen++ }

// noteAdded keeps resIndex current after a resource was appended to d at
// position i, so that a call adding many resources need not rebuild it for
// each. Call with s.mu held.
func (s *Server) noteAdded(d *Dataset, i int) {
	if s.resIndex == nil || s.resIndexGen != s.gen {
		return // rebuilt at the next lookup anyway
	}
	if id, ok := d.Resources[i]["id"].(string); ok {
		if _, seen := s.resIndex[id]; !seen {
			s.resIndex[id] = resLoc{d, i}
		}
	}
}

// readOnly reports an action that changes nothing: CKAN's *_show, *_list,
// *_search and *_autocomplete actions. Every other call counts as a change.
func readOnly(action string) bool {
	for _, suffix := range []string{"_show", "_list", "_search", "_autocomplete"} {
		if strings.HasSuffix(action, suffix) {
			return true
		}
	}
	return false
}

// New returns an empty server.
func New() *Server { return &Server{now: time.Now} }

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewToken returns a random API token.
func NewToken() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "ckt-" + hex.EncodeToString(b[:])
}

// AddUser adds a user with a fresh token.
func (s *Server) AddUser(name string, sysadmin bool) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{ID: newID(), Name: name, FullName: strings.ToUpper(name[:1]) + name[1:] + " User",
		Email: name + "@example.org", Token: NewToken(), Sysadmin: sysadmin, Created: s.now()}
	s.users = append(s.users, u)
	return u
}

// AddOrg adds an organization; members maps user names to capacities.
func (s *Server) AddOrg(name, title string, members map[string]string) *Org {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Org{ID: newID(), Name: name, Title: title, Members: map[string]string{}, Created: s.now()}
	for n, c := range members {
		if u := s.userByName(n); u != nil {
			o.Members[u.ID] = c
		}
	}
	s.orgs = append(s.orgs, o)
	return o
}

// AddDataset adds a dataset owned by the named organization.
func (s *Server) AddDataset(name, title, org string, private bool) *Dataset {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &Dataset{ID: newID(), Name: name, Title: title, Private: private, Created: s.now(), Modified: s.now(),
		Collaborators: map[string]string{}, LicenseID: "cc-by"}
	if o := s.orgByRef(org); o != nil {
		d.OwnerOrg = o.ID
	}
	s.datasets = append(s.datasets, d)
	s.changed()
	return d
}

// AddCollaborator makes the named user a collaborator of a dataset.
func (s *Server) AddCollaborator(dataset, user, capacity string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, u := s.datasetByRef(dataset), s.userByName(user); d != nil && u != nil {
		d.Collaborators[u.ID] = capacity
	}
}

// AddRawResource stores a resource dict in the dataset as given, without the
// validation resource_create applies (for data older CKANs let in). Missing
// core fields are null; id, package_id, position, state and created are
// filled in when absent. It returns the resource id.
func (s *Server) AddRawResource(dataset string, r map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.datasetByRef(dataset)
	if d == nil {
		return ""
	}
	m := map[string]any{}
	for _, k := range coreResourceFields {
		m[k] = nil
	}
	for k, v := range r {
		m[k] = v
	}
	if str(m, "id") == "" {
		m["id"] = newID()
	}
	if _, has := r["position"]; !has {
		m["position"] = len(d.Resources)
	}
	m["package_id"] = d.ID
	if m["state"] == nil {
		m["state"] = "active"
	}
	if m["created"] == nil {
		m["created"] = ts(s.now())
	}
	stripUploadURL(m)
	d.Resources = append(d.Resources, m)
	s.changed()
	return str(m, "id")
}

// SetIntercept installs a function run before every action; when it returns
// true it has answered the request itself (tests use it to inject faults).
// nil removes it.
func (s *Server) SetIntercept(f func(w http.ResponseWriter, r *http.Request, action string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intercept = f
}

// Calls returns the actions answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CountCalls counts answered calls of one action with the given status (0: any).
func (s *Server) CountCalls(action string, status int) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Action == action && (status == 0 || c.Status == status) {
			n++
		}
	}
	return n
}

// Resources returns a copy of a dataset's resources.
func (s *Server) Resources(dataset string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.datasetByRef(dataset)
	if d == nil {
		return nil
	}
	out := make([]map[string]any, len(d.Resources))
	for i, r := range d.Resources {
		out[i] = copyMap(r)
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (s *Server) userByName(ref string) *User {
	for _, u := range s.users {
		if u.Name == ref || u.ID == ref {
			return u
		}
	}
	return nil
}

func (s *Server) userByToken(tok string) *User {
	if tok == "" {
		return nil
	}
	for _, u := range s.users {
		if u.Token == tok {
			return u
		}
	}
	return nil
}

func (s *Server) orgByRef(ref string) *Org {
	for _, o := range s.orgs {
		if o.Name == ref || o.ID == ref {
			return o
		}
	}
	return nil
}

func (s *Server) datasetByRef(ref string) *Dataset {
	for _, d := range s.datasets {
		if d.Name == ref || d.ID == ref {
			return d
		}
	}
	return nil
}

func (s *Server) resourceByID(id string) (*Dataset, int) {
	if id == "" {
		return nil, -1
	}
	if s.resIndex == nil || s.resIndexGen != s.gen {
		s.resIndex = map[string]resLoc{}
		for _, d := range s.datasets {
			for i, r := range d.Resources {
				if rid, ok := r["id"].(string); ok {
					if _, seen := s.resIndex[rid]; !seen { // the first, as a scan finds
						s.resIndex[rid] = resLoc{d, i}
					}
				}
			}
		}
		s.resIndexGen = s.gen
	}
	loc, ok := s.resIndex[id]
	if !ok {
		return nil, -1
	}
	return loc.d, loc.i
}

// answer is one action's outcome.
type answer struct {
	status  int
	result  any
	errType string
	errMsg  string
	fields  map[string][]string
	bare    string // a bare JSON string answer (400)
	dataset string // the dataset the call named, for Call.Dataset
}

func ok(result any) answer { return answer{status: http.StatusOK, result: result} }

func fail(status int, typ, msg string) answer {
	return answer{status: status, errType: typ, errMsg: msg}
}

func invalid(fields map[string][]string) answer {
	return answer{status: http.StatusConflict, errType: "Validation Error", fields: fields}
}

func notFound() answer { return fail(http.StatusNotFound, "Not Found Error", "Not found") }

func denied(msg string) answer {
	return fail(http.StatusForbidden, "Authorization Error", "Access denied: "+msg)
}

var actions = map[string]func(s *Server, caller *User, p map[string]any) answer{
	"status_show":                        (*Server).statusShow,
	"user_show":                          (*Server).userShow,
	"package_show":                       (*Server).packageShow,
	"organization_list_for_user":         (*Server).orgListForUser,
	"package_collaborator_list_for_user": (*Server).collabListForUser,
	"package_collaborator_list":          (*Server).collabList,
	"resource_show":                      (*Server).resourceShow,
	"resource_create":                    (*Server).resourceCreate,
	"resource_patch":                     (*Server).resourcePatch,
}

// ServeHTTP answers /api/3/action/<name> (and /api/action/<name>).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var action string
	switch {
	case strings.HasPrefix(p, "/api/3/action/"):
		action = strings.TrimPrefix(p, "/api/3/action/")
	case strings.HasPrefix(p, "/api/action/"):
		action = strings.TrimPrefix(p, "/api/action/")
	default:
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	intercept := s.intercept
	s.mu.Unlock()
	if intercept != nil && intercept(w, r, action) {
		return
	}
	params := map[string]any{}
	for k, v := range r.URL.Query() {
		params[k] = v[len(v)-1]
	}
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if len(strings.TrimSpace(string(body))) > 0 {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				s.write(w, action, nil, answer{status: http.StatusBadRequest,
					bare: "Bad request - JSON Error: Error decoding JSON data. Error: <BadRequest '400: Bad Request'> JSON data extracted from the request: {}"})
				return
			}
			for k, v := range m {
				params[k] = v
			}
		}
	}
	fn, known := actions[action]
	if !known {
		s.write(w, action, nil, answer{status: http.StatusBadRequest, bare: "Bad request - Action name not known: " + action})
		return
	}
	if refuseGET(r, action) {
		s.write(w, action, nil, answer{status: http.StatusBadRequest, bare: getOnPostOnly})
		return
	}
	s.mu.Lock()
	caller := s.userByToken(s.tokenOf(r))
	named := s.callDataset(params) // before the call: a deleted resource's dataset
	a := fn(s, caller, params)
	if !readOnly(action) {
		s.changed()
	}
	if a.dataset = named; named == "" {
		a.dataset = s.callDataset(params) // after it: a created dataset
	}
	s.mu.Unlock()
	s.write(w, action, caller, a)
}

// tokenOf is the API token of a request as this site reads it. Call with s.mu held.
func (s *Server) tokenOf(r *http.Request) string {
	if s.TokenHeader != "" {
		return r.Header.Get(s.TokenHeader)
	}
	if t := r.Header.Get("X-CKAN-API-Key"); t != "" {
		return t
	}
	return r.Header.Get("Authorization")
}

func (s *Server) write(w http.ResponseWriter, action string, caller *User, a answer) {
	s.mu.Lock()
	c := Call{Action: action, Status: a.status, Dataset: a.dataset}
	if caller != nil {
		c.User = caller.Name
	}
	s.calls = append(s.calls, c)
	site := s.SiteURL
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(a.status)
	if a.bare != "" {
		_ = json.NewEncoder(w).Encode(a.bare)
		return
	}
	env := map[string]any{"help": site + "/api/3/action/help_show?name=" + action}
	if a.errType != "" {
		e := map[string]any{"__type": a.errType}
		if a.errMsg != "" {
			e["message"] = a.errMsg
		}
		for k, v := range a.fields {
			e[k] = v
		}
		env["success"] = false
		env["error"] = e
	} else {
		env["success"] = true
		env["result"] = a.result
	}
	_ = json.NewEncoder(w).Encode(env)
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

func str(p map[string]any, k string) string {
	switch v := p[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func (s *Server) statusShow(_ *User, _ map[string]any) answer {
	return ok(map[string]any{"ckan_version": "2.10.10", "error_emails_to": "", "extensions": []string{"activity"},
		"locale_default": "en", "site_description": "", "site_title": "ckanup sandbox", "site_url": s.SiteURL})
}

func (s *Server) userDict(u *User) map[string]any {
	n := 0
	for _, d := range s.datasets {
		if d.CreatorUserID == u.ID {
			n++
		}
	}
	return map[string]any{"about": nil, "activity_streams_email_notifications": false, "apikey": nil,
		"created": ts(u.Created), "display_name": u.FullName, "email": u.Email, "email_hash": "",
		"fullname": u.FullName, "id": u.ID, "image_display_url": nil, "image_url": nil,
		"last_active": ts(s.now()), "name": u.Name, "number_created_packages": n, "state": "active",
		"sysadmin": u.Sysadmin}
}

func (s *Server) userShow(caller *User, p map[string]any) answer {
	id := str(p, "id")
	if id == "" {
		if caller == nil {
			return notFound()
		}
		return ok(s.userDict(caller))
	}
	u := s.userByName(id)
	if u == nil {
		return notFound()
	}
	return ok(s.userDict(u))
}

func (s *Server) orgDict(o *Org, capacity string) map[string]any {
	m := map[string]any{"approval_status": "approved", "created": ts(o.Created), "description": "",
		"id": o.ID, "image_url": "", "is_organization": true, "name": o.Name, "state": "active",
		"title": o.Title, "type": "organization"}
	if capacity != "" {
		m["capacity"] = capacity
		m["display_name"] = o.Title
		m["image_display_url"] = ""
	}
	return m
}

// canRead: public, sysadmin, or any member of the owner organization or collaborator.
func (s *Server) canRead(u *User, d *Dataset) bool {
	if !d.Private {
		return true
	}
	if u == nil {
		return false
	}
	if u.Sysadmin {
		return true
	}
	if o := s.orgByRef(d.OwnerOrg); o != nil && o.Members[u.ID] != "" {
		return true
	}
	return s.CollaboratorsEnabled && d.Collaborators[u.ID] != ""
}

// canEdit: sysadmin, editor/admin of the owner organization, or editor collaborator.
func (s *Server) canEdit(u *User, d *Dataset) bool {
	if u == nil {
		return false
	}
	if u.Sysadmin {
		return true
	}
	if o := s.orgByRef(d.OwnerOrg); o != nil {
		if c := o.Members[u.ID]; c == "editor" || c == "admin" {
			return true
		}
	}
	if s.CollaboratorsEnabled {
		if c := d.Collaborators[u.ID]; c == "editor" || c == "admin" {
			return true
		}
	}
	return false
}

func callerName(u *User) string {
	if u == nil {
		return ""
	}
	return u.Name
}

func (s *Server) datasetDict(d *Dataset) map[string]any {
	res := make([]any, len(d.Resources))
	for i, r := range d.Resources {
		res[i] = s.resourceDict(r)
	}
	var org any
	if o := s.orgByRef(d.OwnerOrg); o != nil {
		org = s.orgDict(o, "")
	}
	var owner any
	if d.OwnerOrg != "" {
		owner = d.OwnerOrg
	}
	license := map[string]any{"license_id": nil}
	if d.LicenseID != "" {
		license = map[string]any{"license_id": d.LicenseID, "license_title": d.LicenseID}
	}
	if d.LicenseID == "cc-by" {
		license["license_title"] = "Creative Commons Attribution"
		license["license_url"] = "http://www.opendefinition.org/licenses/cc-by"
	}
	tags := []any{}
	for _, t := range d.Tags {
		tags = append(tags, map[string]any{"display_name": t, "id": "tag-" + t, "name": t, "state": "active", "vocabulary_id": nil})
	}
	m := map[string]any{"author": nil, "author_email": nil, "creator_user_id": d.CreatorUserID,
		"extras": []any{}, "groups": []any{}, "id": d.ID, "isopen": true,
		"maintainer": nil, "maintainer_email": nil, "metadata_created": ts(d.Created),
		"metadata_modified": ts(d.Modified), "name": d.Name, "notes": d.Notes, "num_resources": len(d.Resources),
		"num_tags": len(tags), "organization": org, "owner_org": owner, "private": d.Private,
		"relationships_as_object": []any{}, "relationships_as_subject": []any{}, "resources": res,
		"state": "active", "tags": tags, "title": d.Title, "type": "dataset", "url": nil, "version": nil}
	for k, v := range license {
		m[k] = v
	}
	return m
}

func (s *Server) packageShow(caller *User, p map[string]any) answer {
	d := s.datasetByRef(str(p, "id"))
	if d == nil {
		return notFound()
	}
	if !s.canRead(caller, d) {
		return denied(fmt.Sprintf("User %s not authorized to read package %s", callerName(caller), d.ID))
	}
	return ok(s.datasetDict(d))
}

// capacities that hold each permission, as CKAN's default roles define them.
func permits(capacity, permission string) bool {
	switch permission {
	case "read":
		return capacity != ""
	case "manage_group":
		return capacity == "admin"
	default: // create_dataset, update_dataset, delete_dataset, …
		return capacity == "editor" || capacity == "admin"
	}
}

func (s *Server) orgListForUser(caller *User, p map[string]any) answer {
	perm := str(p, "permission")
	if perm == "" {
		perm = "manage_group"
	}
	out := []any{}
	if caller == nil {
		return ok(out)
	}
	for _, o := range s.orgs {
		switch {
		case caller.Sysadmin:
			out = append(out, s.orgDict(o, "admin"))
		case permits(o.Members[caller.ID], perm):
			out = append(out, s.orgDict(o, o.Members[caller.ID]))
		}
	}
	return ok(out)
}

func (s *Server) collabListForUser(caller *User, p map[string]any) answer {
	if !s.CollaboratorsEnabled {
		return fail(http.StatusConflict, "Validation Error", "Dataset collaborators not enabled")
	}
	u := s.userByName(str(p, "id"))
	if u == nil {
		return notFound()
	}
	if caller == nil || (caller.ID != u.ID && !caller.Sysadmin) {
		return denied(fmt.Sprintf("User %s not authorized to list collaborators", callerName(caller)))
	}
	out := []any{}
	for _, d := range s.datasets {
		if c := d.Collaborators[u.ID]; c != "" {
			out = append(out, map[string]any{"package_id": d.ID, "user_id": u.ID, "capacity": c, "modified": ts(d.Modified)})
		}
	}
	return ok(out)
}

func (s *Server) collabList(caller *User, p map[string]any) answer {
	d := s.datasetByRef(str(p, "id"))
	if d == nil {
		return notFound()
	}
	isAdmin := caller != nil && (caller.Sysadmin || s.orgByRef(d.OwnerOrg) != nil && s.orgByRef(d.OwnerOrg).Members[caller.ID] == "admin")
	if !isAdmin {
		return denied(fmt.Sprintf("User %s not authorized to list collaborators from this dataset", callerName(caller)))
	}
	if !s.CollaboratorsEnabled {
		return fail(http.StatusConflict, "Validation Error", "Dataset collaborators not enabled")
	}
	out := []any{}
	for uid, c := range d.Collaborators {
		out = append(out, map[string]any{"package_id": d.ID, "user_id": uid, "capacity": c, "modified": ts(d.Modified)})
	}
	return ok(out)
}

func (s *Server) resourceShow(caller *User, p map[string]any) answer {
	d, i := s.resourceByID(str(p, "id"))
	if d == nil && s.deleted[str(p, "id")] {
		return fail(http.StatusNotFound, "Not Found Error", "Not found: Resource was not found.")
	}
	if d == nil {
		return notFound()
	}
	if !s.canRead(caller, d) {
		return denied(fmt.Sprintf("User %s not authorized to read resource %s", callerName(caller), str(p, "id")))
	}
	return ok(s.resourceDict(d.Resources[i]))
}

// coreResourceFields are present, null when unset, in every resource dict.
var coreResourceFields = []string{"cache_last_updated", "cache_url", "created", "description", "format", "hash",
	"id", "last_modified", "metadata_modified", "mimetype", "mimetype_inner", "name", "package_id", "position",
	"resource_type", "size", "state", "url", "url_type"}

// validate checks field types as CKAN's resource schema does.
func validateResource(p map[string]any) map[string][]string {
	errs := map[string][]string{}
	if v, has := p["size"]; has && v != nil {
		switch n := v.(type) {
		case float64:
			if n != float64(int64(n)) {
				errs["size"] = []string{"Invalid integer"}
			}
		case string:
			if _, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64); err != nil && n != "" {
				errs["size"] = []string{"Invalid integer"}
			}
		default:
			errs["size"] = []string{"Invalid integer"}
		}
	}
	for _, k := range []string{"url", "name", "description", "format", "hash", "mimetype", "id"} {
		if v, has := p[k]; has && v != nil {
			switch n := v.(type) {
			case string:
			case float64:
				// CKAN's unicode_safe turns a number into its text.
				p[k] = strconv.FormatFloat(n, 'f', -1, 64)
			default:
				errs[k] = []string{"Must be a string"}
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// normalize turns a validated resource into the stored dict.
func normalize(r map[string]any) {
	switch n := r["size"].(type) {
	case float64:
		r["size"] = int64(n)
	case string:
		if n == "" {
			r["size"] = nil
		} else {
			v, _ := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
			r["size"] = v
		}
	}
	if f, _ := r["format"].(string); f == "" {
		if u, _ := r["url"].(string); u != "" {
			if pu, err := url.Parse(u); err == nil {
				ext := strings.ToLower(path.Ext(pu.Path))
				if f := guessFormat(ext); f != "" {
					r["format"] = f
					if r["mimetype"] == nil {
						r["mimetype"] = mime.TypeByExtension(ext)
					}
				}
			}
		}
		if r["format"] == nil {
			r["format"] = ""
		}
	}
	if r["hash"] == nil {
		r["hash"] = ""
	}
}

func guessFormat(ext string) string {
	switch ext {
	case ".csv", ".json", ".xml", ".zip", ".pdf", ".xls", ".xlsx", ".txt", ".geojson", ".kml", ".html", ".rdf":
		return strings.ToUpper(strings.TrimPrefix(ext, "."))
	}
	return ""
}

func (s *Server) resourceCreate(caller *User, p map[string]any) answer {
	pkg := str(p, "package_id")
	if pkg == "" {
		return invalid(map[string][]string{"package_id": {"Missing value"}})
	}
	d := s.datasetByRef(pkg)
	if d == nil {
		return notFound()
	}
	if !s.canEdit(caller, d) {
		return denied(fmt.Sprintf("User %s not authorized to create resources on dataset %s", callerName(caller), pkg))
	}
	if errs := validateResource(p); errs != nil {
		return invalid(errs)
	}
	now := ts(s.now())
	r := map[string]any{}
	for _, k := range coreResourceFields {
		r[k] = nil
	}
	for k, v := range p {
		r[k] = v
	}
	r["package_id"] = d.ID
	r["state"] = "active"
	r["metadata_modified"] = now
	if id := str(p, "id"); id != "" {
		if od, i := s.resourceByID(id); od == d {
			s.saveOnto(d, i, r, p)
			return ok(s.resourceDict(d.Resources[len(d.Resources)-1]))
		} else if od != nil {
			// The id is another dataset's resource: CKAN takes it over
			// (resource_dict_save loads it by id alone), moving it here.
			od.Resources = append(od.Resources[:i:i], od.Resources[i+1:]...)
			od.Modified = s.now()
		}
	} else {
		r["id"] = newID()
	}
	r["created"] = now
	r["position"] = len(d.Resources)
	normalize(r)
	stripUploadURL(r)
	d.Resources = append(d.Resources, r)
	d.Modified = s.now()
	return ok(s.resourceDict(r))
}

func (s *Server) resourcePatch(caller *User, p map[string]any) answer {
	id := str(p, "id")
	if id == "" {
		return invalid(map[string][]string{"id": {"Missing value"}})
	}
	d, i := s.resourceByID(id)
	if d == nil {
		return notFound()
	}
	if !s.canEdit(caller, d) {
		return denied(fmt.Sprintf("User %s not authorized to edit resource %s", callerName(caller), id))
	}
	if errs := validateResource(p); errs != nil {
		return invalid(errs)
	}
	// resource_patch is resource_show (url as served) overlaid with the patch,
	// then resource_update: a resource whose url_type is cleared without a new
	// url keeps CKAN's download URL as a plain link.
	r := s.resourceDict(d.Resources[i])
	for k, v := range p {
		switch k {
		case "id", "package_id", "position", "created":
			continue
		}
		r[k] = v
	}
	r["metadata_modified"] = ts(s.now())
	normalize(r)
	stripUploadURL(r)
	d.Resources[i] = r
	d.Modified = s.now()
	return ok(s.resourceDict(r))
}

// removeIfNotProvided are the resource columns CKAN clears when a save does
// not send them (ckan/model/resource.py, doc='remove_if_not_provided'); every
// other column keeps its value.
var removeIfNotProvided = map[string]bool{"url": true, "description": true, "resource_type": true, "mimetype": true, "mimetype_inner": true}

// saveOnto stores r (built from the sent fields p) onto d's resource i, the
// way CKAN 2.10 handles a new resource whose id the dataset already holds
// (resource_create, package_revise's update__resources__extend): silently,
// keeping the core columns not sent except removeIfNotProvided, dropping the
// extras not sent, and moving the resource to the end of the dataset with
// position len(resources) (the list saved holds it twice; the other positions
// stay as they were). Call with s.mu held.
func (s *Server) saveOnto(d *Dataset, i int, r, p map[string]any) {
	old := d.Resources[i]
	for _, k := range coreResourceFields {
		if _, sent := p[k]; !sent && !removeIfNotProvided[k] {
			r[k] = old[k]
		}
	}
	now := ts(s.now())
	r["id"], r["package_id"], r["state"], r["metadata_modified"] = old["id"], d.ID, "active", now
	r["position"] = len(d.Resources)
	normalize(r)
	stripUploadURL(r)
	d.Resources = append(append(d.Resources[:i:i], d.Resources[i+1:]...), r)
	s.changed() // the positions after i moved
	d.Modified = s.now()
}

// stripUploadURL keeps only the file name of a url_type "upload" resource's
// url, as CKAN stores it (resource_dict_save: url.rsplit('/')[-1]).
func stripUploadURL(r map[string]any) {
	if u, _ := r["url"].(string); u != "" && r["url_type"] == "upload" {
		r["url"] = u[strings.LastIndex(u, "/")+1:]
	}
}

// resourceDict is a stored resource as CKAN answers it (resource_dictize): a
// url_type "upload" resource's url is CKAN's own download URL for the stored
// file name; a url without a scheme gets "http://".
func (s *Server) resourceDict(stored map[string]any) map[string]any {
	r := copyMap(stored)
	u, _ := r["url"].(string)
	switch {
	case r["url_type"] == "upload":
		r["url"] = fmt.Sprintf("%s/dataset/%s/resource/%s/download/%s", s.SiteURL, str(r, "package_id"), str(r, "id"),
			mungeFilename(u[strings.LastIndex(u, "/")+1:]))
	case u != "":
		if pu, err := url.Parse(u); err != nil || pu.Scheme == "" {
			r["url"] = "http://" + strings.TrimLeft(u, "/")
		}
	}
	return r
}

// mungeFilename tidies a file name as ckan.lib.munge.munge_filename does
// (lower case; letters, digits, "_", ".", "-"; spaces become "-"; 3 to 100
// characters, extension at most 21), except that non-ASCII letters are dropped
// rather than transliterated.
func mungeFilename(name string) string {
	name = strings.ToLower(strings.TrimSpace(path.Base("/" + name)))
	var b strings.Builder
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
			b.WriteRune(c)
		case c == ' ':
			b.WriteRune('-')
		}
	}
	name = b.String()
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if len(ext) > 21 {
		ext = ext[:21]
	}
	if minLen := max(1, 3-len(ext)); len(base) < minLen {
		base += strings.Repeat("_", minLen-len(base))
	}
	if maxLen := 100 - len(ext); len(base) > maxLen {
		base = base[:maxLen]
	}
	return base + ext
}

// SortedResourceNames lists a dataset's resource names, for tests.
func (s *Server) SortedResourceNames(dataset string) []string {
	var names []string
	for _, r := range s.Resources(dataset) {
		n, _ := r["name"].(string)
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
