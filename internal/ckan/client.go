// Package ckan is a client for the parts of CKAN's action API that ckanup uses.
//
// The API token is sent bare (no Bearer prefix), by default in both the
// Authorization and the X-CKAN-API-Key header, so that a site reading either
// accepts it (see TokenHeader). It never appears in an error, a URL or a log
// line.
package ckan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/ckanup/ckanup/internal/failure"
)

// Client calls one CKAN site's action API.
type Client struct {
	base  *url.URL
	token string
	// http never follows redirects; follow is the caller's client, used only by
	// SettledSiteURL.
	http, follow *http.Client
	// UserAgent is sent with every request.
	UserAgent string
	// TokenHeader names the one header the token is sent in: HeaderAuthorization
	// or HeaderAPIKey. Empty (the default) sends it in both, which every CKAN
	// 2.9–2.11 accepts whatever its apitoken_header_name says, as long as no
	// proxy in front of CKAN uses the Authorization header for its own login.
	// Use ParseTokenHeader to read a setting.
	TokenHeader string
	// MaxAttempts bounds the tries of one call that failed on the network or with a
	// 429/502/503/504 answer. Zero means 4.
	MaxAttempts int
	// InitialInterval is the first delay between tries. Zero means 1s.
	InitialInterval time.Duration
	// OnRetry, when set, hears about each failed attempt about to be retried.
	OnRetry func(action string, attempt int, delay time.Duration, err error)
}

// ParseSiteURL checks a CKAN site URL and returns it without a trailing slash.
func ParseSiteURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("no CKAN URL: pass --ckan-url or set CKAN_URL (e.g. https://data.example.org)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("CKAN URL %q is not an http(s) URL such as https://data.example.org", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("CKAN URL must not contain credentials; pass the API token with CKAN_API_TOKEN or --api-token-file")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("CKAN URL %q must not have a query or fragment", u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.Path = strings.TrimSuffix(u.Path, "/api/3/action")
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// MaxIdleConnsPerSite is how many idle connections to a CKAN site
// NewHTTPClient keeps for reuse: as many as the most requests ckanup has in
// flight to it (one per file in flight, up to 64).
const MaxIdleConnsPerSite = 64

// NewHTTPClient returns the HTTP client for CKAN calls: Go's default transport
// (proxies from the environment, the system's CA bundle, HTTP/2), keeping up
// to MaxIdleConnsPerSite idle connections per host instead of its default of
// 2, so that files calling CKAN at once reuse their connections rather than
// open (and, over HTTPS, handshake) a new one for most calls; and timeout on
// each whole request.
func NewHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = MaxIdleConnsPerSite
	return &http.Client{Timeout: timeout, Transport: tr}
}

// New returns a client for the CKAN site at siteURL. token may be empty
// (anonymous). hc nil: NewHTTPClient(60 s).
func New(siteURL, token string, hc *http.Client) (*Client, error) {
	u, err := ParseSiteURL(siteURL)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = NewHTTPClient(60 * time.Second)
	}
	// A copy of the caller's client that never follows a redirect: each one
	// becomes a RedirectError (see there for why).
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: u, token: strings.TrimSpace(token), http: &noFollow, follow: hc, UserAgent: "ckanup"}, nil
}

// SiteURL is the site's root URL.
func (c *Client) SiteURL() string { return c.base.String() }

