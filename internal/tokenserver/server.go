// Package tokenserver is ckanup's token endpoint: a small HTTP service that runs
// beside CKAN and hands dataset-scoped temporary AWS credentials to the users
// CKAN says may edit the dataset.
//
// POST /v1/credentials            {"dataset": "<name or id>"}
// GET  /v1/uploads?dataset=…      the dataset's open multipart uploads
// DELETE /v1/uploads/<id>?dataset=…&key=…
// GET  /healthz, GET /metrics
//
// Callers authenticate with their CKAN API token, in the X-CKAN-API-Key or the
// Authorization header (read as CKAN reads them); the server asks CKAN with the
// header(s) Config.CKANTokenHeader names.
// There are no cookies, no JSONP, and no CORS unless one origin is allowed.
package tokenserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/scope"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// STSAPI is the STS call the server makes.
type STSAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// S3API is what the uploads endpoints call, with the server's own credentials.
type S3API interface {
	ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, opts ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// Config is the server's configuration. Zero values mean the documented defaults.
type Config struct {
	CKANURL string
	// CKANTokenHeader is the header the server sends callers' tokens to CKAN
	// in: "Authorization", "X-CKAN-API-Key", or "" / "both" for both (see
	// ckan.ParseTokenHeader).
	CKANTokenHeader string
	Bucket          string
	Region          string
	RoleARN         string
	KeyPrefix       string
	// EnabledOrgs are organization names whose datasets get credentials; "*"
	// means all; empty means none.
	EnabledOrgs []string
	// Duration of issued credentials: 15 minutes to 12 hours. Default 1 hour.
	Duration time.Duration
	// S3Endpoint is returned to clients for S3-compatible stores.
	S3Endpoint string
	// CORSOrigin, when set, is the one browser origin allowed to call the API.
	CORSOrigin string
	// MaxBodyBytes limits request bodies. Default 4 KiB.
	MaxBodyBytes int64
	// PerTokenRate and PerIPRate limit requests (per second, with bursts of
	// PerTokenBurst/PerIPBurst). Defaults 1/s burst 10, and 5/s burst 30.
	PerTokenRate, PerIPRate   rate.Limit
	PerTokenBurst, PerIPBurst int
	// CKANTimeout and STSTimeout bound each outbound call. Defaults 10s.
	CKANTimeout, STSTimeout time.Duration
	// AllowShortDuration lets tests issue credentials below STS's 15 minutes.
	AllowShortDuration bool
	// MaxLimiterKeys bounds each rate limiter's memory: at most this many
	// client addresses and this many tokens are tracked, least recently seen
	// forgotten first. Default 50,000.
	MaxLimiterKeys int
	// TrustForwardedFor takes the client address from the last X-Forwarded-For
	// entry when the peer is on loopback (a reverse proxy on the same host), so
	// per-address limits and the audit log see the real client.
	TrustForwardedFor bool
}

func (c Config) withDefaults() Config {
	if c.Duration == 0 {
		c.Duration = time.Hour
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 10
	}
	if c.PerTokenRate == 0 {
		c.PerTokenRate, c.PerTokenBurst = 1, 10
	}
	if c.PerIPRate == 0 {
		c.PerIPRate, c.PerIPBurst = 5, 30
	}
	if c.CKANTimeout == 0 {
		c.CKANTimeout = 10 * time.Second
	}
	if c.STSTimeout == 0 {
		c.STSTimeout = 10 * time.Second
	}
	if c.MaxLimiterKeys <= 0 {
		c.MaxLimiterKeys = 50_000
	}
	c.CKANTokenHeader, _ = ckan.ParseTokenHeader(c.CKANTokenHeader)
	return c
}

// Validate checks the configuration, saying what to fix.
func (c Config) Validate() error {
	var errs []error
	if _, err := ckan.ParseSiteURL(c.CKANURL); err != nil {
		errs = append(errs, err)
	}
	if _, err := ckan.ParseTokenHeader(c.CKANTokenHeader); err != nil {
		errs = append(errs, err)
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("--bucket is required"))
	}
	if c.RoleARN == "" {
		errs = append(errs, errors.New("--role-arn is required (the role whose credentials are handed out)"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("--region is required"))
	}
	d := c.withDefaults().Duration
	if !c.AllowShortDuration && (d < 15*time.Minute || d > 12*time.Hour) {
		errs = append(errs, fmt.Errorf("--duration %s is outside STS's 15m–12h", d))
	}
	if c.S3Endpoint != "" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--s3-endpoint %q is not an http(s) URL", c.S3Endpoint))
		}
	}
	return errors.Join(errs...)
}

