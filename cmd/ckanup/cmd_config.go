package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ckanup/ckanup/internal/config"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// profileName is the login profile in use: --profile, else CKANUP_PROFILE,
// else "default".
func profileName(deps *Deps, g *GlobalOptions) string {
	if g.Profile == "default" && deps.Getenv("CKANUP_PROFILE") != "" {
		return deps.Getenv("CKANUP_PROFILE")
	}
	return g.Profile
}

// loadedProfile is the profile file and the profile in use.
type loadedProfile struct {
	Dir, Name string
	File      *config.File
	Profile   config.Profile
	Exists    bool
}

func loadProfile(deps *Deps, g *GlobalOptions) (*loadedProfile, error) {
	dir, err := config.Dir(deps.Getenv)
	if err != nil {
		return nil, err
	}
	f, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("read login profile: %w", err)
	}
	lp := &loadedProfile{Dir: dir, Name: profileName(deps, g), File: f}
	lp.Profile, lp.Exists = f.Profiles[lp.Name]
	return lp, nil
}

// resolveSettings resolves the S3 and upload settings of a command (see
// config.Resolve): the flags given on its command line, the environment, and
// the login profile. The profile's settings are left out when the CKAN site in
// use (--ckan-url or CKAN_URL) is another site than the profile's, as its
// token is.
func resolveSettings(fs *pflag.FlagSet, deps *Deps, g *GlobalOptions) (config.Settings, *loadedProfile, string, error) {
	lp, err := loadProfile(deps, g)
	if err != nil {
		return nil, nil, "", err
	}
	in := config.Inputs{Flags: map[config.Key]string{}, Getenv: deps.Getenv, ProfileName: lp.Name}
	for _, s := range config.Specs {
		if f := fs.Lookup(s.Flag); f != nil && f.Changed {
			in.Flags[s.Key] = f.Value.String()
		}
	}
	note := ""
	site := firstNonEmpty(g.CKANURL, deps.Getenv("CKAN_URL"))
	switch {
	case site != "" && lp.Profile.CKANURL != "" && !sameSite(site, lp.Profile.CKANURL):
		note = fmt.Sprintf("the settings of profile %q are not used: it is for %s, not %s", lp.Name, lp.Profile.CKANURL, site)
	default:
		in.Profile = lp.Profile.StoredSettings
	}
	st, err := config.Resolve(in)
	if err != nil {
		return nil, nil, "", &usageError{err}
	}
	return st, lp, note, nil
}

// resolve sets the S3 flags to the resolved settings (flag, environment,
// login profile) of the command.
func (f *S3Flags) resolve(cmd *cobra.Command, deps *Deps, g *GlobalOptions) (config.Settings, *loadedProfile, string, error) {
	st, lp, note, err := resolveSettings(cmd.Flags(), deps, g)
	if err != nil {
		return nil, nil, "", err
	}
	f.apply(st)
	if note != "" && g.Verbose {
		fmt.Fprintln(deps.Stderr, "ckanup: "+note)
	}
	return st, lp, note, nil
}

// applySettings sets the upload's S3 and upload settings to the resolved ones.
func (o *UploadOptions) applySettings(cmd *cobra.Command) error {
	st, _, _, err := o.S3.resolve(cmd, o.Deps, o.Global)
	if err != nil {
		return err
	}
	o.PublicURLBase = st.String(config.PublicURLBase)
	o.PartSize = st.String(config.PartSize)
	n, auto, err := upload.ParseConcurrency(st.String(config.Concurrency))
	if err != nil { // the default is valid, and Resolve checked the others
		return usageErrorf("concurrency: %v", err)
	}
	o.Concurrency, o.ConcurrencyAuto = n, auto
	return nil
}

// apply fills the S3 flags from resolved settings.
func (f *S3Flags) apply(st config.Settings) {
	f.Bucket = st.String(config.Bucket)
	f.KeyPrefix = st.String(config.KeyPrefix)
	f.Region = st.String(config.Region)
	f.Endpoint = st.String(config.EndpointURL)
	f.PathStyle = st.Bool(config.PathStyle)
	f.Checksum = st.String(config.Checksum)
	f.given = nil
	for _, k := range []config.Key{config.Bucket, config.KeyPrefix, config.Region, config.EndpointURL} {
		if src := st[k].Source; strings.HasPrefix(src, "--") {
			f.given = append(f.given, src)
		}
	}
}

func newConfigCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and change the settings kept in a login profile",
		Long: `Settings such as the bucket, region and part size can be kept in a login
profile (like 'aws configure' does), set in the environment, or given as flags.
A flag wins over the environment, which wins over the profile, which wins over
the default. The keys, their flags and environment variables:

` + settingsTable() + `
The profile's settings apply when the CKAN site in use is the profile's.`,
	}
	cmd.AddCommand(newConfigShowCmd(deps, g), newConfigSetCmd(deps, g), newConfigUnsetCmd(deps, g))
	return cmd
}

func settingsTable() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  key\tflag\tenvironment\tdefault")
	for _, s := range config.Specs {
		def := s.Default
		if def == "" {
			def = firstNonEmpty(s.DefaultText, "none")
		}
		fmt.Fprintf(tw, "  %s\t--%s\t%s\t%s\n", s.Key, s.Flag, strings.Join(s.Env, ", "), def)
	}
	tw.Flush()
	return b.String()
}

