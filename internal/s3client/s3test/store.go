// Package s3test is an in-memory S3 store served over HTTP for tests: enough
// of the API for ckanup (PutObject, HeadObject, GetObject, multipart uploads,
// ListParts, ListMultipartUploads, AbortMultipartUpload). It checks
// Content-MD5 and Content-Length like S3 and, when Strict is set, refuses any
// x-amz-checksum-* or x-amz-sdk-checksum-algorithm header with 400
// InvalidArgument, as Backblaze B2, Google Cloud Storage's XML API and older
// MinIO and Ceph releases do. It does not check signatures.
package s3test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Store is the in-memory S3. Its zero value is not usable: call New.
type Store struct {
	// Strict refuses checksum headers (see the package comment).
	Strict bool
	// Refusals counts requests refused for a checksum header.
	Refusals atomic.Int64
	// MD5Checked counts request bodies whose Content-MD5 was checked.
	MD5Checked atomic.Int64

	mu      sync.Mutex
	objects map[string]object // "bucket/key"
	uploads map[string]*upload
	nextID  int
}

type object struct {
	data  []byte
	etag  string
	meta  http.Header
	ctype string
}

type upload struct {
	bucket, key string
	meta        http.Header
	parts       map[int][]byte
}

// New returns an empty store.
func New(strict bool) *Store {
	return &Store{Strict: strict, objects: map[string]object{}, uploads: map[string]*upload{}}
}

// Object returns the bytes stored at bucket/key.
func (s *Store) Object(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+key]
	return o.data, ok
}

func fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return // a HEAD's answer has no body
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	b, _ := xml.Marshal(v)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

func etagOf(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

// body reads the request body, checking Content-MD5 when given.
func (s *Store) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		fail(w, r, 400, "IncompleteBody", err.Error())
		return nil, false
	}
	if cl := r.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(b)) {
		fail(w, r, 400, "IncompleteBody", "body shorter than Content-Length")
		return nil, false
	}
	if m := r.Header.Get("Content-MD5"); m != "" {
		s.MD5Checked.Add(1)
		sum := md5.Sum(b)
		if m != base64.StdEncoding.EncodeToString(sum[:]) {
			fail(w, r, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
			return nil, false
		}
	}
	return b, true
}

// ServeHTTP answers path-style requests: /bucket/key.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Strict {
		for name := range r.Header {
			l := strings.ToLower(name)
			if strings.HasPrefix(l, "x-amz-checksum-") || l == "x-amz-sdk-checksum-algorithm" {
				s.Refusals.Add(1)
				fail(w, r, 400, "InvalidArgument", "Unsupported header '"+l+"' received for this API call.")
				return
			}
		}
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		up, ok := s.uploads[q.Get("uploadId")]
		n, err := strconv.Atoi(q.Get("partNumber"))
		if !ok {
			fail(w, r, 404, "NoSuchUpload", "The specified upload does not exist.")
			return
		}
		if err != nil || n < 1 || n > 10000 {
			fail(w, r, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000")
			return
		}
		b, ok := s.body(w, r)
		if !ok {
			return
		}
		up.parts[n] = b
		w.Header().Set("ETag", etagOf(b))
	case r.Method == http.MethodPut:
		b, ok := s.body(w, r)
		if !ok {
			return
		}
		o := object{data: b, etag: etagOf(b), meta: metaOf(r.Header), ctype: r.Header.Get("Content-Type")}
		s.objects[bucket+"/"+key] = o
		w.Header().Set("ETag", o.etag)
	case r.Method == http.MethodPost && q.Has("uploads"):
		s.nextID++
		id := fmt.Sprintf("upload-%d", s.nextID)
		s.uploads[id] = &upload{bucket: bucket, key: key, meta: metaOf(r.Header), parts: map[int][]byte{}}
		writeXML(w, struct {
			XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
			Bucket   string
			Key      string
			UploadId string
		}{Bucket: bucket, Key: key, UploadId: id})
	case r.Method == http.MethodPost && q.Has("uploadId"):
		s.complete(w, r, bucket, key, q.Get("uploadId"))
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		if _, ok := s.uploads[q.Get("uploadId")]; !ok {
			fail(w, r, 404, "NoSuchUpload", "The specified upload does not exist.")
			return
		}
		delete(s.uploads, q.Get("uploadId"))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && q.Has("uploadId"):
		s.listParts(w, r, q.Get("uploadId"))
	case r.Method == http.MethodGet && q.Has("uploads"):
		s.listUploads(w, bucket, q.Get("prefix"))
	case r.Method == http.MethodHead || r.Method == http.MethodGet:
		o, ok := s.objects[bucket+"/"+key]
		if !ok {
			fail(w, r, 404, "NoSuchKey", "The specified key does not exist.")
			return
		}
		for k, v := range o.meta {
			w.Header()[k] = v
		}
		w.Header().Set("ETag", o.etag)
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
		if o.ctype != "" {
			w.Header().Set("Content-Type", o.ctype)
		}
		if r.Method == http.MethodGet {
			w.Write(o.data)
		}
	default:
		fail(w, r, 501, "NotImplemented", "not implemented by the test store")
	}
}

