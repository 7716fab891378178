// Package journal records multipart uploads in progress so that an interrupted
// upload can be resumed by running the same command again.
//
// Entries live in $XDG_STATE_HOME/ckanup/uploads/ (directory 0700, files 0600),
// one JSON file per (CKAN site, dataset, local file), replaced atomically on each
// write so that a crash leaves either the old or the new state. A lock file per
// entry keeps two ckanup processes off the same upload. The journal is a hint:
// S3's ListParts is the truth about which parts exist.
package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/fsutil"
)

// Version of the entry format.
const Version = 1

// ErrCorrupt reports an entry that cannot be read; it has been set aside.
var ErrCorrupt = errors.New("upload journal entry is corrupt")

// FileState identifies the local file an upload was reading.
type FileState struct {
	Path  string `json:"path"` // absolute
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
	// Fingerprint is the SHA-256 of the file's first and last MiB.
	Fingerprint string `json:"fingerprint"`
}

// Part is one part S3 acknowledged.
type Part struct {
	Number int    `json:"n"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
	CRC32C string `json:"crc32c"`
}

// Entry is one upload in progress.
type Entry struct {
	Version      int    `json:"version"`
	Site         string `json:"site"`
	DatasetID    string `json:"dataset_id"`
	DatasetName  string `json:"dataset_name"`
	ResourceID   string `json:"resource_id"`
	ResourceName string `json:"resource_name"`
	Bucket       string `json:"bucket"`
	Key          string `json:"key"`
	Endpoint     string `json:"endpoint,omitempty"`
	UploadID     string `json:"upload_id"`
	PartSize     int64  `json:"part_size"`
	// Checksum is the upload's checksum mode (crc32c, crc64nvme, md5, off;
	// empty in entries written before it was kept: crc32c).
	Checksum string    `json:"checksum,omitempty"`
	File     FileState `json:"file"`
	Parts    []Part    `json:"parts"`
	// Completed is set once CompleteMultipartUpload succeeded: only the CKAN
	// registration is left.
	Completed bool      `json:"completed,omitempty"`
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`
	// Args are the command-line arguments that resume the upload.
	Args []string `json:"args,omitempty"`
	// Dir is the working directory Args were given in (relative paths in
	// them are relative to it).
	Dir string `json:"dir,omitempty"`
}

// BytesDone is the size of the recorded parts.
func (e *Entry) BytesDone() int64 {
	var n int64
	for _, p := range e.Parts {
		n += p.Size
	}
	return n
}

// Store is a journal directory.
type Store struct {
	dir string
}

// Dir is $CKANUP_STATE_DIR, else $XDG_STATE_HOME/ckanup, else
// ~/.local/state/ckanup.
func Dir(getenv func(string) string) (string, error) {
	if d := getenv("CKANUP_STATE_DIR"); d != "" {
		return d, nil
	}
	return fsutil.XDGDir(getenv, "XDG_STATE_HOME", filepath.Join(".local", "state"))
}

// Open opens (creating) the journal under stateDir.
func Open(stateDir string) (*Store, error) {
	dir := filepath.Join(stateDir, "uploads")
	if err := fsutil.PrivateDir(stateDir); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := fsutil.PrivateDir(dir); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	st := &Store{dir: dir}
	st.removeIdleLocks()
	return st, nil
}

// ID names the entry of one local file uploaded to one dataset of one site.
func ID(site, datasetID, absPath string) string {
	h := sha256.Sum256([]byte(site + "\x00" + datasetID + "\x00" + absPath))
	return hex.EncodeToString(h[:16])
}

func (s *Store) path(id string) string { return filepath.Join(s.dir, id+".json") }

// Load reads an entry. It returns (nil, nil) when there is none, and ErrCorrupt
// (after moving the file aside) when it cannot be parsed.
func (s *Store) Load(id string) (*Entry, error) {
	b, err := os.ReadFile(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	e, perr := Parse(b)
	if perr != nil {
		aside := s.path(id) + ".corrupt-" + time.Now().UTC().Format("20060102T150405")
		if err := os.Rename(s.path(id), aside); err != nil {
			return nil, fmt.Errorf("%w (%v), and it could not be set aside: %v", ErrCorrupt, perr, err)
		}
		return nil, fmt.Errorf("%w (%v): kept a copy in %s", ErrCorrupt, perr, aside)
	}
	return e, nil
}

// Parse decodes and checks an entry.
func Parse(b []byte) (*Entry, error) {
	var e Entry
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	switch {
	case e.Version != Version:
		return nil, fmt.Errorf("version %d, want %d", e.Version, Version)
	case e.Bucket == "" || e.Key == "" || e.UploadID == "" || e.File.Path == "":
		return nil, errors.New("missing bucket, key, upload id or file")
	case e.PartSize <= 0 || e.File.Size < 0:
		return nil, errors.New("bad part size or file size")
	}
	for _, p := range e.Parts {
		if p.Number < 1 || p.Size < 0 {
			return nil, fmt.Errorf("bad part %d", p.Number)
		}
	}
	return &e, nil
}

// Save writes an entry atomically.
func (s *Store) Save(id string, e *Entry) error {
	e.Version = Version
	sort.Slice(e.Parts, func(i, j int) bool { return e.Parts[i].Number < e.Parts[j].Number })
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(s.path(id), b); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Delete removes an entry (no error if there is none).
func (s *Store) Delete(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Listed is an entry with its id, or why it could not be read.
type Listed struct {
	ID    string
	Entry *Entry
	Err   error
}

// List returns every entry.
func (s *Store) List() ([]Listed, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []Listed
	for _, d := range ents {
		name := d.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		id := strings.TrimSuffix(name, ".json")
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			out = append(out, Listed{ID: id, Err: err})
			continue
		}
		e, err := Parse(b)
		out = append(out, Listed{ID: id, Entry: e, Err: err})
	}
	return out, nil
}

// Fingerprint hashes the first and last MiB of a file (the whole file when it is
// smaller than 2 MiB): cheap, and catches most in-place edits that keep size and mtime.
func Fingerprint(f io.ReaderAt, size int64) (string, error) {
	const mib = 1 << 20
	h := sha256.New()
	head := min(size, mib)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, head)); err != nil {
		return "", err
	}
	if size > head {
		tailOff := max(head, size-mib)
		if _, err := io.Copy(h, io.NewSectionReader(f, tailOff, size-tailOff)); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// StateOf describes a local file for an entry.
func StateOf(path string) (FileState, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return FileState{}, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return FileState{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return FileState{}, err
	}
	fp, err := Fingerprint(f, fi.Size())
	if err != nil {
		return FileState{}, err
	}
	return FileState{Path: abs, Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Fingerprint: fp}, nil
}

// Changed says how a file differs from the recorded state, or "" if it does not.
func (fs FileState) Changed(now FileState) string {
	switch {
	case fs.Size != now.Size:
		return fmt.Sprintf("its size changed from %d to %d bytes", fs.Size, now.Size)
	case fs.MTime != now.MTime:
		return "it was modified"
	case fs.Fingerprint != now.Fingerprint:
		return "its content changed"
	}
	return ""
}