// shownSetting is one line of `config show`.
type shownSetting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

type configShow struct {
	Profile    string         `json:"profile"`
	ConfigFile string         `json:"config_file"`
	Settings   []shownSetting `json:"settings"`
	Notes      []string       `json:"notes,omitempty"`
}

const redacted = "(set, not shown)"

func newConfigShowCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print each effective setting and where it came from (secrets left out)",
		Long: `Print each setting ckanup would use here — CKAN site, API token (never shown),
token header and endpoint, then the S3 and upload settings — and where each
came from: a flag, an environment variable, the login profile, or the default.`,
		Example: `  ckanup config show
  CKANUP_CONCURRENCY=8 ckanup config show -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageErrorf("--output must be text or json, not %q", output)
			}
			st, lp, note, err := resolveSettings(cmd.Flags(), deps, g)
			if err != nil {
				return err
			}
			show := configShow{Profile: lp.Name, ConfigFile: lp.Dir + "/" + config.FileName}
			if !lp.Exists {
				show.Notes = append(show.Notes, fmt.Sprintf("there is no profile %q yet (ckanup login, or ckanup config set)", lp.Name))
			}
			if note != "" {
				show.Notes = append(show.Notes, note)
			}
			add := func(k, v, src string) { show.Settings = append(show.Settings, shownSetting{k, v, src}) }
			if s, err := resolveCKAN(deps, g); err == nil {
				add("ckan_url", s.URL, s.URLSource)
				if s.Token != "" {
					add("api_token", redacted, s.TokenSource)
				} else {
					add("api_token", "", "none")
				}
				add("token_header", firstNonEmpty(s.TokenHeader, "both"), s.TokenHeaderSource)
				tu := s.tokenEndpoint("", deps.Getenv)
				src := "none"
				switch {
				case deps.Getenv("CKANUP_TOKEN_URL") != "":
					src = "CKANUP_TOKEN_URL"
				case tu != "":
					src = "profile " + lp.Name
				}
				add("token_url", tu, src)
			} else {
				show.Notes = append(show.Notes, "CKAN site: "+err.Error())
			}
			for _, v := range st.List() {
				value, src := v.Value, v.Source
				switch {
				case value != "" || src != "default":
				case v.Key == config.PathStyle:
					// What the S3 client will do (creds.FromChain): path style
					// exactly when an endpoint is set.
					value, src = "false", "default (no endpoint_url)"
					if st.String(config.EndpointURL) != "" {
						value, src = "true", "default (endpoint_url is set)"
					}
				default:
					if sp, ok := config.SpecOf(string(v.Key)); ok && sp.DefaultText != "" {
						src = "default: " + sp.DefaultText
					}
				}
				add(string(v.Key), value, src)
			}
			if output == "json" {
				enc := json.NewEncoder(deps.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(show)
			}
			fmt.Fprintf(deps.Stdout, "profile %s (%s)\n", show.Profile, show.ConfigFile)
			tw := tabwriter.NewWriter(deps.Stdout, 2, 8, 2, ' ', 0)
			for _, s := range show.Settings {
				v := s.Value
				if v == "" {
					v = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, v, s.Source)
			}
			tw.Flush()
			for _, n := range show.Notes {
				fmt.Fprintln(deps.Stdout, "note: "+n)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newConfigSetCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Keep a setting in the login profile",
		Long: `Keep a setting in the login profile (--profile, default "default"), creating
the profile if needed. Keys:

` + settingsTable(),
		Example: `  ckanup config set bucket my-portal-bucket
  ckanup config set part_size 64MiB --profile ci`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeSettingKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeSetting(deps, g, args[0], args[1])
		},
	}
}

func newConfigUnsetCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "unset KEY",
		Short:             "Remove a setting from the login profile",
		Example:           `  ckanup config unset part_size`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSettingKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeSetting(deps, g, args[0], "")
		},
	}
}

func completeSettingKeys(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return config.KeyNames(), cobra.ShellCompDirectiveNoFileComp
}

func changeSetting(deps *Deps, g *GlobalOptions, key, value string) error {
	spec, ok := config.SpecOf(key)
	if !ok {
		return usageErrorf("no setting %q; the settings are %s", key, strings.Join(config.KeyNames(), ", "))
	}
	lp, err := loadProfile(deps, g)
	if err != nil {
		return err
	}
	p := lp.Profile
	if err := spec.Set(&p.StoredSettings, value); err != nil {
		return &usageError{err}
	}
	lp.File.Profiles[lp.Name] = p
	path, err := config.Save(lp.Dir, lp.File)
	if err != nil {
		return fmt.Errorf("save profile: %w", err)
	}
	if value == "" {
		fmt.Fprintf(deps.Stdout, "Removed %s from profile %q in %s\n", spec.Key, lp.Name, path)
	} else {
		fmt.Fprintf(deps.Stdout, "Set %s = %s in profile %q in %s\n", spec.Key, value, lp.Name, path)
	}
	return nil
}
