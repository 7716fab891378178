package ckan

import (
	"fmt"
	"net/http"
	"strings"
)

// The headers CKAN reads an API token from. CKAN 2.9 and 2.10 read the header
// named by apikey_header_name (default X-CKAN-API-Key), then Authorization;
// CKAN 2.11 renamed the setting apitoken_header_name, default Authorization
// (ckan/views/__init__.py _get_user_for_apitoken; CKAN PR #7841).
const (
	HeaderAuthorization = "Authorization"
	HeaderAPIKey        = "X-CKAN-API-Key"
)

// TokenHeaderBoth is the setting's word for the default: send both headers.
const TokenHeaderBoth = "both"

// ParseTokenHeader reads a token-header setting: "authorization",
// "x-ckan-api-key" (any case), or "both" / "" for the default. It returns the
// value for Client.TokenHeader ("" for both).
func ParseTokenHeader(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", TokenHeaderBoth:
		return "", nil
	case "authorization":
		return HeaderAuthorization, nil
	case "x-ckan-api-key":
		return HeaderAPIKey, nil
	}
	return "", fmt.Errorf("token header %q: use Authorization, X-CKAN-API-Key or both (the header named by the CKAN site's apitoken_header_name setting)", s)
}

// TokenHeaders lists the headers the client sends the token in.
func (c *Client) TokenHeaders() []string {
	if c.TokenHeader != "" {
		if h, err := ParseTokenHeader(c.TokenHeader); err == nil && h != "" {
			return []string{h} // spelled as CKAN's docs do
		}
		return []string{http.CanonicalHeaderKey(c.TokenHeader)}
	}
	return []string{HeaderAuthorization, HeaderAPIKey}
}

// TokenFromRequest reads a CKAN API token from a request the way CKAN 2.10 does
// with its default settings: the X-CKAN-API-Key header, else Authorization (as
// is: a "Bearer …" value is passed on, and CKAN treats it as no token).
func TokenFromRequest(r *http.Request) string {
	if t := strings.TrimSpace(r.Header.Get(HeaderAPIKey)); t != "" {
		return t
	}
	return strings.TrimSpace(r.Header.Get(HeaderAuthorization))
}

// TokenRefusedError is CKAN answering as if no token were sent: the token is
// unknown, expired or revoked — or it went in a header the site does not read.
// It matches ErrNotAuthenticated with errors.Is.
type TokenRefusedError struct {
	// Headers are the headers the token was sent in.
	Headers []string
}

func (e *TokenRefusedError) Error() string {
	return fmt.Sprintf("CKAN did not accept the API token sent in %s (CKAN treats an unknown or expired token as anonymous, and reads only the header its apitoken_header_name setting names, then Authorization)",
		strings.Join(e.Headers, " and "))
}

// Unwrap makes errors.Is(err, ErrNotAuthenticated) hold.
func (e *TokenRefusedError) Unwrap() error { return ErrNotAuthenticated }