// Server answers the token endpoint's API.
type Server struct {
	cfg     Config
	sts     STSAPI
	s3      S3API
	hc      *http.Client
	audit   *slog.Logger
	metrics *metrics
	now     func() time.Time

	// mu makes a limiter's get-or-create atomic; each cache is bounded to
	// MaxLimiterKeys entries and forgets a key idle for limiterTTL, so memory
	// stays bounded and each request costs O(1) however many keys a flood of
	// random tokens or addresses brings. byToken holds only tokens CKAN has
	// accepted (keyed by a hash, never the token).
	mu            sync.Mutex
	byIP, byToken *expirable.LRU[string, *rate.Limiter]
}

// limiterTTL is how long an idle limiter is kept: far longer than any bucket
// takes to refill, so forgetting it gives nothing away.
const limiterTTL = 10 * time.Minute

// New returns a server. hc is the HTTP client for CKAN calls; audit receives one
// line per issuance or denial.
func New(cfg Config, stsAPI STSAPI, s3API S3API, hc *http.Client, audit *slog.Logger) *Server {
	if hc == nil {
		hc = &http.Client{}
	}
	if audit == nil {
		audit = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	// Each expirable.LRU runs one goroutine for the server's lifetime
	// (golang-lru v2.0.7 has no way to stop it).
	return &Server{cfg: cfg, sts: stsAPI, s3: s3API, hc: hc, audit: audit, metrics: newMetrics(), now: time.Now,
		byIP:    expirable.NewLRU[string, *rate.Limiter](cfg.MaxLimiterKeys, nil, limiterTTL),
		byToken: expirable.NewLRU[string, *rate.Limiter](cfg.MaxLimiterKeys, nil, limiterTTL)}
}

// apiError is an error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func denied(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/credentials", s.guard(s.credentials))
	mux.HandleFunc("GET /v1/uploads", s.guard(s.listUploads))
	mux.HandleFunc("DELETE /v1/uploads/{id}", s.guard(s.abortUpload))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /metrics", s.metrics.serve)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cors(w, r) {
			return
		}
		h, pattern := mux.Handler(r)
		if pattern == "" {
			writeError(w, denied(http.StatusNotFound, "not_found", "not found"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// cors answers a preflight for the one allowed origin; it reports whether the
// request was answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if s.cfg.CORSOrigin == "" || origin == "" || origin != s.cfg.CORSOrigin {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, GET, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, X-CKAN-API-Key, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// request is an authenticated, rate-limited call.
type request struct {
	token string
	ip    string
	// limited is set once the token's own limiter has been charged.
	limited bool
}

// guard applies the body limit, the rate limits and the token check. The
// per-address limit applies to every request; the per-token limit to tokens
// CKAN has accepted before (here), or accepts now (in authorize), so random
// tokens create no limiter state.
func (s *Server) guard(h func(http.ResponseWriter, *http.Request, *request) *apiError) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		ip := s.clientAddr(r)
		req := &request{token: ckan.TokenFromRequest(r), ip: ip}
		if !s.allow(s.byIP, ip, s.cfg.PerIPRate, s.cfg.PerIPBurst, true) {
			s.metrics.deny("rate_limited")
			w.Header().Set("Retry-After", "1")
			writeError(w, denied(http.StatusTooManyRequests, "rate_limited", "too many requests; slow down"))
			return
		}
		if req.token == "" {
			s.metrics.deny("missing_token")
			s.audit.Info("deny", "reason", "missing_token", "remote", ip, "path", r.URL.Path)
			writeError(w, denied(http.StatusUnauthorized, "missing_token", "send your CKAN API token in the Authorization or X-CKAN-API-Key header"))
			return
		}
		if e := s.limitToken(req, false); e != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, e)
			return
		}
		if e := h(w, r, req); e != nil {
			if e.code == "rate_limited" {
				w.Header().Set("Retry-After", "1")
			}
			writeError(w, e)
		}
	}
}

