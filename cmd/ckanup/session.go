package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/config"
	"github.com/ckanup/ckanup/internal/failure"
)

// ckanSettings are the resolved CKAN site and token, with where each came from.
type ckanSettings struct {
	URL, Token             string
	URLSource, TokenSource string
	// TokenHeader is the one header the token goes in ("" both), from
	// TokenHeaderSource.
	TokenHeader, TokenHeaderSource string
	Profile                        config.Profile
}

// resolveTokenHeader picks the token header setting: --token-header, then
// CKANUP_TOKEN_HEADER, then profile (when given). It returns the value for
// ckan.Client.TokenHeader and where it came from.
func resolveTokenHeader(g *GlobalOptions, getenv func(string) string, profile, profileName string) (string, string, error) {
	raw, src := g.TokenHeader, "--token-header"
	switch {
	case raw != "":
	case getenv("CKANUP_TOKEN_HEADER") != "":
		raw, src = getenv("CKANUP_TOKEN_HEADER"), "CKANUP_TOKEN_HEADER"
	case profile != "":
		raw, src = profile, "profile "+profileName
	default:
		return "", "default", nil
	}
	h, err := ckan.ParseTokenHeader(raw)
	if err != nil {
		return "", "", usageErrorf("%s: %v", src, err)
	}
	return h, src, nil
}

// resolveCKAN applies the precedence: flags, then environment, then the profile.
func resolveCKAN(deps *Deps, g *GlobalOptions) (*ckanSettings, error) {
	s := &ckanSettings{}
	profileName := g.Profile
	if profileName == "default" && deps.Getenv("CKANUP_PROFILE") != "" {
		profileName = deps.Getenv("CKANUP_PROFILE")
	}
	dir, err := config.Dir(deps.Getenv)
	if err != nil {
		return nil, err
	}
	f, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("read login profile: %w", err)
	}
	p, hasProfile := f.Profiles[profileName]
	if !hasProfile && profileName != "default" {
		return nil, usageErrorf("no login profile %q (known: %s); run `ckanup login --profile %s`", profileName, strings.Join(f.Names(), ", "), profileName)
	}
	s.Profile = p
	switch {
	case g.CKANURL != "":
		s.URL, s.URLSource = g.CKANURL, "--ckan-url"
	case deps.Getenv("CKAN_URL") != "":
		s.URL, s.URLSource = deps.Getenv("CKAN_URL"), "CKAN_URL"
	case p.CKANURL != "":
		s.URL, s.URLSource = p.CKANURL, "profile "+profileName
	default:
		return nil, usageErrorf("no CKAN site: pass --ckan-url, set CKAN_URL, or run `ckanup login --ckan-url URL`")
	}
	switch {
	case g.APITokenFile != "":
		b, err := os.ReadFile(g.APITokenFile)
		if err != nil {
			return nil, usageErrorf("read --api-token-file: %v", err)
		}
		if fi, err := os.Stat(g.APITokenFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(deps.Stderr, "ckanup: warning: %s is readable by other users (mode %04o): run `chmod 600 %s`\n", g.APITokenFile, fi.Mode().Perm(), g.APITokenFile)
		}
		s.Token, s.TokenSource = strings.TrimSpace(string(b)), "--api-token-file"
		if s.Token == "" {
			return nil, usageErrorf("--api-token-file %s is empty", g.APITokenFile)
		}
	case deps.Getenv("CKAN_API_TOKEN") != "":
		s.Token, s.TokenSource = strings.TrimSpace(deps.Getenv("CKAN_API_TOKEN")), "CKAN_API_TOKEN"
	case p.APIToken != "" && sameSite(p.CKANURL, s.URL):
		s.Token, s.TokenSource = p.APIToken, "profile "+profileName
	}
	profileHeader := ""
	if sameSite(p.CKANURL, s.URL) {
		profileHeader = p.TokenHeader
	}
	if s.TokenHeader, s.TokenHeaderSource, err = resolveTokenHeader(g, deps.Getenv, profileHeader, profileName); err != nil {
		return nil, err
	}
	return s, nil
}

// tokenEndpoint is the token endpoint to use: the flag, CKANUP_TOKEN_URL, or the
// login profile's when the profile is for the same site ("" when none). s may be nil.
func (s *ckanSettings) tokenEndpoint(flag string, getenv func(string) string) string {
	if u := firstNonEmpty(flag, getenv("CKANUP_TOKEN_URL")); u != "" {
		return u
	}
	if s != nil && sameSite(s.Profile.CKANURL, s.URL) {
		return s.Profile.TokenURL
	}
	return ""
}