// envelope is CKAN's answer: {"help", "success", "result" | "error"}.
type envelope struct {
	Success *bool           `json:"success"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

func (c *Client) actionURL(action string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + "/api/3/action/" + action
	u.RawQuery = q.Encode()
	return u.String()
}

// streamedBody is a request body written as it is sent, for requests too
// large to hold whole. writeJSON must write the same bytes every time it is
// called: the body is written once to learn its length (sent as
// Content-Length: CKAN behind uWSGI or an older proxy may refuse a chunked
// request) and again for each attempt.
type streamedBody interface {
	writeJSON(w io.Writer) error
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// requestBody is a request's body: payload, or a streamedBody of a known
// length.
type requestBody struct {
	payload  []byte
	streamed streamedBody
	length   int64
}

// reader returns a new reader of the body. A streamed body is written by a
// goroutine into a pipe, which ends when the body is written or the reader is
// closed (the HTTP transport closes a request's body in every case).
func (b *requestBody) reader() io.ReadCloser {
	if b.streamed == nil {
		return io.NopCloser(bytes.NewReader(b.payload))
	}
	pr, pw := io.Pipe()
	go func() {
		// Buffered: the body is written in many small pieces.
		bw := bufio.NewWriterSize(pw, 32<<10)
		err := b.streamed.writeJSON(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// call performs one action. A GET when body is nil, else a JSON POST. The answer's
// result is decoded into out.
func (c *Client) call(ctx context.Context, action string, q url.Values, body any, out any) error {
	var rb *requestBody
	if sb, ok := body.(streamedBody); ok {
		var n countingWriter
		if err := sb.writeJSON(&n); err != nil {
			return fmt.Errorf("CKAN %s: encode request: %w", action, err)
		}
		rb = &requestBody{streamed: sb, length: n.n}
	} else if body != nil {
		payload, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("CKAN %s: encode request: %w", action, err)
		}
		rb = &requestBody{payload: payload, length: int64(len(payload))}
	}
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = 4
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.InitialInterval
	if b.InitialInterval <= 0 {
		b.InitialInterval = time.Second
	}
	b.MaxElapsedTime = 2 * time.Minute
	attempt := 0
	return backoff.RetryNotify(func() error {
		attempt++
		err := c.once(ctx, action, q, rb, out)
		if err == nil || !transient(ctx, err) {
			if err != nil {
				return backoff.Permanent(err)
			}
			return nil
		}
		return err
	}, backoff.WithContext(backoff.WithMaxRetries(b, uint64(attempts-1)), ctx), func(err error, d time.Duration) {
		if c.OnRetry != nil {
			c.OnRetry(action, attempt, d, err)
		}
	})
}

func (c *Client) once(ctx context.Context, action string, q url.Values, body *requestBody, out any) error {
	method := http.MethodGet
	if body != nil {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, c.actionURL(action, q), nil)
	if err != nil {
		return fmt.Errorf("CKAN %s: %w", action, err)
	}
	if body != nil {
		req.Body, req.ContentLength = body.reader(), body.length
		req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	if c.token != "" {
		for _, h := range c.TokenHeaders() {
			req.Header.Set(h, c.token)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("CKAN %s at %s: %w", action, c.base.Host, scrubURLError(err))
	}
	defer resp.Body.Close()
	if err := c.redirect(action, resp); err != nil {
		return err
	}
	if s, ok := out.(resultStreamer); ok && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return decodeStream(action, resp.StatusCode, resp.Header.Get("Content-Type"), io.LimitReader(resp.Body, 64<<20), s)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("CKAN %s: read answer: %w", action, err)
	}
	return decode(action, resp.StatusCode, resp.Header.Get("Content-Type"), raw, out)
}

// decode interprets one action API answer. It is separate from the transport so
// that every shape CKAN (or a proxy in front of it) answers can be tested and fuzzed.
func decode(action string, status int, contentType string, raw []byte, out any) error {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Success == nil {
		// A bare JSON string: CKAN's answer to malformed JSON or an unknown action.
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return &APIError{Action: action, Status: status, Message: s}
		}
		snippet := string(raw)
		if len(snippet) > 200 {
			snippet = snippet[:200]
		}
		return &ResponseError{Action: action, Status: status, ContentType: contentType, Snippet: snippet}
	}
	if !*env.Success || status >= 300 {
		ae := &APIError{Action: action, Status: status}
		var fields map[string]json.RawMessage
		if json.Unmarshal(env.Error, &fields) == nil {
			for k, v := range fields {
				switch k {
				case "__type":
					_ = json.Unmarshal(v, &ae.Type)
				case "message":
					_ = json.Unmarshal(v, &ae.Message)
				default:
					var msgs []string
					if json.Unmarshal(v, &msgs) != nil {
						msgs = []string{string(v)}
					}
					if ae.Fields == nil {
						ae.Fields = map[string][]string{}
					}
					ae.Fields[k] = msgs
				}
			}
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("CKAN %s: unexpected result: %w", action, err)
	}
	return nil
}

// transient reports errors worth another try within this call: no answer at
// all (but not a certificate or host name that can never work), or an answer
// that says "later" (429, 502, 503, 504).
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return retryStatus(ae.Status)
	}
	var re *ResponseError
	if errors.As(err, &re) {
		return retryStatus(re.Status)
	}
	if _, ok := IsRedirect(err); ok || failure.IsPermanentNetwork(err) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF)
}

// redirect turns a 3xx answer with a Location into a RedirectError.
func (c *Client) redirect(action string, resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil
	}
	loc, err := resp.Location()
	if err != nil {
		return &ResponseError{Action: action, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"),
			Snippet: "redirect without a usable Location"}
	}
	loc.User = nil
	e := &RedirectError{Action: action, Status: resp.StatusCode, From: c.base.String(), Location: loc.Redacted()}
	if root, ok := siteRoot(loc, action); ok {
		e.SiteURL = root
	}
	return e
}

// siteRoot is the site root of an action URL: loc without
// "/api/3/action/<action>" (or "/api/action/<action>"), query and fragment.
func siteRoot(loc *url.URL, action string) (string, bool) {
	for _, suffix := range []string{"/api/3/action/" + action, "/api/action/" + action} {
		if strings.HasSuffix(loc.Path, suffix) {
			u := *loc
			u.Path = strings.TrimSuffix(u.Path, suffix)
			u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
			if (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				return u.String(), true
			}
		}
	}
	return "", false
}

// SettledSiteURL asks status_show at the configured site, following redirects
// (at most 10, as net/http does), and returns the site root where the answer
// came from: the URL to store, so that later calls need no redirect. It sends
// no token. A redirect from https to http, or to something that is not CKAN's
// action API, is an error.
func (c *Client) SettledSiteURL(ctx context.Context) (string, error) {
	hc := *c.follow
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("refusing a redirect from https to %s", req.URL.Redacted())
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.actionURL("status_show", nil), nil)
	if err != nil {
		return "", fmt.Errorf("CKAN status_show: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("CKAN status_show at %s: %w", c.base.Host, scrubURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("CKAN status_show: read answer: %w", err)
	}
	var st Status
	if err := decode("status_show", resp.StatusCode, resp.Header.Get("Content-Type"), raw, &st); err != nil {
		return "", err
	}
	root, ok := siteRoot(resp.Request.URL, "status_show")
	if !ok {
		return "", fmt.Errorf("CKAN status_show at %s was answered from %s, which is not an action API URL", c.base, resp.Request.URL.Redacted())
	}
	return root, nil
}

func retryStatus(s int) bool {
	return s == http.StatusTooManyRequests || s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}

// scrubURLError drops the URL from a *url.Error (it is already named by the
// caller) and keeps the cause.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