func metaOf(h http.Header) http.Header {
	m := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") {
			m[k] = v
		}
	}
	return m
}

func (s *Store) complete(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	up, ok := s.uploads[id]
	if !ok {
		fail(w, r, 404, "NoSuchUpload", "The specified upload does not exist.")
		return
	}
	var req struct {
		Parts []struct {
			PartNumber int
			ETag       string
		} `xml:"Part"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := xml.Unmarshal(b, &req); err != nil || len(req.Parts) == 0 {
		fail(w, r, 400, "MalformedXML", "The XML you provided was not well-formed")
		return
	}
	var data []byte
	h := md5.New()
	for i, p := range req.Parts {
		pb, ok := up.parts[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != strings.Trim(etagOf(pb), `"`) {
			fail(w, r, 400, "InvalidPart", "One or more of the specified parts could not be found.")
			return
		}
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			fail(w, r, 400, "InvalidPartOrder", "The list of parts was not in ascending order.")
			return
		}
		if i < len(req.Parts)-1 && len(pb) < 5<<20 {
			fail(w, r, 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
			return
		}
		sum := md5.Sum(pb)
		h.Write(sum[:])
		data = append(data, pb...)
	}
	etag := fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(req.Parts))
	s.objects[bucket+"/"+key] = object{data: data, etag: etag, meta: up.meta}
	delete(s.uploads, id)
	writeXML(w, struct {
		XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
		Bucket  string
		Key     string
		ETag    string
	}{Bucket: bucket, Key: key, ETag: etag})
}

func (s *Store) listParts(w http.ResponseWriter, r *http.Request, id string) {
	up, ok := s.uploads[id]
	if !ok {
		fail(w, r, 404, "NoSuchUpload", "The specified upload does not exist.")
		return
	}
	type part struct {
		PartNumber int
		ETag       string
		Size       int
	}
	out := struct {
		XMLName     xml.Name `xml:"ListPartsResult"`
		UploadId    string
		IsTruncated bool
		Parts       []part `xml:"Part"`
	}{UploadId: id}
	var nums []int
	for n := range up.parts {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		out.Parts = append(out.Parts, part{PartNumber: n, ETag: etagOf(up.parts[n]), Size: len(up.parts[n])})
	}
	writeXML(w, out)
}

func (s *Store) listUploads(w http.ResponseWriter, bucket, prefix string) {
	type item struct {
		Key      string
		UploadId string
	}
	out := struct {
		XMLName     xml.Name `xml:"ListMultipartUploadsResult"`
		Bucket      string
		IsTruncated bool
		Uploads     []item `xml:"Upload"`
	}{Bucket: bucket}
	var ids []string
	for id, up := range s.uploads {
		if up.bucket == bucket && strings.HasPrefix(up.key, prefix) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		out.Uploads = append(out.Uploads, item{Key: s.uploads[id].key, UploadId: id})
	}
	writeXML(w, out)
}