// limitToken charges the token's limiter once per request. Before CKAN has
// accepted the token (accepted false) only an existing limiter is charged;
// after (accepted true) one is created when missing.
func (s *Server) limitToken(req *request, accepted bool) *apiError {
	if req.limited {
		return nil
	}
	key := tokenKey(req.token)
	if !accepted {
		if _, known := s.byToken.Peek(key); !known {
			return nil
		}
	}
	req.limited = true
	if !s.allow(s.byToken, key, s.cfg.PerTokenRate, s.cfg.PerTokenBurst, accepted) {
		s.metrics.deny("rate_limited")
		return denied(http.StatusTooManyRequests, "rate_limited", "too many requests for this token; slow down")
	}
	return nil
}

// clientAddr is the caller's address: the peer, or with TrustForwardedFor and a
// loopback peer, the address the proxy saw.
func (s *Server) clientAddr(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if !s.cfg.TrustForwardedFor {
		return ip
	}
	if peer := net.ParseIP(ip); peer == nil || !peer.IsLoopback() {
		return ip
	}
	fwd := r.Header.Values("X-Forwarded-For")
	if len(fwd) == 0 {
		return ip
	}
	parts := strings.Split(fwd[len(fwd)-1], ",")
	if last := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(last) != nil {
		return last
	}
	return ip
}

// allow takes one request from key's limiter in cache, creating the limiter
// when create is set and key has none (allowing the request when it is not).
func (s *Server) allow(cache *expirable.LRU[string, *rate.Limiter], key string, r rate.Limit, burst int, create bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := cache.Get(key)
	if !ok {
		if !create {
			return true
		}
		l = rate.NewLimiter(r, burst)
		cache.Add(key, l)
	}
	return l.AllowN(s.now(), 1)
}

// grant is an authorized caller on a dataset.
type grant struct {
	user    *ckan.User
	dataset *ckan.Dataset
	org     string
	prefix  string
}

// authorize decides whether the token's user may upload to the dataset.
func (s *Server) authorize(ctx context.Context, req *request, datasetRef string) (*grant, *apiError) {
	if datasetRef == "" {
		return nil, denied(http.StatusBadRequest, "missing_dataset", `name the dataset: {"dataset": "<name or id>"}`)
	}
	c, err := ckan.New(s.cfg.CKANURL, req.token, s.hc)
	if err != nil {
		return nil, denied(http.StatusInternalServerError, "misconfigured", "the server's CKAN URL is invalid")
	}
	c.MaxAttempts = 1
	c.TokenHeader = s.cfg.CKANTokenHeader
	call := func(name string, f func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CKANTimeout)
		defer cancel()
		start := time.Now()
		err := f(cctx)
		s.metrics.observe("ckan", name, time.Since(start))
		return err
	}
	upstream := func(err error) *apiError {
		if errors.Is(err, context.DeadlineExceeded) {
			return denied(http.StatusGatewayTimeout, "ckan_timeout", "CKAN did not answer in time")
		}
		if _, ok := ckan.IsRedirect(err); ok {
			s.audit.Error("ckan", "error", err)
			return denied(http.StatusBadGateway, "misconfigured", "the server's CKAN URL redirects; its operator must set the URL CKAN settles on")
		}
		return denied(http.StatusBadGateway, "ckan_unavailable", "CKAN could not be asked")
	}
	var user *ckan.User
	err = call("user_show", func(ctx context.Context) (err error) { user, err = c.CurrentUser(ctx); return })
	if errors.Is(err, ckan.ErrNotAuthenticated) {
		return nil, denied(http.StatusUnauthorized, "invalid_token", "CKAN does not accept this API token")
	}
	if err != nil {
		return nil, upstream(err)
	}
	if e := s.limitToken(req, true); e != nil {
		return nil, e
	}
	var d *ckan.Dataset
	err = call("package_show", func(ctx context.Context) (err error) { d, err = c.PackageShow(ctx, datasetRef); return })
	switch {
	case ckan.IsNotFound(err):
		return nil, denied(http.StatusNotFound, "dataset_not_found", "no such dataset")
	case ckan.IsForbidden(err):
		return nil, denied(http.StatusForbidden, "dataset_not_visible", "the dataset is private and you may not see it")
	case err != nil:
		return nil, upstream(err)
	}
	g := &grant{user: user, dataset: d}
	if d.Organization != nil {
		g.org = d.Organization.Name
	}
	if !s.orgEnabled(g.org) {
		return g, denied(http.StatusForbidden, "organization_not_enabled", "uploads are not enabled for this dataset's organization")
	}
	var right ckan.EditRight
	err = call("can_edit", func(ctx context.Context) (err error) { right, err = c.CanEdit(ctx, user, d); return })
	if err != nil {
		return g, upstream(err)
	}
	if !right.Allowed {
		return g, denied(http.StatusForbidden, "not_editor", "you may not edit this dataset")
	}
	g.prefix = scope.DatasetPrefix(s.cfg.KeyPrefix, d.OwnerOrg, d.ID)
	return g, nil
}

