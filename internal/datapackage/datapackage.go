// Package datapackage reads, checks and updates Frictionless Data Package
// descriptors (datapackage.json): a dataset's metadata and its resources.
//
// The fields read are those of the Data Package and Data Resource
// specifications (https://specs.frictionlessdata.io/data-package/,
// https://specs.frictionlessdata.io/data-resource/): name, title, description,
// licenses, keywords and resources[] with path, name, title, description,
// format, mediatype, bytes and hash. Every other field is kept untouched when
// the descriptor is written back.
//
// The checks are explicit rather than a JSON-Schema validation: each names the
// file and the field (resources[2].path) and says what the value must be, and
// they add the rules CKAN sets on top of the specification (a dataset name is
// 2–100 characters of a–z, 0–9, - and _).
package datapackage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// FileName is the descriptor's standard file name inside a data package's
// directory.
const FileName = "datapackage.json"

// Package is a data package descriptor.
type Package struct {
	// File is the descriptor's path; Dir its directory, against which the
	// resources' relative paths are resolved.
	File, Dir   string
	Name        string
	Title       string
	Description string
	Licenses    []License
	Keywords    []string
	Resources   []Resource
	// Has records which top-level metadata fields the descriptor sets
	// ("title", "description", "licenses", "keywords"), so an update touches
	// only those.
	Has map[string]bool
}

// License is an entry of licenses: name is an Open Definition license id
// (e.g. "CC-BY-4.0", "ODC-PDDL-1.0").
type License struct {
	Name  string `json:"name,omitempty"`
	Path  string `json:"path,omitempty"`
	Title string `json:"title,omitempty"`
}

// Resource is an entry of resources.
type Resource struct {
	// Index is the resource's position in resources, for messages.
	Index       int
	Name        string
	Path        string // relative POSIX path or http(s) URL, as written
	Title       string
	Description string
	Format      string
	Mediatype   string
	// Bytes is the size the descriptor states (nil: none); Hash its hash as
	// written ("sha256:…"; without a prefix the specification means MD5).
	Bytes *int64
	Hash  string
}

// Remote reports whether the resource's path is an http(s) URL.
func (r *Resource) Remote() bool {
	return strings.HasPrefix(r.Path, "http://") || strings.HasPrefix(r.Path, "https://")
}

// LocalPath is the file a local resource names, resolved against the
// descriptor's directory.
func (p *Package) LocalPath(r *Resource) string {
	return filepath.Join(p.Dir, filepath.FromSlash(r.Path))
}

// ResourceName is the CKAN resource name: the descriptor's name, else the
// last element of its path.
func (r *Resource) ResourceName() string {
	if r.Name != "" {
		return r.Name
	}
	return path.Base(r.Path)
}

// FieldError is a descriptor field that breaks a rule.
type FieldError struct {
	File  string
	Field string // e.g. "name", "resources[2].path"
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
}

var (
	// ckanName is CKAN's rule for dataset names (ckan/logic/validators.py,
	// name_validator): 2–100 characters of lowercase letters, digits, - and _.
	ckanName = regexp.MustCompile(`^[a-z0-9_-]{2,100}$`)
	// specName is the specification's rule for names: lowercase alphanumerics
	// plus ".", "-" and "_".
	specName  = regexp.MustCompile(`^[a-z0-9._-]+$`)
	hexDigest = regexp.MustCompile(`^[0-9a-fA-F]+$`)
)

// Find returns the descriptor path for arg: arg itself when it is a file, else
// datapackage.json inside the directory arg.
func Find(arg string) (string, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return arg, nil
	}
	p := filepath.Join(arg, FileName)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s holds no %s: %w", arg, FileName, err)
	}
	return p, nil
}

// Load reads and checks the descriptor at file (a datapackage.json, or a
// directory holding one). Errors are *FieldError for a field that breaks a
// rule, or the read or JSON error naming the file.
func Load(file string) (*Package, error) {
	file, err := Find(file)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, raw)
}

