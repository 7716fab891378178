package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/config"
	"github.com/spf13/cobra"
)

// LoginOptions are the login command's flags.
type LoginOptions struct {
	*Deps
	Global     *GlobalOptions
	TokenStdin bool
	TokenURL   string
}

func newLoginCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	o := &LoginOptions{Deps: deps, Global: g}
	cmd := &cobra.Command{
		Use:   "login --ckan-url URL",
		Short: "Check a CKAN API token and save it in a login profile",
		Long: `Read a CKAN API token (typed without echo, or from stdin with --token-stdin),
check it with CKAN's user_show, and save the site and token in a profile in
$XDG_CONFIG_HOME/ckanup/config.json (file mode 0600, directory 0700).
The token goes in both the Authorization and the X-CKAN-API-Key header unless
--token-header (or CKANUP_TOKEN_HEADER) names one; that choice is saved too.
When the site redirects (http:// to https://, a new host), the URL it settles on
is saved, since later commands refuse to follow redirects. CKAN_URL and
CKAN_API_TOKEN, when set, override the profile.

Create the token in CKAN on your user page, under "API Tokens".

` + exitCodesHelp,
		Example: `  ckanup login --ckan-url https://data.example.org
  echo "$TOKEN" | ckanup login --ckan-url https://data.example.org --token-stdin --profile ci`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLogin(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.TokenStdin, "token-stdin", false, "read the token from standard input")
	cmd.Flags().StringVar(&o.TokenURL, "token-url", "", "the site's ckanup token endpoint, saved in the profile")
	return cmd
}

func runLogin(ctx context.Context, o *LoginOptions) error {
	site, siteSource := firstNonEmpty(o.Global.CKANURL, o.Getenv("CKAN_URL")), "--ckan-url"
	if o.Global.CKANURL == "" {
		siteSource = "CKAN_URL"
	}
	if site == "" {
		return usageErrorf("pass --ckan-url (the CKAN site, e.g. https://data.example.org)")
	}
	var token string
	switch {
	case o.TokenStdin:
		line, err := bufio.NewReader(o.Stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read token from stdin: %w", err)
		}
		token = strings.TrimSpace(line)
	case o.IsTerminal(o.Stdin):
		fmt.Fprint(o.Stderr, "CKAN API token (input hidden): ")
		b, err := o.ReadPassword(o.Stdin)
		fmt.Fprintln(o.Stderr)
		if err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	default:
		return usageErrorf("standard input is not a terminal: pass the token on stdin with --token-stdin")
	}
	if token == "" {
		return usageErrorf("empty token")
	}
	header, headerSource, err := resolveTokenHeader(o.Global, o.Getenv, "", "")
	if err != nil {
		return err
	}
	c, err := ckan.New(site, token, o.HTTPClient)
	if err != nil {
		return &usageError{err}
	}
	c.TokenHeader = header
	// Store the URL the site settles on after its redirects (http → https, a
	// new host), since every later call refuses to follow one.
	settled, err := c.SettledSiteURL(ctx)
	if err != nil {
		if e := explainCKANReach(err, c.SiteURL(), siteSource); e != err {
			return e
		}
		return withHint(fmt.Errorf("%s: %w", c.SiteURL(), err), "check --ckan-url: it should be the CKAN site's root URL, such as https://data.example.org")
	}
	if settled != c.SiteURL() {
		fmt.Fprintf(o.Stderr, "ckanup: %s redirects to %s; saving %s in the profile\n", c.SiteURL(), settled, settled)
		if c, err = ckan.New(settled, token, o.HTTPClient); err != nil {
			return &usageError{err}
		}
		c.TokenHeader = header
	}
	u, err := c.CurrentUser(ctx)
	if err != nil {
		if e := explainCKANReach(err, c.SiteURL(), siteSource); e != err {
			return e
		}
		return withHint(fmt.Errorf("%s: %w", c.SiteURL(), err), tokenRefusedHint(c))
	}
	dir, err := config.Dir(o.Getenv)
	if err != nil {
		return err
	}
	f, err := config.Load(dir)
	if err != nil {
		return err
	}
	name := o.Global.Profile
	p := config.Profile{CKANURL: c.SiteURL(), APIToken: token, User: u.Name, TokenURL: o.TokenURL}
	if old, ok := f.Profiles[name]; ok && (old.CKANURL == "" || sameSite(old.CKANURL, p.CKANURL)) {
		// Logging in (again) to the profile's site keeps its settings (config set).
		p.StoredSettings = old.StoredSettings
	}
	if headerSource != "default" {
		p.TokenHeader = header
	}
	f.Profiles[name] = p
	path, err := config.Save(dir, f)
	if err != nil {
		return fmt.Errorf("save profile: %w", err)
	}
	fmt.Fprintf(o.Stdout, "Logged in to %s as %s; profile %q saved in %s\n", c.SiteURL(), u.Name, name, path)
	return nil
}

