package config

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/ckanup/ckanup/internal/upload"
)

// Key names a setting, as `ckanup config set KEY VALUE` and the profile file
// spell it.
type Key string

// The settings a login profile can keep besides the site and token.
const (
	Bucket        Key = "bucket"
	Region        Key = "region"
	EndpointURL   Key = "endpoint_url"
	KeyPrefix     Key = "key_prefix"
	PublicURLBase Key = "public_url_base"
	PathStyle     Key = "path_style"
	PartSize      Key = "part_size"
	Concurrency   Key = "concurrency"
	Checksum      Key = "checksum"
)

// StoredSettings are the settings kept in a login profile (like `aws configure`
// keeps region and output). Empty means not set. Embedded in Profile, so the
// keys sit beside ckan_url in the profile file.
type StoredSettings struct {
	Bucket        string `json:"bucket,omitempty"`
	Region        string `json:"region,omitempty"`
	EndpointURL   string `json:"endpoint_url,omitempty"`
	KeyPrefix     string `json:"key_prefix,omitempty"`
	PublicURLBase string `json:"public_url_base,omitempty"`
	// PathStyle is "true" or "false".
	PathStyle string `json:"path_style,omitempty"`
	// PartSize is a size such as "16MiB".
	PartSize    string `json:"part_size,omitempty"`
	Concurrency string `json:"concurrency,omitempty"`
	// Checksum is the request checksum mode (auto, crc32c, crc64nvme, md5, off).
	Checksum string `json:"checksum,omitempty"`
}

// Spec describes one setting: the flag and environment variables that set it,
// its default, and how a value is checked.
type Spec struct {
	Key Key
	// Flag is the upload flag (without "--").
	Flag string
	// Env are the environment variables, in order of preference. AWS's names
	// are used where AWS has one (AWS_REGION, AWS_ENDPOINT_URL_S3).
	Env []string
	// Default is the value when nothing sets it; DefaultText describes an
	// empty default (e.g. "from the AWS configuration").
	Default, DefaultText string
	// Help is one line for `config set --help`.
	Help  string
	check func(string) error
	field func(*StoredSettings) *string
}

// Specs are every setting, in the order `config show` prints them. Other
// settings (checksum mode, …) are added here, in one place.
var Specs = []Spec{
	{Key: Bucket, Flag: "bucket", Env: []string{"CKANUP_BUCKET"}, Help: "S3 bucket",
		field: func(s *StoredSettings) *string { return &s.Bucket }},
	{Key: Region, Flag: "region", Env: []string{"AWS_REGION", "AWS_DEFAULT_REGION"}, DefaultText: "from the AWS configuration", Help: "AWS region",
		field: func(s *StoredSettings) *string { return &s.Region }},
	{Key: EndpointURL, Flag: "endpoint-url", Env: []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, DefaultText: "AWS", Help: "S3-compatible endpoint URL",
		check: checkHTTPURL, field: func(s *StoredSettings) *string { return &s.EndpointURL }},
	{Key: KeyPrefix, Flag: "key-prefix", Env: []string{"CKANUP_KEY_PREFIX"}, Help: "prefix of every object key",
		field: func(s *StoredSettings) *string { return &s.KeyPrefix }},
	{Key: PublicURLBase, Flag: "public-url-base", Env: []string{"CKANUP_PUBLIC_URL_BASE"}, Help: "base URL of a CDN or custom domain for resource URLs",
		check: checkHTTPURL, field: func(s *StoredSettings) *string { return &s.PublicURLBase }},
	{Key: PathStyle, Flag: "path-style", Env: []string{"CKANUP_PATH_STYLE"}, DefaultText: "on with an endpoint", Help: "path-style S3 URLs (true or false)",
		check: checkBool, field: func(s *StoredSettings) *string { return &s.PathStyle }},
	{Key: PartSize, Flag: "part-size", Env: []string{"CKANUP_PART_SIZE"}, Default: "5MiB", Help: "part size (5MiB to 5GiB)",
		check: checkPartSize, field: func(s *StoredSettings) *string { return &s.PartSize }},
	{Key: Concurrency, Flag: "concurrency", Env: []string{"CKANUP_CONCURRENCY"}, Default: strconv.Itoa(upload.DefaultConcurrency), Help: "requests in flight (1 to 64, or auto)",
		check: checkConcurrency, field: func(s *StoredSettings) *string { return &s.Concurrency }},
	{Key: Checksum, Flag: "checksum", Env: []string{"CKANUP_CHECKSUM"}, Default: string(upload.ChecksumAuto), Help: "request checksums: auto, crc32c, crc64nvme, md5 or off",
		check: checkChecksum, field: func(s *StoredSettings) *string { return &s.Checksum }},
}

