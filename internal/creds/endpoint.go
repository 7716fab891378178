package creds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// ErrDenied reports a token endpoint that refused the caller (HTTP 401 or 403):
// the CKAN token is invalid or its user may not edit the dataset.
var ErrDenied = errors.New("the token endpoint refused the request")

// EndpointError is an error answered by a ckanup token endpoint.
type EndpointError struct {
	Status  int
	Code    string
	Message string
}

func (e *EndpointError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("token endpoint: HTTP %d", e.Status)
	}
	return fmt.Sprintf("token endpoint: %s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// ErrorKind classifies the answer for the upload engine's retries (see
// upload.Classify): 401/403 "auth", 404 "not-found", 408/429/5xx
// "temporary", anything else "permanent".
func (e *EndpointError) ErrorKind() string {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return "auth"
	case e.Status == http.StatusNotFound:
		return "not-found"
	case e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500 && e.Status != http.StatusNotImplemented:
		return "temporary"
	}
	return "permanent"
}

func (e *EndpointError) Is(target error) bool {
	return target == ErrDenied && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// EndpointAnswer is the token endpoint's answer to POST /v1/credentials.
type EndpointAnswer struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	Bucket          string    `json:"bucket"`
	Region          string    `json:"region"`
	EndpointURL     string    `json:"endpoint_url"`
	KeyPrefix       string    `json:"key_prefix"`
	DatasetID       string    `json:"dataset_id"`
	OrganizationID  string    `json:"organization_id"`
}

// ParseEndpointAnswer decodes and checks a 200 answer.
func ParseEndpointAnswer(b []byte) (*EndpointAnswer, error) {
	var a EndpointAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("token endpoint: answer is not the expected JSON: %w", err)
	}
	switch {
	case a.AccessKeyID == "" || a.SecretAccessKey == "":
		return nil, errors.New("token endpoint: answer has no credentials")
	case a.Bucket == "" || a.Region == "" || a.KeyPrefix == "" || !strings.HasSuffix(a.KeyPrefix, "/"):
		return nil, errors.New("token endpoint: answer lacks bucket, region or key prefix")
	case a.Expiration.IsZero():
		return nil, errors.New("token endpoint: answer has no expiration")
	}
	if a.EndpointURL != "" {
		if u, err := url.Parse(a.EndpointURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("token endpoint: endpoint_url %q is not an http(s) URL", a.EndpointURL)
		}
	}
	return &a, nil
}

// ParseEndpointError decodes a non-200 answer.
func ParseEndpointError(status int, b []byte) error {
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	e := &EndpointError{Status: status}
	if json.Unmarshal(b, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	}
	return e
}

// EndpointOptions configure the token endpoint provider.
type EndpointOptions struct {
	// URL is the endpoint's base URL, such as https://data.example.org/ckanup/.
	URL     string
	Token   string // the CKAN API token
	Dataset string // name or id
	HTTP    *http.Client
	// OnRefresh hears about each set of credentials fetched.
	OnRefresh func(expires time.Time)

	now func() time.Time // tests shift the clock that measures lifetimes
}

// endpointProvider fetches credentials from the token endpoint.
type endpointProvider struct {
	o     EndpointOptions
	url   string
	now   func() time.Time // the clock that measures the credentials' lifetime
	mu    sync.Mutex
	first *EndpointAnswer // the answer fetched to learn the target, used once
}

func credentialsURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("token endpoint URL %q is not an http(s) URL such as https://data.example.org/ckanup/", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.JoinPath("v1", "credentials").String(), nil
}

// endpointCall sends one request to the token endpoint and returns the body of
// a 200 answer, or the endpoint's error.
func endpointCall(ctx context.Context, hc *http.Client, method, u, token string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", token)
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("token endpoint %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, ParseEndpointError(resp.StatusCode, b)
	}
	return b, nil
}

func (p *endpointProvider) fetch(ctx context.Context) (*EndpointAnswer, error) {
	body, _ := json.Marshal(map[string]string{"dataset": p.o.Dataset})
	b, err := endpointCall(ctx, p.o.HTTP, http.MethodPost, p.url, p.o.Token, body)
	if err != nil {
		return nil, err
	}
	a, err := ParseEndpointAnswer(b)
	if err != nil {
		return nil, err
	}
	if p.o.OnRefresh != nil {
		p.o.OnRefresh(a.Expiration)
	}
	return a, nil
}

// Retrieve implements aws.CredentialsProvider. Credentials are reported to
// expire a little early — 5 minutes, or a quarter of their lifetime when that
// is shorter — so the cache refreshes them before S3 would refuse them.
func (p *endpointProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	a := p.first
	p.first = nil
	p.mu.Unlock()
	if a == nil || a.Expiration.Sub(p.now()) < time.Second {
		var err error
		if a, err = p.fetch(ctx); err != nil {
			return aws.Credentials{}, err
		}
	}
	margin := min(5*time.Minute, a.Expiration.Sub(p.now())/4)
	return aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, SessionToken: a.SessionToken,
		Source: "ckanup token endpoint", CanExpire: true, Expires: a.Expiration.Add(-margin)}, nil
}

// FromEndpoint asks a ckanup token endpoint for credentials for one dataset. The
// endpoint also dictates the bucket, region, S3 endpoint and the key prefix.
func FromEndpoint(ctx context.Context, o EndpointOptions) (*Source, error) {
	u, err := credentialsURL(o.URL)
	if err != nil {
		return nil, err
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: time.Minute}
	}
	p := &endpointProvider{o: o, url: u, now: o.now}
	if p.now == nil {
		p.now = time.Now
	}
	first, err := p.fetch(ctx)
	if err != nil {
		return nil, err
	}
	p.first = first
	cache := aws.NewCredentialsCache(p)
	cfg, err := config.LoadDefaultConfig(ctx, silentSDK, config.WithRegion(first.Region), config.WithCredentialsProvider(cache))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return &Source{Config: cfg, Kind: "token endpoint " + u, Invalidate: cache.Invalidate,
		Target: Target{Bucket: first.Bucket, Region: first.Region, Endpoint: strings.TrimSuffix(first.EndpointURL, "/"),
			PathStyle: first.EndpointURL != "", DatasetPrefix: first.KeyPrefix}}, nil
}

// EndpointUpload is an open multipart upload as the token endpoint lists it.
type EndpointUpload struct {
	UploadID  string    `json:"upload_id"`
	Key       string    `json:"key"`
	Initiated time.Time `json:"initiated"`
}

// ListEndpointUploads asks a token endpoint for a dataset's open multipart
// uploads (listed with the server's permissions, which publishers lack).
func ListEndpointUploads(ctx context.Context, base, token, dataset string, hc *http.Client) ([]EndpointUpload, error) {
	u, err := credentialsURL(base)
	if err != nil {
		return nil, err
	}
	lu, _ := url.Parse(strings.TrimSuffix(u, "credentials") + "uploads")
	lu.RawQuery = url.Values{"dataset": {dataset}}.Encode()
	b, err := endpointCall(ctx, hc, http.MethodGet, lu.String(), token, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Uploads []EndpointUpload `json:"uploads"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("token endpoint: uploads answer is not the expected JSON: %w", err)
	}
	return out.Uploads, nil
}