func (s *Server) orgEnabled(org string) bool {
	for _, o := range s.cfg.EnabledOrgs {
		if o == "*" || (o == org && org != "") {
			return true
		}
	}
	return false
}

// auditDecision logs one issuance or denial: never the token or a key.
func (s *Server) auditDecision(r *http.Request, req *request, g *grant, event, datasetRef string, e *apiError, start time.Time) {
	attrs := []any{"event", event, "path", r.URL.Path, "remote", req.ip, "dataset", datasetRef,
		"duration_ms", time.Since(start).Milliseconds()}
	if g != nil {
		attrs = append(attrs, "user", g.user.Name, "dataset_id", g.dataset.ID, "organization", g.org)
	}
	if e != nil {
		attrs = append(attrs, "reason", e.code, "status", e.status)
		s.metrics.deny(e.code)
		s.audit.Warn("deny", attrs...)
		return
	}
	s.audit.Info(event, attrs...)
}

// Credentials is the answer to POST /v1/credentials.
type Credentials struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	Bucket          string    `json:"bucket"`
	Region          string    `json:"region"`
	EndpointURL     string    `json:"endpoint_url,omitempty"`
	KeyPrefix       string    `json:"key_prefix"`
	DatasetID       string    `json:"dataset_id"`
	OrganizationID  string    `json:"organization_id"`
}

