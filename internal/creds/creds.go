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
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
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
	// silentSDK: ckanup reports what went wrong itself (Check).
	loadOpts := []func(*config.LoadOptions) error{silentSDK}
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
		var p aws.CredentialsProvider = cfg.Credentials
		var chain *chainProvider
		if o.Credentials == nil {
			chain = &chainProvider{cur: cfg.Credentials, load: func(ctx context.Context) (aws.CredentialsProvider, error) {
				c, err := config.LoadDefaultConfig(ctx, loadOpts...)
				if err != nil {
					return nil, fmt.Errorf("reload AWS configuration: %w", err)
				}
				if c.Credentials == nil {
					return nil, fmt.Errorf("reload AWS configuration: %w", ErrNoCredentials)
				}
				return c.Credentials, nil
			}}
			p = chain
		}
		cache := aws.NewCredentialsCache(p, func(c *aws.CredentialsCacheOptions) {
			c.ExpiryWindow = ExpiryWindow
			c.ExpiryWindowJitterFrac = 0.2
		})
		cfg.Credentials = cache
		invalidate = func() {
			if chain != nil {
				chain.invalidate()
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

// chainProvider hands out the credentials of the AWS configuration chain. When
// S3 refuses them as expired, invalidate makes the next Retrieve load the
// whole chain again (files, environment, SSO cache, credential_process), so a
// rotated key or a renewed session is picked up; getting the refused key back
// is an error that says so.
type chainProvider struct {
	load func(context.Context) (aws.CredentialsProvider, error)

	mu      sync.Mutex
	cur     aws.CredentialsProvider
	last    aws.Credentials // what Retrieve last handed out
	reload  bool
	refused *aws.Credentials
	// renewed is when a reload last brought other credentials: requests
	// signed before it (parts in flight) may still come back refused, and
	// their refusals are not about the new credentials.
	renewed time.Time
}

// renewalGrace is how long after a reload that brought new credentials a
// refusal is taken to be about the old ones (the longest part upload timeout
// is longer, but by then the old credentials' refusals have come back).
const renewalGrace = time.Minute

func (p *chainProvider) invalidate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.renewed.IsZero() && time.Since(p.renewed) < renewalGrace {
		return
	}
	p.reload = true
	if p.last.AccessKeyID != "" {
		last := p.last
		p.refused = &last
	}
}

func (p *chainProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reload {
		cur, err := p.load(ctx)
		if err != nil {
			return aws.Credentials{}, err
		}
		p.cur, p.reload = cur, false
	}
	c, err := p.cur.Retrieve(ctx)
	if err != nil {
		return c, err
	}
	if r := p.refused; r != nil {
		p.refused = nil
		if c.AccessKeyID == r.AccessKeyID && c.SecretAccessKey == r.SecretAccessKey && c.SessionToken == r.SessionToken {
			return aws.Credentials{}, &SameCredentialsError{AccessKeyID: c.AccessKeyID, Source: c.Source}
		}
		p.renewed = time.Now()
	}
	p.last = c
	return c, nil
}

// SameCredentialsError reports that reloading the AWS configuration gave back
// the very credentials S3 had just refused as expired or unknown.
type SameCredentialsError struct {
	AccessKeyID string
	Source      string // the SDK provider's name, e.g. SharedConfigCredentials
}

func (e *SameCredentialsError) Error() string {
	id := e.AccessKeyID
	if len(id) > 4 {
		id = "…" + id[len(id)-4:]
	}
	return fmt.Sprintf("S3 refused access key %s as expired or unknown, and reloading the AWS configuration (%s) gave back the same key: renew the credentials (aws sso login, a new key in the credentials file or environment) and run again", id, e.Source)
}

// ErrorKind tells the upload engine this is final: "auth".
func (e *SameCredentialsError) ErrorKind() string { return "auth" }

func (e *SameCredentialsError) Is(target error) bool { return target == ErrNoCredentials }

// silentSDK turns off the SDK's own logger (by default a log.Logger on
// os.Stderr, which prints e.g. "WARN falling back to IMDSv1" while the
// credential chain looks for an instance role) and its client logging, so
// that ckanup's own error, with what to do, is the only message a person sees.
func silentSDK(o *config.LoadOptions) error {
	o.Logger = logging.Nop{}
	o.ClientLogMode = new(aws.ClientLogMode)
	return nil
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
		// Each credentials cache on the way (the SDK's and ours) prefixes
		// "failed to refresh cached credentials, "; keep the cause once.
		cause := strings.ReplaceAll(err.Error(), "failed to refresh cached credentials, ", "")
		return fmt.Errorf("%w (%s): %s", ErrNoCredentials, cause, credentialsHint)
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
