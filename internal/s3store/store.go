// Package s3store is a small S3-compatible object store that keeps objects on
// disk. It serves `ckanup sandbox` and fast in-process tests, and implements
// what ckanup relies on the way S3 does: path-style buckets; PutObject,
// multipart uploads (Create, UploadPart, ListParts with paging, Complete with
// part-order, ETag and size checks, Abort), ListMultipartUploads, HeadObject
// and GetObject (with Range), DeleteObject, ListObjectsV2; Content-MD5,
// x-amz-content-sha256 and x-amz-checksum-* verification; composite CRC32C
// checksums; aws-chunked bodies. It checks the access key of each request but
// not its signature: it is a local sandbox, not a security boundary.
//
// Memory stays flat: bodies stream to disk, part listings read one part's
// metadata at a time.
package s3store

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Store keeps buckets under a root directory.
type Store struct {
	root string
	// AccessKey, when set, must be the access key id of every signed request.
	AccessKey string
	// CheckKey, when set, vets each signed request's access key and session
	// token (X-Amz-Security-Token): it returns "" to accept, or the S3 error
	// code to refuse with ("ExpiredToken", "InvalidAccessKeyId", …). It replaces
	// the AccessKey check.
	CheckKey func(accessKey, sessionToken string) string
	// AnonymousRead lets unsigned GET and HEAD requests read objects, like a
	// public-read bucket serving a portal's downloads.
	AnonymousRead bool
	// MinPartSize is the smallest part (but the last) Complete accepts. Default 5 MiB.
	MinPartSize int64
	mu          sync.Mutex // guards Complete/Abort against each other
	now         func() time.Time
}

// New opens (creating) a store rooted at dir.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	return &Store{root: dir, MinPartSize: 5 << 20, now: time.Now}, nil
}

// CreateBucket makes a bucket if it does not exist.
func (s *Store) CreateBucket(name string) error {
	if !validBucket(name) {
		return fmt.Errorf("invalid bucket name %q", name)
	}
	for _, d := range []string{"objects", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.root, name, d), 0o700); err != nil {
			return err
		}
	}
	return nil
}

func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func (s *Store) bucketExists(b string) bool {
	if !validBucket(b) {
		return false
	}
	fi, err := os.Stat(filepath.Join(s.root, b, "objects"))
	return err == nil && fi.IsDir()
}

// objectMeta is stored beside each object's data.
type objectMeta struct {
	Key          string            `json:"key"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"`
	ContentType  string            `json:"content_type,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	LastModified time.Time         `json:"last_modified"`
	// Checksums by algorithm name ("CRC32C", …), base64 as S3 returns them.
	Checksums    map[string]string `json:"checksums,omitempty"`
	ChecksumType string            `json:"checksum_type,omitempty"` // COMPOSITE or FULL_OBJECT
}

// uploadMeta describes an open multipart upload.
type uploadMeta struct {
	Key               string            `json:"key"`
	UploadID          string            `json:"upload_id"`
	Initiated         time.Time         `json:"initiated"`
	ContentType       string            `json:"content_type,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	ChecksumAlgorithm string            `json:"checksum_algorithm,omitempty"`
}

// partMeta describes one uploaded part.
type partMeta struct {
	Number       int               `json:"number"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"`
	LastModified time.Time         `json:"last_modified"`
	Checksums    map[string]string `json:"checksums,omitempty"`
}

func keyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

func (s *Store) objPath(b, key string) string {
	return filepath.Join(s.root, b, "objects", keyHash(key))
}

func (s *Store) uploadDir(b, id string) string { return filepath.Join(s.root, b, "uploads", id) }

func newUploadID() string {
	var x [18]byte
	if _, err := rand.Read(x[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(x[:])
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp" + newUploadID()[:8]
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (s *Store) headObject(b, key string) (*objectMeta, error) {
	var m objectMeta
	if err := readJSON(s.objPath(b, key)+".json", &m); err != nil {
		return nil, err
	}
	if m.Key != key {
		return nil, os.ErrNotExist
	}
	return &m, nil
}

func (s *Store) upload(b, key, id string) (*uploadMeta, error) {
	if strings.ContainsAny(id, "/\\.") || id == "" {
		return nil, os.ErrNotExist
	}
	var m uploadMeta
	if err := readJSON(filepath.Join(s.uploadDir(b, id), "upload.json"), &m); err != nil {
		return nil, err
	}
	if m.Key != key {
		return nil, os.ErrNotExist
	}
	return &m, nil
}

// parts lists an upload's parts in number order.
func (s *Store) parts(b, id string) ([]partMeta, error) {
	ents, err := os.ReadDir(s.uploadDir(b, id))
	if err != nil {
		return nil, err
	}
	var nums []int
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "part-") && strings.HasSuffix(name, ".json") {
			if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "part-"), ".json")); err == nil {
				nums = append(nums, n)
			}
		}
	}
	sort.Ints(nums)
	out := make([]partMeta, 0, len(nums))
	for _, n := range nums {
		var pm partMeta
		if err := readJSON(filepath.Join(s.uploadDir(b, id), fmt.Sprintf("part-%05d.json", n)), &pm); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		out = append(out, pm)
	}
	return out, nil
}

// etagOfParts is S3's multipart ETag: MD5 of the parts' binary MD5s, "-N".
func etagOfParts(etags []string) string {
	h := md5.New()
	for _, e := range etags {
		b, _ := hex.DecodeString(strings.Trim(e, `"`))
		h.Write(b)
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(etags))
}