func (s *Server) credentials(w http.ResponseWriter, r *http.Request, req *request) *apiError {
	start := time.Now()
	var body struct {
		Dataset string `json:"dataset"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.metrics.deny("body_too_large")
			return denied(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large")
		}
		s.metrics.deny("bad_request")
		return denied(http.StatusBadRequest, "bad_request", `the body must be JSON: {"dataset": "<name or id>"}`)
	}
	g, e := s.authorize(r.Context(), req, body.Dataset)
	if e != nil {
		s.auditDecision(r, req, g, "issue", body.Dataset, e, start)
		return e
	}
	policy, err := scope.SessionPolicy(s.cfg.Bucket, g.prefix)
	if err != nil {
		e := denied(http.StatusInternalServerError, "misconfigured", "the session policy could not be built")
		s.auditDecision(r, req, g, "issue", body.Dataset, e, start)
		return e
	}
	host := ""
	if u, err := url.Parse(s.cfg.CKANURL); err == nil {
		host = u.Host
	}
	sctx, cancel := context.WithTimeout(r.Context(), s.cfg.STSTimeout)
	defer cancel()
	stsStart := time.Now()
	out, err := s.sts.AssumeRole(sctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(s.cfg.RoleARN),
		RoleSessionName: aws.String(scope.SessionName(g.user.Name, host)),
		DurationSeconds: aws.Int32(int32(s.cfg.Duration / time.Second)),
		Policy:          aws.String(policy),
	})
	s.metrics.observe("sts", "AssumeRole", time.Since(stsStart))
	if err != nil || out.Credentials == nil {
		e := denied(http.StatusBadGateway, "sts_failed", "temporary credentials could not be obtained")
		if errors.Is(err, context.DeadlineExceeded) {
			e = denied(http.StatusGatewayTimeout, "sts_timeout", "STS did not answer in time")
		}
		s.audit.Error("sts", "error", err)
		s.auditDecision(r, req, g, "issue", body.Dataset, e, start)
		return e
	}
	c := out.Credentials
	s.metrics.issued()
	s.auditDecision(r, req, g, "issue", body.Dataset, nil, start)
	writeJSON(w, http.StatusOK, Credentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken), Expiration: aws.ToTime(c.Expiration).UTC(),
		Bucket: s.cfg.Bucket, Region: s.cfg.Region, EndpointURL: s.cfg.S3Endpoint, KeyPrefix: g.prefix,
		DatasetID: g.dataset.ID, OrganizationID: g.dataset.OwnerOrg,
	})
	return nil
}

// Upload is one open multipart upload of a dataset.
type Upload struct {
	UploadID  string    `json:"upload_id"`
	Key       string    `json:"key"`
	Initiated time.Time `json:"initiated"`
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, req *request) *apiError {
	start := time.Now()
	ref := r.URL.Query().Get("dataset")
	g, e := s.authorize(r.Context(), req, ref)
	if e != nil {
		s.auditDecision(r, req, g, "list_uploads", ref, e, start)
		return e
	}
	var out []Upload
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(g.prefix)}
	for page := 0; page < 100; page++ {
		res, err := s.s3.ListMultipartUploads(r.Context(), in)
		if err != nil {
			s.audit.Error("s3", "op", "ListMultipartUploads", "error", err)
			return denied(http.StatusBadGateway, "s3_failed", "the uploads could not be listed")
		}
		for _, u := range res.Uploads {
			out = append(out, Upload{UploadID: aws.ToString(u.UploadId), Key: aws.ToString(u.Key), Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(res.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = res.NextKeyMarker, res.NextUploadIdMarker
	}
	s.auditDecision(r, req, g, "list_uploads", ref, nil, start)
	writeJSON(w, http.StatusOK, map[string]any{"uploads": out, "key_prefix": g.prefix})
	return nil
}

func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request, req *request) *apiError {
	start := time.Now()
	ref, key, id := r.URL.Query().Get("dataset"), r.URL.Query().Get("key"), r.PathValue("id")
	g, e := s.authorize(r.Context(), req, ref)
	if e == nil && (!strings.HasPrefix(key, g.prefix) || strings.Contains(key, "..")) {
		e = denied(http.StatusForbidden, "key_outside_dataset", "the key is not under the dataset's prefix")
	}
	if e != nil {
		s.auditDecision(r, req, g, "abort_upload", ref, e, start)
		return e
	}
	_, err := s.s3.AbortMultipartUpload(r.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: aws.String(id)})
	var code string
	if err != nil {
		var ae interface{ ErrorCode() string }
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		if code != "NoSuchUpload" {
			s.audit.Error("s3", "op", "AbortMultipartUpload", "error", err)
			return denied(http.StatusBadGateway, "s3_failed", "the upload could not be aborted")
		}
	}
	s.auditDecision(r, req, g, "abort_upload", ref, nil, start)
	writeJSON(w, http.StatusOK, map[string]any{"aborted": id, "key": key})
	return nil
}

// tokenKey identifies a token in the rate limiter without keeping it.
func tokenKey(token string) string {
	h := fnv64(token)
	return fmt.Sprintf("%016x", h)
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
