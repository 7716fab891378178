package ckan

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/ckanup/ckanup/internal/failure"
)

// Error types CKAN puts in an error envelope's __type.
const (
	TypeAuthorization = "Authorization Error"
	TypeNotFound      = "Not Found Error"
	TypeValidation    = "Validation Error"
)

// ErrNotAuthenticated means CKAN did not recognise the API token. CKAN answers an
// invalid token as if no token were sent, so this is detected with user_show.
var ErrNotAuthenticated = errors.New("CKAN did not accept the API token (CKAN treats an unknown or expired token as anonymous)")

// ErrNoToken means no API token was given at all, so none was sent; it is
// not ErrNotAuthenticated (CKAN never saw a token to refuse). Its kind is
// failure.Auth.
var ErrNoToken = failure.Wrap(failure.Auth, errors.New("no CKAN API token was given"))

// APIError is an error answered by the CKAN action API.
type APIError struct {
	Action string
	Status int
	// Type is the envelope's __type ("Authorization Error", …); empty for the bare
	// string CKAN answers to malformed requests and unknown actions.
	Type    string
	Message string
	// Fields holds validation messages by field name.
	Fields map[string][]string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CKAN %s: HTTP %d", e.Action, e.Status)
	if e.Type != "" {
		fmt.Fprintf(&b, " %s", e.Type)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "; %s: %s", k, strings.Join(e.Fields[k], ", "))
		}
	}
	return b.String()
}

// IsForbidden reports an Authorization Error (HTTP 403).
func IsForbidden(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusForbidden || ae.Type == TypeAuthorization)
}

// IsNotFound reports a Not Found Error (HTTP 404).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Type == TypeNotFound)
}

// IsTooLarge reports an answer of HTTP 413 (Content Too Large, RFC 9110
// §15.5.14): the request body was over a limit, usually a reverse proxy's
// (nginx's client_max_body_size is 1 MB by default), and was not processed.
func IsTooLarge(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusRequestEntityTooLarge {
		return true
	}
	var re *ResponseError
	return errors.As(err, &re) && re.Status == http.StatusRequestEntityTooLarge
}

// ResponseError is an answer that is not the action API's JSON at all: a proxy's
// HTML error page, a login redirect, an empty body.
type ResponseError struct {
	Action      string
	Status      int
	ContentType string
	Snippet     string
}

func (e *ResponseError) Error() string {
	what := "a body that is not JSON"
	switch {
	case strings.Contains(e.ContentType, "html") || strings.HasPrefix(strings.TrimSpace(e.Snippet), "<"):
		what = "an HTML page"
	case e.Snippet == "":
		what = "an empty body"
	}
	return fmt.Sprintf("CKAN %s: HTTP %d with %s instead of the action API's JSON (is the CKAN URL the site's root, and is CKAN up?)", e.Action, e.Status, what)
}

// FailureKind sorts an API error: 403 Auth, 404 NotFound, 408/429/5xx
// Temporary, any other answer Config (CKAN said no; repeating will not help).
func (e *APIError) FailureKind() failure.Kind {
	switch {
	case e.Status == http.StatusForbidden || e.Type == TypeAuthorization:
		return failure.Auth
	case e.Status == http.StatusNotFound || e.Type == TypeNotFound:
		return failure.NotFound
	case laterStatus(e.Status):
		return failure.Temporary
	}
	return failure.Config
}

// FailureKind sorts a non-API answer: 408/429/5xx Temporary (a proxy's error
// page while CKAN restarts), anything else Config (the URL is not CKAN's API).
func (e *ResponseError) FailureKind() failure.Kind {
	if laterStatus(e.Status) {
		return failure.Temporary
	}
	return failure.Config
}

// laterStatus: HTTP statuses that say "not now" rather than "no".
func laterStatus(s int) bool {
	return s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout
}

// RedirectError is an action API call answered with a redirect (301, 302, 303,
// 307, 308). The client never follows one: following would turn a POST into a
// GET without its body (301/302/303), or silently talk to another site than
// the one configured. It is raised by whatever call comes first, so a run stops
// before any work is done.
type RedirectError struct {
	// Action is the action called; Status the redirect's HTTP status.
	Action string
	Status int
	// From is the configured site URL; Location the absolute redirect target.
	From, Location string
	// SiteURL is the site root Location points at when it is the same action
	// under another root (e.g. https:// instead of http://); "" when the
	// redirect leads elsewhere (a login page, a home page).
	SiteURL string
}

func (e *RedirectError) Error() string {
	if e.SiteURL != "" {
		return fmt.Sprintf("CKAN at %s redirects to %s (HTTP %d on %s): use --ckan-url %s", e.From, e.SiteURL, e.Status, e.Action, e.SiteURL)
	}
	return fmt.Sprintf("CKAN at %s answers %s with a redirect (HTTP %d) to %s instead of the action API: check --ckan-url (the site's root URL) and any login proxy in front of CKAN",
		e.From, e.Action, e.Status, e.Location)
}

// FailureKind: a redirect is a setting to change, not a hiccup.
func (e *RedirectError) FailureKind() failure.Kind { return failure.Config }

// IsRedirect reports a RedirectError and returns it.
func IsRedirect(err error) (*RedirectError, bool) {
	var re *RedirectError
	return re, errors.As(err, &re)
}

// IsTemporary reports whether err is a failure a later attempt may get past: a
// network error or timeout, or an answer with HTTP 408, 429 or 5xx. Callers
// suggest "re-run" only for these; a redirect, a refused token, a validation
// error or a page that is not the API repeat the same way every time.
func IsTemporary(err error) bool {
	return failure.KindOf(err) == failure.Temporary
}