// sameSite compares two CKAN URLs loosely (trailing slashes, /api/3/action).
func sameSite(a, b string) bool {
	ua, err1 := ckan.ParseSiteURL(a)
	ub, err2 := ckan.ParseSiteURL(b)
	return err1 == nil && err2 == nil && ua.String() == ub.String()
}

func (s *ckanSettings) client(deps *Deps, g *GlobalOptions) (*ckan.Client, error) {
	c, err := ckan.New(s.URL, s.Token, deps.HTTPClient)
	if err != nil {
		return nil, &usageError{err}
	}
	c.UserAgent = "ckanup/" + version
	c.TokenHeader = s.TokenHeader
	if g.Verbose {
		c.OnRetry = func(action string, attempt int, delay time.Duration, err error) {
			fmt.Fprintf(deps.Stderr, "ckanup: retry: CKAN %s attempt %d failed: %v; retrying in %s\n", action, attempt, err, delay.Round(time.Millisecond))
		}
	}
	return c, nil
}

// whoAmI returns the token's user, with a message that says what to do when the
// token is missing or not accepted, or when CKAN cannot be reached at all.
func whoAmI(ctx context.Context, c *ckan.Client, s *ckanSettings) (*ckan.User, error) {
	if s.Token == "" {
		return nil, noTokenError(c.SiteURL(), s)
	}
	u, err := c.CurrentUser(ctx)
	if errors.Is(err, ckan.ErrNotAuthenticated) {
		return nil, withHint(fmt.Errorf("%s (token from %s): %w", c.SiteURL(), s.TokenSource, err), tokenRefusedHint(c))
	}
	if err != nil {
		return nil, explainCKANReach(err, c.SiteURL(), s.URLSource)
	}
	return u, nil
}

// noTokenError says that no CKAN API token was given for site, and the three
// ways to give one. Its kind is failure.Auth (exit 4).
func noTokenError(site string, s *ckanSettings) error {
	msg := fmt.Errorf("%w for %s", ckan.ErrNoToken, site)
	if s != nil && s.Profile.APIToken != "" && !sameSite(s.Profile.CKANURL, site) {
		msg = fmt.Errorf("%w for %s (the login profile's token is for %s)", ckan.ErrNoToken, site, s.Profile.CKANURL)
	}
	return withHint(msg, "give one with --api-token-file FILE, the CKAN_API_TOKEN environment variable, or `ckanup login --ckan-url "+site+
		"` (create a token on your CKAN user page → API Tokens)")
}

// explainCKANReach turns a failure to reach CKAN at all (connection refused,
// unknown host, TLS, timeout: failure.IsNetwork or failure.IsPermanentNetwork,
// and no answer from CKAN) into a message that names the site and where its URL
// came from, with what to check. Any other error is returned as it is. The
// kind, and so the exit code, stays the cause's (7 temporary, 6 config).
func explainCKANReach(err error, site, urlSource string) error {
	if err == nil || errors.Is(err, context.Canceled) || !(failure.IsNetwork(err) || failure.IsPermanentNetwork(err)) {
		return err
	}
	var ae *ckan.APIError
	var re *ckan.ResponseError
	if errors.As(err, &ae) || errors.As(err, &re) {
		return err // CKAN answered
	}
	from := ""
	if urlSource != "" {
		from = " (URL from " + urlSource + ")"
	}
	check := "check the CKAN URL (--ckan-url, the CKAN_URL environment variable, or the login profile)"
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		check += ": its host name " + dnsErr.Name + " does not resolve; then your DNS and any proxy (HTTPS_PROXY, NO_PROXY)"
	case failure.IsPermanentNetwork(err):
		check += ": its TLS certificate does not verify for that host name; then any proxy that intercepts TLS, and SSL_CERT_FILE for a private CA"
	default:
		check += ", that CKAN is up and answering there, and any proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)"
	}
	return withHint(fmt.Errorf("could not reach CKAN at %s%s: %w", site, from, err), check)
}

// tokenRefusedHint says what to do when CKAN treats the token as anonymous:
// the token may be wrong, or the site reads it from another header.
func tokenRefusedHint(c *ckan.Client) string {
	other := "--token-header X-CKAN-API-Key or --token-header Authorization"
	if hs := c.TokenHeaders(); len(hs) == 1 {
		other = "--token-header both"
	}
	return "check that the token was copied whole and is not expired or revoked (else create a new one on your CKAN user page → API Tokens); " +
		"if it is right, the site may read the token from another header: its administrator's apitoken_header_name setting " +
		"(apikey_header_name before CKAN 2.11) names it, and a proxy in front of CKAN may drop one; try " + other
}
