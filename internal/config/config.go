// Package config stores ckanup's login profiles in $XDG_CONFIG_HOME/ckanup/
// (directory 0700, file 0600), written atomically.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/ckanup/ckanup/internal/fsutil"
)

// FileName is the profile file inside the config directory.
const FileName = "config.json"

// Profile is one CKAN site login.
type Profile struct {
	CKANURL  string `json:"ckan_url"`
	APIToken string `json:"api_token"`
	User     string `json:"user,omitempty"`
	// TokenURL is the ckanup token endpoint for this site, if it has one.
	TokenURL string `json:"token_url,omitempty"`
	// TokenHeader is the header the API token is sent in ("Authorization",
	// "X-CKAN-API-Key"); empty sends both (see ckan.ParseTokenHeader).
	TokenHeader string `json:"token_header,omitempty"`
	// StoredSettings are the S3 and upload settings kept with the login
	// (`ckanup config set`); see Resolve.
	StoredSettings
}

// File is the whole profile file.
type File struct {
	Profiles map[string]Profile `json:"profiles"`
}

// Names lists the profile names in order.
func (f *File) Names() []string {
	var n []string
	for k := range f.Profiles {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Dir is $XDG_CONFIG_HOME/ckanup, or ~/.config/ckanup.
func Dir(getenv func(string) string) (string, error) {
	return fsutil.XDGDir(getenv, "XDG_CONFIG_HOME", ".config")
}

// ErrInsecure reports a profile file that others can read.
var ErrInsecure = errors.New("profile file is readable by other users")

// Load reads the profile file in dir. A missing file is an empty File. A file
// that group or others may read is refused with ErrInsecure, since it holds tokens.
func Load(dir string) (*File, error) {
	p := filepath.Join(dir, FileName)
	f := &File{Profiles: map[string]Profile{}}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: %w; run `chmod 600 %s`", p, fi.Mode().Perm(), ErrInsecure, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if err := Parse(b, f); err != nil {
		return nil, fmt.Errorf("%s: %w (fix it, or delete it and run `ckanup login` again)", p, err)
	}
	return f, nil
}

// Parse decodes a profile file's contents.
func Parse(b []byte, f *File) error {
	if err := json.Unmarshal(b, f); err != nil {
		return fmt.Errorf("not a valid profile file: %w", err)
	}
	if f.Profiles == nil {
		f.Profiles = map[string]Profile{}
	}
	return nil
}

// Save writes f to dir atomically: temporary file 0600, fsync, rename, fsync dir.
func Save(dir string, f *File) (string, error) {
	if err := fsutil.PrivateDir(dir); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, FileName)
	if err := fsutil.WriteFileAtomic(p, b); err != nil {
		return "", err
	}
	return p, nil
}
