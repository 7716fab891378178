package ckan

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
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
