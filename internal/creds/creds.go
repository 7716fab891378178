// Package creds provides the AWS credentials and S3 target an upload uses.
//
// Every source is an aws.CredentialsProvider wrapped in an aws.CredentialsCache
// that refreshes ahead of expiry. A source may also dictate the target (bucket,
// region, endpoint, key prefix): the standard SDK chain does not, so the target
// comes from flags and the environment; a token endpoint will.
package creds

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// ExpiryWindow is how long before expiry cached credentials are refreshed.
const ExpiryWindow = 5 * time.Minute

// Target is where the objects go.
type Target struct {
	Bucket    string
	Region    string
	Endpoint  string // empty: AWS S3
	KeyPrefix string // without a trailing slash
	PathStyle bool
	// DatasetPrefix, when set, is the one dataset prefix (ending in "/") the
	// credentials may write under, as dictated by a token endpoint.
	DatasetPrefix string
}

// Source is resolved credentials plus the target they are meant for.
type Source struct {
	// Config carries the region and the cached credentials provider.
	Config aws.Config
	Target Target
	// Kind names the source for messages: "aws-sdk-chain", …
	Kind string
	// Invalidate forces the next request to fetch fresh credentials (nil when
	// the source cannot refresh).
	Invalidate func()
}

// ChainOptions select the standard AWS SDK configuration chain.
type ChainOptions struct {
	Profile  string // AWS_PROFILE when empty
	Region   string // AWS_REGION / profile when empty
	Endpoint string // AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when empty
	// PathStyle: nil means "on when an endpoint is set".
	PathStyle *bool
	Bucket    string
	KeyPrefix string
	Getenv    func(string) string
	// Credentials, when set, replaces the chain's credentials (the sandbox uses it).
	Credentials aws.CredentialsProvider
}

// FromChain loads credentials and region from the standard SDK chain
// (environment, shared config and credentials files, SSO, web identity, ECS and
// EC2 instance roles).
func FromChain(ctx context.Context, o ChainOptions) (*Source, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	endpoint := firstNonEmpty(o.Endpoint, getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL"))
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("S3 endpoint %q is not an http(s) URL", endpoint)
		}
		endpoint = strings.TrimSuffix(u.String(), "/")
	}
	var loadOpts []func(*config.LoadOptions) error
	if o.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(o.Credentials))
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return nil, errors.New("no AWS region: set AWS_REGION (or --region, or region in your AWS profile)")
		}
		cfg.Region = "us-east-1" // S3-compatible stores mostly ignore it, but SigV4 needs one
	}
	var invalidate func()
	if cfg.Credentials != nil {
		inner, _ := cfg.Credentials.(*aws.CredentialsCache)
		cache := aws.NewCredentialsCache(cfg.Credentials, func(c *aws.CredentialsCacheOptions) {
			c.ExpiryWindow = ExpiryWindow
			c.ExpiryWindowJitterFrac = 0.2
		})
		cfg.Credentials = cache
		invalidate = func() {
			if inner != nil {
				inner.Invalidate()
			}
			cache.Invalidate()
		}
	}
	pathStyle := endpoint != ""
	if o.PathStyle != nil {
		pathStyle = *o.PathStyle
	}
	return &Source{Config: cfg, Kind: "AWS SDK configuration chain", Invalidate: invalidate, Target: Target{Bucket: o.Bucket, Region: cfg.Region,
		Endpoint: endpoint, KeyPrefix: strings.Trim(o.KeyPrefix, "/"), PathStyle: pathStyle}}, nil
}

// ErrNoCredentials means no AWS credentials could be found or retrieved.
var ErrNoCredentials = errors.New("no AWS credentials")

const credentialsHint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an instance role is available"

// Check makes sure credentials can be had, so a missing configuration is reported
// before any work starts, with what to do.
func (s *Source) Check(ctx context.Context) error {
	if s.Config.Credentials == nil {
		return fmt.Errorf("%w: %s", ErrNoCredentials, credentialsHint)
	}
	if _, err := s.Config.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("%w (%v): %s", ErrNoCredentials, err, credentialsHint)
	}
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
