package s3store

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// s3Error is an S3 error answer.
type s3Error struct {
	status int
	code   string
	msg    string
}

func (e *s3Error) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, a ...any) *s3Error {
	return &s3Error{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

var (
	errNoSuchBucket = errorf(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	errNoSuchKey    = errorf(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	errNoSuchUpload = errorf(http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist.")
)

func writeError(w http.ResponseWriter, r *http.Request, e *s3Error) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead {
		return
	}
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName  xml.Name `xml:"Error"`
		Code     string
		Message  string
		Resource string
	}{Code: e.code, Message: e.msg, Resource: r.URL.Path})
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(v)
}

// accessKey extracts the access key id of a SigV4 header- or query-signed request.
func accessKey(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if a := r.Header.Get("Authorization"); a != "" {
		if i := strings.Index(a, "Credential="); i >= 0 {
			cred = a[i+len("Credential="):]
		}
	}
	if i := strings.IndexByte(cred, '/'); i >= 0 {
		return cred[:i]
	}
	return ""
}

// ServeHTTP answers path-style S3 requests.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amz-request-id", newUploadID()[:16])
	anonymousRead := s.AnonymousRead && accessKey(r) == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.Contains(strings.TrimPrefix(r.URL.Path, "/"), "/") && r.URL.RawQuery == ""
	if s.CheckKey != nil && !anonymousRead {
		if code := s.CheckKey(accessKey(r), r.Header.Get("X-Amz-Security-Token")); code != "" {
			status := http.StatusForbidden
			if code == "ExpiredToken" {
				status = http.StatusBadRequest
			}
			writeError(w, r, errorf(status, code, "The provided token is not valid or has expired."))
			return
		}
	} else if s.AccessKey != "" && accessKey(r) != s.AccessKey && !anonymousRead {
		writeError(w, r, errorf(http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."))
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(p, "/")
	q := r.URL.Query()
	var err *s3Error
	switch {
	case bucket == "":
		err = s.listBuckets(w, r)
	case key == "":
		err = s.bucketOp(w, r, bucket)
	case !s.bucketExists(bucket):
		err = errNoSuchBucket
	case len(key) > 1024:
		err = errorf(http.StatusBadRequest, "KeyTooLongError", "Your key is too long")
	case r.Method == http.MethodPost && q.Has("uploads"):
		err = s.createUpload(w, r, bucket, key)
	case r.Method == http.MethodPut && q.Has("uploadId"):
		if r.Header.Get("x-amz-copy-source") != "" {
			err = errorf(http.StatusNotImplemented, "NotImplemented", "UploadPartCopy is not supported")
		} else {
			err = s.uploadPart(w, r, bucket, key)
		}
	case r.Method == http.MethodPost && q.Has("uploadId"):
		err = s.complete(w, r, bucket, key)
	case r.Method == http.MethodGet && q.Has("uploadId"):
		err = s.listParts(w, r, bucket, key)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		err = s.abort(w, r, bucket, key)
	case r.Method == http.MethodPut:
		if r.Header.Get("x-amz-copy-source") != "" {
			err = errorf(http.StatusNotImplemented, "NotImplemented", "CopyObject is not supported")
		} else {
			err = s.putObject(w, r, bucket, key)
		}
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		err = s.getObject(w, r, bucket, key)
	case r.Method == http.MethodDelete:
		err = s.deleteObject(w, bucket, key)
	default:
		err = errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	if err != nil {
		writeError(w, r, err)
	}
}

func internal(err error) *s3Error {
	return errorf(http.StatusInternalServerError, "InternalError", "%v", err)
}

func (s *Store) listBuckets(w http.ResponseWriter, r *http.Request) *s3Error {
	if r.Method != http.MethodGet {
		return errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
	}
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return internal(err)
	}
	type bucket struct{ Name, CreationDate string }
	var bs []bucket
	for _, e := range ents {
		if s.bucketExists(e.Name()) {
			bs = append(bs, bucket{Name: e.Name(), CreationDate: s.now().UTC().Format(time.RFC3339)})
		}
	}
	writeXML(w, struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		Buckets []bucket `xml:"Buckets>Bucket"`
	}{Buckets: bs})
	return nil
}

func (s *Store) bucketOp(w http.ResponseWriter, r *http.Request, bucket string) *s3Error {
	q := r.URL.Query()
	switch r.Method {
	case http.MethodPut:
		if !validBucket(bucket) {
			return errorf(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
		}
		if err := s.CreateBucket(bucket); err != nil {
			return internal(err)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodHead:
		if !s.bucketExists(bucket) {
			return errNoSuchBucket
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodGet:
		if !s.bucketExists(bucket) {
			return errNoSuchBucket
		}
		if q.Has("uploads") {
			return s.listUploads(w, r, bucket)
		}
		if q.Has("location") {
			writeXML(w, struct {
				XMLName xml.Name `xml:"LocationConstraint"`
			}{})
			return nil
		}
		return s.listObjects(w, r, bucket)
	}
	return errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

// checksumHeaders are the x-amz-checksum-* algorithms the store verifies.
var checksumHeaders = map[string]func() hash.Hash{
	"CRC32":  func() hash.Hash { return crc32.NewIEEE() },
	"CRC32C": func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"SHA1":   sha1.New,
	"SHA256": sha256.New,
}

// received is a request body stored in a temporary file with its digests.
type received struct {
	path      string
	size      int64
	md5hex    string
	checksums map[string]string // algorithm → base64, those sent by the client
}

// receive streams the request body to a temporary file, decoding aws-chunked
// framing, and verifies Content-MD5, x-amz-content-sha256 and x-amz-checksum-*.
func (s *Store) receive(r *http.Request, bucket string) (*received, *s3Error) {
	tmp, err := os.CreateTemp(filepath.Join(s.root, bucket, "tmp"), "body-")
	if err != nil {
		return nil, internal(err)
	}
	rec := &received{path: tmp.Name(), checksums: map[string]string{}}
	ok := false
	defer func() {
		tmp.Close()
		if !ok {
			os.Remove(rec.path)
		}
	}()
	md := md5.New()
	sh := sha256.New()
	hashers := map[string]hash.Hash{}
	writers := []io.Writer{tmp, md, sh}
	for alg, mk := range checksumHeaders {
		hashers[alg] = mk()
		writers = append(writers, hashers[alg])
	}
	var body io.Reader = r.Body
	payloadHash := r.Header.Get("x-amz-content-sha256")
	chunked := strings.HasPrefix(payloadHash, "STREAMING-") || strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked")
	var trailers map[string]string
	if chunked {
		cr := &chunkReader{br: bufio.NewReader(r.Body)}
		body = cr
		defer func() { trailers = cr.trailers }()
		n, err := io.Copy(io.MultiWriter(writers...), body)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "IncompleteBody", "read body: %v", err)
		}
		rec.size = n
		trailers = cr.trailers
		if dl := r.Header.Get("x-amz-decoded-content-length"); dl != "" && dl != strconv.FormatInt(n, 10) {
			return nil, errorf(http.StatusBadRequest, "IncompleteBody", "decoded length %d, header says %s", n, dl)
		}
	} else {
		n, err := io.Copy(io.MultiWriter(writers...), body)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "IncompleteBody", "read body: %v", err)
		}
		if r.ContentLength >= 0 && n != r.ContentLength {
			return nil, errorf(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header")
		}
		rec.size = n
	}
	sum := md.Sum(nil)
	rec.md5hex = hex.EncodeToString(sum)
	if cm := r.Header.Get("Content-MD5"); cm != "" && cm != base64.StdEncoding.EncodeToString(sum) {
		return nil, errorf(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	if !chunked && payloadHash != "" && payloadHash != "UNSIGNED-PAYLOAD" && payloadHash != hex.EncodeToString(sh.Sum(nil)) {
		return nil, errorf(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	for alg, h := range hashers {
		name := "x-amz-checksum-" + strings.ToLower(alg)
		want := r.Header.Get(name)
		if want == "" {
			want = trailers[name]
		}
		if want == "" {
			continue
		}
		got := base64.StdEncoding.EncodeToString(h.Sum(nil))
		if got != want {
			return nil, errorf(http.StatusBadRequest, "BadDigest", "The %s you specified did not match the calculated checksum.", alg)
		}
		rec.checksums[alg] = got
	}
	ok = true
	return rec, nil
}

// chunkReader decodes aws-chunked framing: "<hex>[;chunk-signature=…]\r\n<data>\r\n"
// repeated, a zero-length chunk, then optional trailer lines and a blank line.
type chunkReader struct {
	br       *bufio.Reader
	left     int64
	done     bool
	trailers map[string]string
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		line, err := c.br.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("chunk header: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue // the CRLF that ends a chunk's data
		}
		sizeHex, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			c.done = true
			c.trailers = map[string]string{}
			for {
				t, err := c.br.ReadString('\n')
				t = strings.TrimRight(t, "\r\n")
				if k, v, found := strings.Cut(t, ":"); found {
					c.trailers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
				}
				if t == "" || err != nil {
					break
				}
			}
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func userMetadata(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-meta-") && len(v) > 0 {
			m[strings.TrimPrefix(lk, "x-amz-meta-")] = v[0]
		}
	}
	return m
}

func (s *Store) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	rec, e := s.receive(r, bucket)
	if e != nil {
		return e
	}
	m := objectMeta{Key: key, Size: rec.size, ETag: `"` + rec.md5hex + `"`, ContentType: r.Header.Get("Content-Type"),
		Metadata: userMetadata(r.Header), LastModified: s.now().UTC(), Checksums: rec.checksums}
	if len(rec.checksums) > 0 {
		m.ChecksumType = "FULL_OBJECT"
	}
	if err := s.commitObject(bucket, rec.path, m); err != nil {
		return internal(err)
	}
	w.Header().Set("ETag", m.ETag)
	for alg, v := range rec.checksums {
		w.Header().Set("x-amz-checksum-"+strings.ToLower(alg), v)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// commitObject moves data into place and writes its metadata.
func (s *Store) commitObject(bucket, dataPath string, m objectMeta) error {
	p := s.objPath(bucket, m.Key)
	if err := os.Rename(dataPath, p); err != nil {
		return err
	}
	return writeJSON(p+".json", m)
}

func (s *Store) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	m, err := s.headObject(bucket, key)
	if err != nil {
		return errNoSuchKey
	}
	f, err := os.Open(s.objPath(bucket, key))
	if err != nil {
		return errNoSuchKey
	}
	defer f.Close()
	h := w.Header()
	h.Set("ETag", m.ETag)
	if m.ContentType != "" {
		h.Set("Content-Type", m.ContentType)
	} else {
		h.Set("Content-Type", "binary/octet-stream")
	}
	for k, v := range m.Metadata {
		h.Set("x-amz-meta-"+k, v)
	}
	if strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED") && r.Header.Get("Range") == "" {
		for alg, v := range m.Checksums {
			h.Set("x-amz-checksum-"+strings.ToLower(alg), v)
		}
		if m.ChecksumType != "" {
			h.Set("x-amz-checksum-type", m.ChecksumType)
		}
	}
	h.Set("Accept-Ranges", "bytes")
	http.ServeContent(w, r, "", m.LastModified, f)
	return nil
}

func (s *Store) deleteObject(w http.ResponseWriter, bucket, key string) *s3Error {
	if _, err := s.headObject(bucket, key); err == nil {
		p := s.objPath(bucket, key)
		os.Remove(p + ".json")
		os.Remove(p)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Store) createUpload(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	m := uploadMeta{Key: key, UploadID: newUploadID(), Initiated: s.now().UTC(), ContentType: r.Header.Get("Content-Type"),
		Metadata: userMetadata(r.Header), ChecksumAlgorithm: strings.ToUpper(r.Header.Get("x-amz-checksum-algorithm"))}
	if m.ChecksumAlgorithm != "" && checksumHeaders[m.ChecksumAlgorithm] == nil {
		return errorf(http.StatusBadRequest, "InvalidRequest", "Checksum algorithm %s is not supported", m.ChecksumAlgorithm)
	}
	dir := s.uploadDir(bucket, m.UploadID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return internal(err)
	}
	if err := writeJSON(filepath.Join(dir, "upload.json"), m); err != nil {
		return internal(err)
	}
	if m.ChecksumAlgorithm != "" {
		w.Header().Set("x-amz-checksum-algorithm", m.ChecksumAlgorithm)
	}
	writeXML(w, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Bucket   string
		Key      string
		UploadId string
	}{Bucket: bucket, Key: key, UploadId: m.UploadID})
	return nil
}

func (s *Store) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		return errorf(http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	um, err := s.upload(bucket, key, q.Get("uploadId"))
	if err != nil {
		return errNoSuchUpload
	}
	rec, e := s.receive(r, bucket)
	if e != nil {
		return e
	}
	if um.ChecksumAlgorithm != "" && rec.checksums[um.ChecksumAlgorithm] == "" {
		// S3 computes the upload's algorithm for parts sent without it.
		if sum, err := fileChecksum(rec.path, um.ChecksumAlgorithm); err == nil {
			rec.checksums[um.ChecksumAlgorithm] = sum
		}
	}
	dir := s.uploadDir(bucket, um.UploadID)
	pm := partMeta{Number: n, Size: rec.size, ETag: `"` + rec.md5hex + `"`, LastModified: s.now().UTC(), Checksums: rec.checksums}
	if err := os.Rename(rec.path, filepath.Join(dir, fmt.Sprintf("part-%05d", n))); err != nil {
		os.Remove(rec.path)
		return errNoSuchUpload // aborted while the part was arriving
	}
	if err := writeJSON(filepath.Join(dir, fmt.Sprintf("part-%05d.json", n)), pm); err != nil {
		return internal(err)
	}
	w.Header().Set("ETag", pm.ETag)
	for alg, v := range rec.checksums {
		w.Header().Set("x-amz-checksum-"+strings.ToLower(alg), v)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func fileChecksum(path, alg string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := checksumHeaders[alg]()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

type xmlPart struct {
	PartNumber     int
	ETag           string
	ChecksumCRC32  string `xml:",omitempty"`
	ChecksumCRC32C string `xml:",omitempty"`
	ChecksumSHA1   string `xml:",omitempty"`
	ChecksumSHA256 string `xml:",omitempty"`
}

func (p xmlPart) checksum(alg string) string {
	switch alg {
	case "CRC32":
		return p.ChecksumCRC32
	case "CRC32C":
		return p.ChecksumCRC32C
	case "SHA1":
		return p.ChecksumSHA1
	case "SHA256":
		return p.ChecksumSHA256
	}
	return ""
}

func (s *Store) complete(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.URL.Query().Get("uploadId")
	um, err := s.upload(bucket, key, id)
	if err != nil {
		return errNoSuchUpload
	}
	var req struct {
		Parts []xmlPart `xml:"Part"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil || xml.Unmarshal(body, &req) != nil || len(req.Parts) == 0 {
		return errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	stored, err := s.parts(bucket, id)
	if err != nil {
		return internal(err)
	}
	byNum := make(map[int]partMeta, len(stored))
	for _, p := range stored {
		byNum[p.Number] = p
	}
	var etags []string
	var sums [][]byte
	var total int64
	for i := 1; i < len(req.Parts); i++ {
		if req.Parts[i].PartNumber <= req.Parts[i-1].PartNumber {
			return errorf(http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
		}
	}
	for i, p := range req.Parts {
		sp, found := byNum[p.PartNumber]
		if !found || strings.Trim(sp.ETag, `"`) != strings.Trim(p.ETag, `"`) {
			return errorf(http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
		}
		if alg := um.ChecksumAlgorithm; alg != "" {
			if c := p.checksum(alg); c != "" && c != sp.Checksums[alg] {
				return errorf(http.StatusBadRequest, "InvalidPart", "The checksum of part %d does not match.", p.PartNumber)
			}
			raw, _ := base64.StdEncoding.DecodeString(sp.Checksums[alg])
			sums = append(sums, raw)
		}
		if i < len(req.Parts)-1 && sp.Size < s.MinPartSize {
			return errorf(http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
		}
		etags = append(etags, sp.ETag)
		total += sp.Size
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, bucket, "tmp"), "obj-")
	if err != nil {
		return internal(err)
	}
	for _, p := range req.Parts {
		f, err := os.Open(filepath.Join(s.uploadDir(bucket, id), fmt.Sprintf("part-%05d", p.PartNumber)))
		if err == nil {
			_, err = io.Copy(tmp, f)
			f.Close()
		}
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return internal(err)
		}
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return internal(err)
	}
	m := objectMeta{Key: key, Size: total, ETag: etagOfParts(etags), ContentType: um.ContentType, Metadata: um.Metadata,
		LastModified: s.now().UTC()}
	if alg := um.ChecksumAlgorithm; alg != "" && len(sums) == len(req.Parts) {
		h := checksumHeaders[alg]()
		h.Write(bytes.Join(sums, nil))
		m.Checksums = map[string]string{alg: base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(sums))}
		m.ChecksumType = "COMPOSITE"
	}
	if err := s.commitObject(bucket, tmp.Name(), m); err != nil {
		return internal(err)
	}
	os.RemoveAll(s.uploadDir(bucket, id))
	res := struct {
		XMLName        xml.Name `xml:"CompleteMultipartUploadResult"`
		Location       string
		Bucket         string
		Key            string
		ETag           string
		ChecksumCRC32C string `xml:",omitempty"`
	}{Location: "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: m.ETag, ChecksumCRC32C: m.Checksums["CRC32C"]}
	writeXML(w, res)
	return nil
}

func (s *Store) abort(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	um, err := s.upload(bucket, key, r.URL.Query().Get("uploadId"))
	if err != nil {
		return errNoSuchUpload
	}
	if err := os.RemoveAll(s.uploadDir(bucket, um.UploadID)); err != nil {
		return internal(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func intParam(r *http.Request, name string, def, max int) int {
	v, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || v <= 0 || v > max {
		return def
	}
	return v
}

func (s *Store) listParts(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	id := r.URL.Query().Get("uploadId")
	um, err := s.upload(bucket, key, id)
	if err != nil {
		return errNoSuchUpload
	}
	maxParts := intParam(r, "max-parts", 1000, 1000)
	marker, _ := strconv.Atoi(r.URL.Query().Get("part-number-marker"))
	stored, err := s.parts(bucket, id)
	if err != nil {
		return internal(err)
	}
	type part struct {
		PartNumber     int
		LastModified   string
		ETag           string
		Size           int64
		ChecksumCRC32C string `xml:",omitempty"`
		ChecksumCRC32  string `xml:",omitempty"`
		ChecksumSHA256 string `xml:",omitempty"`
		ChecksumSHA1   string `xml:",omitempty"`
	}
	res := struct {
		XMLName              xml.Name `xml:"ListPartsResult"`
		Bucket               string
		Key                  string
		UploadId             string
		PartNumberMarker     int
		NextPartNumberMarker int
		MaxParts             int
		IsTruncated          bool
		ChecksumAlgorithm    string `xml:",omitempty"`
		Parts                []part `xml:"Part"`
	}{Bucket: bucket, Key: key, UploadId: id, PartNumberMarker: marker, MaxParts: maxParts, ChecksumAlgorithm: um.ChecksumAlgorithm}
	for _, p := range stored {
		if p.Number <= marker {
			continue
		}
		if len(res.Parts) == maxParts {
			res.IsTruncated = true
			break
		}
		res.Parts = append(res.Parts, part{PartNumber: p.Number, LastModified: p.LastModified.Format(time.RFC3339), ETag: p.ETag,
			Size: p.Size, ChecksumCRC32C: p.Checksums["CRC32C"], ChecksumCRC32: p.Checksums["CRC32"],
			ChecksumSHA256: p.Checksums["SHA256"], ChecksumSHA1: p.Checksums["SHA1"]})
		res.NextPartNumberMarker = p.Number
	}
	writeXML(w, res)
	return nil
}

func (s *Store) listUploads(w http.ResponseWriter, r *http.Request, bucket string) *s3Error {
	q := r.URL.Query()
	prefix := q.Get("prefix")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	maxUploads := intParam(r, "max-uploads", 1000, 1000)
	ents, err := os.ReadDir(filepath.Join(s.root, bucket, "uploads"))
	if err != nil {
		return internal(err)
	}
	var all []uploadMeta
	for _, e := range ents {
		var m uploadMeta
		if readJSON(filepath.Join(s.root, bucket, "uploads", e.Name(), "upload.json"), &m) == nil && strings.HasPrefix(m.Key, prefix) {
			all = append(all, m)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Key != all[j].Key {
			return all[i].Key < all[j].Key
		}
		return all[i].UploadID < all[j].UploadID
	})
	type upload struct {
		Key, UploadId, Initiated string
		StorageClass             string
	}
	res := struct {
		XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
		Bucket             string
		Prefix             string
		KeyMarker          string
		UploadIdMarker     string
		NextKeyMarker      string
		NextUploadIdMarker string
		MaxUploads         int
		IsTruncated        bool
		Uploads            []upload `xml:"Upload"`
	}{Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker, MaxUploads: maxUploads}
	for _, m := range all {
		if keyMarker != "" && (m.Key < keyMarker || m.Key == keyMarker && (idMarker == "" || m.UploadID <= idMarker)) {
			continue
		}
		if len(res.Uploads) == maxUploads {
			res.IsTruncated = true
			break
		}
		res.Uploads = append(res.Uploads, upload{Key: m.Key, UploadId: m.UploadID, Initiated: m.Initiated.Format(time.RFC3339), StorageClass: "STANDARD"})
		res.NextKeyMarker, res.NextUploadIdMarker = m.Key, m.UploadID
	}
	writeXML(w, res)
	return nil
}

func (s *Store) listObjects(w http.ResponseWriter, r *http.Request, bucket string) *s3Error {
	q := r.URL.Query()
	prefix := q.Get("prefix")
	after := q.Get("continuation-token")
	if after == "" {
		after = q.Get("start-after")
	}
	maxKeys := intParam(r, "max-keys", 1000, 1000)
	ents, err := os.ReadDir(filepath.Join(s.root, bucket, "objects"))
	if err != nil {
		return internal(err)
	}
	var all []objectMeta
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var m objectMeta
		if readJSON(filepath.Join(s.root, bucket, "objects", e.Name()), &m) == nil && strings.HasPrefix(m.Key, prefix) && m.Key > after {
			all = append(all, m)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Key < all[j].Key })
	type object struct {
		Key          string
		LastModified string
		ETag         string
		Size         int64
		StorageClass string
	}
	res := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		Name                  string
		Prefix                string
		KeyCount              int
		MaxKeys               int
		IsTruncated           bool
		NextContinuationToken string   `xml:",omitempty"`
		Contents              []object `xml:"Contents"`
	}{Name: bucket, Prefix: prefix, MaxKeys: maxKeys}
	for _, m := range all {
		if len(res.Contents) == maxKeys {
			res.IsTruncated = true
			res.NextContinuationToken = res.Contents[len(res.Contents)-1].Key
			break
		}
		res.Contents = append(res.Contents, object{Key: m.Key, LastModified: m.LastModified.Format(time.RFC3339), ETag: m.ETag, Size: m.Size, StorageClass: "STANDARD"})
	}
	res.KeyCount = len(res.Contents)
	writeXML(w, res)
	return nil
}
