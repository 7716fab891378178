package creds

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AssumeRoleOptions configure STS AssumeRole with the caller's own credentials.
type AssumeRoleOptions struct {
	RoleARN     string
	SessionName string
	Duration    time.Duration // default 1 hour
	// Policy is an inline session policy narrowing the role (optional).
	Policy string
	// OnRefresh hears about each set of credentials fetched.
	OnRefresh func(expires time.Time)
}

type notifyingProvider struct {
	p         aws.CredentialsProvider
	onRefresh func(time.Time)
}

func (n notifyingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := n.p.Retrieve(ctx)
	if err == nil && n.onRefresh != nil {
		n.onRefresh(c.Expires)
	}
	return c, err
}

// AssumeRole turns a source (normally the SDK chain) into one whose credentials
// come from sts:AssumeRole on opts.RoleARN, refreshed ahead of expiry. The STS
// endpoint is the SDK's (AWS_ENDPOINT_URL_STS to override).
func AssumeRole(base *Source, o AssumeRoleOptions) (*Source, error) {
	if o.RoleARN == "" {
		return nil, fmt.Errorf("no role ARN")
	}
	if o.Duration == 0 {
		o.Duration = time.Hour
	}
	client := sts.NewFromConfig(base.Config)
	p := stscreds.NewAssumeRoleProvider(client, o.RoleARN, func(ao *stscreds.AssumeRoleOptions) {
		ao.RoleSessionName = o.SessionName
		ao.Duration = o.Duration
		if o.Policy != "" {
			ao.Policy = aws.String(o.Policy)
		}
	})
	cache := aws.NewCredentialsCache(notifyingProvider{p: p, onRefresh: o.OnRefresh}, func(c *aws.CredentialsCacheOptions) {
		c.ExpiryWindow = min(ExpiryWindow, o.Duration/4)
	})
	cfg := base.Config.Copy()
	cfg.Credentials = cache
	return &Source{Config: cfg, Target: base.Target, Kind: "STS AssumeRole " + o.RoleARN, Invalidate: cache.Invalidate}, nil
}