// SpecOf returns the setting named k (also accepted with dashes, as the flag).
func SpecOf(k string) (Spec, bool) {
	k = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "-", "_")
	for _, s := range Specs {
		if string(s.Key) == k {
			return s, true
		}
	}
	return Spec{}, false
}

// KeyNames lists the setting names, for messages and completion.
func KeyNames() []string {
	var n []string
	for _, s := range Specs {
		n = append(n, string(s.Key))
	}
	sort.Strings(n)
	return n
}

// Check reports whether v is a valid value of the setting.
func (s Spec) Check(v string) error {
	if s.check == nil || v == "" {
		return nil
	}
	return s.check(v)
}

// Get returns the setting's value in st ("" when not set).
func (s Spec) Get(st *StoredSettings) string { return *s.field(st) }

// Set stores v (after Check) in st; "" removes the setting.
func (s Spec) Set(st *StoredSettings, v string) error {
	if err := s.Check(v); err != nil {
		return fmt.Errorf("%s %q: %w", s.Key, v, err)
	}
	*s.field(st) = v
	return nil
}

// Value is a resolved setting and where it came from.
type Value struct {
	Key   Key    `json:"key"`
	Value string `json:"value"`
	// Source is "--flag", the environment variable's name, "profile NAME", or
	// "default".
	Source string `json:"source"`
}

// Inputs are what a setting may come from.
type Inputs struct {
	// Flags are the values of the flags given on the command line, by key;
	// a flag not given is absent.
	Flags map[Key]string
	// Getenv reads the environment.
	Getenv func(string) string
	// Profile and ProfileName are the login profile in use (zero when none).
	Profile     StoredSettings
	ProfileName string
}

// Settings are resolved values, by key.
type Settings map[Key]Value

// Resolve applies the one precedence of ckanup's settings: a flag, then the
// environment (in Spec.Env order), then the login profile, then the default.
// A value from the flag, the environment or the profile that is not valid is an
// error naming where it came from.
func Resolve(in Inputs) (Settings, error) {
	out := Settings{}
	getenv := in.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	for _, s := range Specs {
		v := Value{Key: s.Key}
		if f, ok := in.Flags[s.Key]; ok {
			v.Value, v.Source = f, "--"+s.Flag
		} else if e, name := firstEnv(getenv, s.Env); name != "" {
			v.Value, v.Source = e, name
		} else if p := s.Get(&in.Profile); p != "" {
			v.Value, v.Source = p, "profile "+in.ProfileName
		} else {
			v.Value, v.Source = s.Default, "default"
		}
		if v.Source != "default" {
			if err := s.Check(v.Value); err != nil {
				return nil, fmt.Errorf("%s %q (from %s): %w", s.Key, v.Value, v.Source, err)
			}
		}
		out[s.Key] = v
	}
	return out, nil
}

// String returns a setting's value ("" when not set).
func (s Settings) String(k Key) string { return s[k].Value }

// Int returns a whole-number setting (0 when not set).
func (s Settings) Int(k Key) int {
	n, _ := strconv.Atoi(s[k].Value)
	return n
}

// Bool returns a true/false setting, nil when not set.
func (s Settings) Bool(k Key) *bool {
	if s[k].Value == "" {
		return nil
	}
	b, _ := strconv.ParseBool(s[k].Value)
	return &b
}

// List returns the values in the order of Specs.
func (s Settings) List() []Value {
	var out []Value
	for _, sp := range Specs {
		if v, ok := s[sp.Key]; ok {
			out = append(out, v)
		}
	}
	return out
}

func firstEnv(getenv func(string) string, names []string) (string, string) {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v, n
		}
	}
	return "", ""
}

func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an http(s) URL")
	}
	return nil
}

func checkBool(v string) error {
	if _, err := strconv.ParseBool(v); err != nil {
		return fmt.Errorf("not true or false")
	}
	return nil
}

func checkPartSize(v string) error {
	n, err := upload.ParseSize(v)
	if err != nil {
		return err
	}
	_, err = upload.NewPlan(0, n) // the S3 part limits, in one place
	return err
}

func checkChecksum(v string) error {
	_, err := upload.ParseChecksum(v)
	return err
}

func checkConcurrency(v string) error {
	_, _, err := upload.ParseConcurrency(v)
	return err
}