// whoamiResult is `whoami -o json`.
type whoamiResult struct {
	Site          string         `json:"site"`
	User          string         `json:"user"`
	Sysadmin      bool           `json:"sysadmin"`
	TokenSource   string         `json:"token_source"`
	Organizations []whoamiOrgRow `json:"organizations"`
}

type whoamiOrgRow struct {
	Name     string `json:"name"`
	Title    string `json:"title,omitempty"`
	Capacity string `json:"capacity"`
}

func newWhoamiCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the CKAN user of the API token and where they may upload",
		Long:  "Show the CKAN site and user the API token belongs to, and the organizations whose datasets the user may edit.\n\n" + exitCodesHelp,
		Example: `  ckanup whoami
  ckanup whoami -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageErrorf("--output must be text or json, not %q", output)
			}
			ctx := cmd.Context()
			s, err := resolveCKAN(deps, g)
			if err != nil {
				return err
			}
			c, err := s.client(deps, g)
			if err != nil {
				return err
			}
			u, err := whoAmI(ctx, c, s)
			if err != nil {
				return err
			}
			orgs, err := c.OrganizationsForUser(ctx, "update_dataset")
			if err != nil {
				return fmt.Errorf("list organizations: %w", err)
			}
			if output == "json" {
				r := whoamiResult{Site: c.SiteURL(), User: u.Name, Sysadmin: u.Sysadmin, TokenSource: s.TokenSource, Organizations: []whoamiOrgRow{}}
				for _, o := range orgs {
					r.Organizations = append(r.Organizations, whoamiOrgRow{Name: o.Name, Title: o.Title, Capacity: o.Capacity})
				}
				return json.NewEncoder(deps.Stdout).Encode(r)
			}
			role := ""
			if u.Sysadmin {
				role = " (sysadmin)"
			}
			fmt.Fprintf(deps.Stdout, "%s: %s%s, token from %s\n", c.SiteURL(), u.Name, role, s.TokenSource)
			for _, o := range orgs {
				fmt.Fprintf(deps.Stdout, "  may edit datasets of %s (%s)\n", o.Name, o.Capacity)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newLogoutCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove the API token saved in a login profile",
		Long: `Remove the CKAN API token saved in the login profile (--profile, default
"default"), keeping the profile's site and settings. The token stays valid in
CKAN: revoke it there (your user page → API Tokens) if it may have leaked.`,
		Example: `  ckanup logout --profile ci`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runLogout(deps, g) },
	}
}

func runLogout(deps *Deps, g *GlobalOptions) error {
	lp, err := loadProfile(deps, g)
	if err != nil {
		return err
	}
	if !lp.Exists {
		if len(lp.File.Profiles) == 0 {
			fmt.Fprintf(deps.Stdout, "No login profiles are saved; nothing to remove\n")
			return nil
		}
		return usageErrorf("no login profile %q (known: %s)", lp.Name, strings.Join(lp.File.Names(), ", "))
	}
	p := lp.Profile
	if p.APIToken == "" {
		fmt.Fprintf(deps.Stdout, "Profile %q (%s) has no saved token; nothing to remove\n", lp.Name, firstNonEmpty(p.CKANURL, "no site"))
	} else {
		p.APIToken = ""
		lp.File.Profiles[lp.Name] = p
		path, err := config.Save(lp.Dir, lp.File)
		if err != nil {
			return fmt.Errorf("save profile: %w", err)
		}
		who := ""
		if p.User != "" {
			who = ", user " + p.User
		}
		fmt.Fprintf(deps.Stdout, "Removed the API token of profile %q (%s%s) from %s\n", lp.Name, p.CKANURL, who, path)
	}
	if deps.Getenv("CKAN_API_TOKEN") != "" {
		fmt.Fprintln(deps.Stderr, "ckanup: note: CKAN_API_TOKEN is still set in this environment and is used instead of a profile's token")
	}
	return nil
}