// Parse reads and checks a descriptor's bytes; file names it in errors and
// gives the directory its local paths are resolved against.
func Parse(file string, raw []byte) (*Package, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", file, err)
	}
	if top == nil {
		return nil, &FieldError{file, "(descriptor)", "must be a JSON object"}
	}
	p := &Package{File: file, Dir: filepath.Dir(file), Has: map[string]bool{}}
	bad := func(field, msg string, a ...any) error { return &FieldError{file, field, fmt.Sprintf(msg, a...)} }

	if err := str(top, "name", &p.Name); err != nil {
		return nil, bad("name", "%v", err)
	}
	switch {
	case p.Name == "":
		return nil, bad("name", "required: the CKAN dataset's name (2–100 characters of a–z, 0–9, - and _)")
	case !ckanName.MatchString(p.Name):
		return nil, bad("name", "%q is not a CKAN dataset name: use 2–100 characters of a–z, 0–9, - and _", p.Name)
	}
	for field, dst := range map[string]*string{"title": &p.Title, "description": &p.Description} {
		if err := str(top, field, dst); err != nil {
			return nil, bad(field, "%v", err)
		}
		_, p.Has[field] = top[field]
	}
	if v, ok := top["licenses"]; ok {
		p.Has["licenses"] = true
		var ls []json.RawMessage
		if err := json.Unmarshal(v, &ls); err != nil {
			return nil, bad("licenses", "must be a list of objects with a name or path")
		}
		for i, l := range ls {
			var lic License
			var o map[string]json.RawMessage
			if json.Unmarshal(l, &o) != nil || o == nil {
				return nil, bad(fmt.Sprintf("licenses[%d]", i), "must be an object with a name or path")
			}
			for field, dst := range map[string]*string{"name": &lic.Name, "path": &lic.Path, "title": &lic.Title} {
				if err := str(o, field, dst); err != nil {
					return nil, bad(fmt.Sprintf("licenses[%d].%s", i, field), "%v", err)
				}
			}
			if lic.Name == "" && lic.Path == "" {
				return nil, bad(fmt.Sprintf("licenses[%d]", i), "needs a name (an Open Definition license id such as CC-BY-4.0) or a path")
			}
			p.Licenses = append(p.Licenses, lic)
		}
	}
	if v, ok := top["keywords"]; ok {
		p.Has["keywords"] = true
		if err := json.Unmarshal(v, &p.Keywords); err != nil {
			return nil, bad("keywords", "must be a list of strings")
		}
		for i, k := range p.Keywords {
			if strings.TrimSpace(k) == "" {
				return nil, bad(fmt.Sprintf("keywords[%d]", i), "must not be empty")
			}
		}
	}
	v, ok := top["resources"]
	if !ok {
		return nil, bad("resources", "required: a list of at least one resource")
	}
	var rs []json.RawMessage
	if err := json.Unmarshal(v, &rs); err != nil || len(rs) == 0 {
		return nil, bad("resources", "must be a list of at least one resource")
	}
	names := map[string]int{}
	for i, r := range rs {
		res, err := parseResource(i, r, bad)
		if err != nil {
			return nil, err
		}
		n := res.ResourceName()
		if j, dup := names[n]; dup {
			return nil, bad(fmt.Sprintf("resources[%d].name", i), "%q is also the name of resources[%d]: resource names must be unique", n, j)
		}
		names[n] = i
		p.Resources = append(p.Resources, res)
	}
	return p, nil
}

func parseResource(i int, raw json.RawMessage, bad func(string, string, ...any) error) (Resource, error) {
	at := func(f string) string { return fmt.Sprintf("resources[%d].%s", i, f) }
	r := Resource{Index: i}
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil || o == nil {
		return r, bad(fmt.Sprintf("resources[%d]", i), "must be an object")
	}
	for field, dst := range map[string]*string{"name": &r.Name, "title": &r.Title, "description": &r.Description,
		"format": &r.Format, "mediatype": &r.Mediatype, "hash": &r.Hash} {
		if err := str(o, field, dst); err != nil {
			return r, bad(at(field), "%v", err)
		}
	}
	if r.Name != "" && !specName.MatchString(r.Name) {
		return r, bad(at("name"), "%q: use lowercase letters, digits, ., - and _ (Data Resource specification)", r.Name)
	}
	pv, ok := o["path"]
	if !ok {
		if _, inline := o["data"]; inline {
			return r, bad(at("data"), "inline data is not supported: put the data in a file and name it in path")
		}
		return r, bad(at("path"), "required: a relative path or an http(s) URL")
	}
	if err := json.Unmarshal(pv, &r.Path); err != nil {
		var parts []string
		if json.Unmarshal(pv, &parts) == nil {
			return r, bad(at("path"), "a list of paths (a chunked resource) is not supported: name one file")
		}
		return r, bad(at("path"), "must be a string")
	}
	switch {
	case r.Path == "":
		return r, bad(at("path"), "must not be empty")
	case r.Remote():
		if u, err := url.Parse(r.Path); err != nil || u.Host == "" {
			return r, bad(at("path"), "%q is not a valid URL", r.Path)
		}
	case strings.Contains(r.Path, "://"):
		return r, bad(at("path"), "%q: only http and https URLs are supported", r.Path)
	case strings.HasPrefix(r.Path, "/") || strings.HasPrefix(r.Path, "~") || filepath.IsAbs(r.Path):
		return r, bad(at("path"), "%q is absolute: the specification requires a path relative to the descriptor", r.Path)
	case strings.Contains(r.Path, "\\"):
		return r, bad(at("path"), "%q: use / between directories (POSIX paths)", r.Path)
	case hasDotDot(r.Path):
		return r, bad(at("path"), "%q leaves the descriptor's directory: the specification forbids ..", r.Path)
	}
	if bv, ok := o["bytes"]; ok && string(bv) != "null" {
		var n json.Number
		d := json.NewDecoder(bytes.NewReader(bv))
		d.UseNumber()
		if err := d.Decode(&n); err != nil || bv[0] == '"' {
			return r, bad(at("bytes"), "must be a whole number of bytes")
		}
		b, err := n.Int64()
		if err != nil || b < 0 {
			return r, bad(at("bytes"), "must be a whole number of bytes, not %s", n)
		}
		r.Bytes = &b
	}
	if r.Hash != "" {
		alg, sum, ok := strings.Cut(r.Hash, ":")
		if !ok {
			alg, sum = "md5", r.Hash
		}
		if !hexDigest.MatchString(sum) || alg == "" {
			return r, bad(at("hash"), "%q: write {algorithm}:{hex digest}, e.g. sha256:…, or an MD5 digest alone", r.Hash)
		}
	}
	return r, nil
}

func hasDotDot(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}

// str reads an optional string field.
func str(o map[string]json.RawMessage, field string, dst *string) error {
	v, ok := o[field]
	if !ok || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return errors.New("must be a string")
	}
	return nil
}

// LicenseID is the CKAN license id: the first license's name ("" when none).
func (p *Package) LicenseID() string {
	if len(p.Licenses) == 0 {
		return ""
	}
	return p.Licenses[0].Name
}
