package main

import (
	"context"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/spf13/cobra"
)

// S3Flags select the S3 target and AWS configuration.
type S3Flags struct {
	Bucket, KeyPrefix, Region, Endpoint, AWSProfile string
	PathStyle                                       *bool
	pathStyle                                       bool
	// credentials, when set, replaces the AWS chain's (the demo uses it).
	credentials aws.CredentialsProvider
}

func (f *S3Flags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.Bucket, "bucket", "", "S3 bucket (env CKANUP_BUCKET)")
	fl.StringVar(&f.KeyPrefix, "key-prefix", "", "prefix of every object key (env CKANUP_KEY_PREFIX)")
	fl.StringVar(&f.Region, "region", "", "AWS region (default: AWS_REGION or the AWS profile's)")
	fl.StringVar(&f.Endpoint, "endpoint-url", "", "S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)")
	fl.StringVar(&f.AWSProfile, "aws-profile", "", "AWS shared-config profile (default: AWS_PROFILE)")
	fl.BoolVar(&f.pathStyle, "path-style", false, "path-style S3 URLs (default: on when an endpoint is set)")
}

// changed records flags whose "unset" differs from their zero value.
func (f *S3Flags) changed(cmd *cobra.Command) {
	if cmd.Flags().Changed("path-style") {
		f.PathStyle = &f.pathStyle
	}
}

// source resolves the target and the credentials of the AWS SDK chain.
func (f *S3Flags) source(ctx context.Context, deps *Deps) (*creds.Source, error) {
	bucket := firstNonEmpty(f.Bucket, deps.Getenv("CKANUP_BUCKET"))
	if bucket == "" {
		return nil, usageErrorf("no S3 bucket: pass --bucket or set CKANUP_BUCKET (or use a token endpoint: --token-url)")
	}
	src, err := creds.FromChain(ctx, creds.ChainOptions{
		Profile: f.AWSProfile, Region: f.Region, Endpoint: f.Endpoint, PathStyle: f.PathStyle,
		Bucket: bucket, KeyPrefix: firstNonEmpty(f.KeyPrefix, deps.Getenv("CKANUP_KEY_PREFIX")), Getenv: deps.Getenv,
		Credentials: f.credentials,
	})
	if err != nil {
		return nil, &usageError{err}
	}
	if err := src.Check(ctx); err != nil {
		return nil, err
	}
	return src, nil
}

// explicit reports the S3 flags given on the command line.
func (f *S3Flags) explicit() []string {
	var set []string
	for name, v := range map[string]string{"--bucket": f.Bucket, "--key-prefix": f.KeyPrefix, "--region": f.Region, "--endpoint-url": f.Endpoint} {
		if v != "" {
			set = append(set, name)
		}
	}
	sort.Strings(set)
	return set
}

// where describes the S3 target for messages.
func where(t creds.Target) string {
	if t.Endpoint != "" {
		return t.Endpoint
	}
	return "AWS S3 in " + t.Region
}

// newS3Client builds the S3 client for a credentials source. ckanup owns the
// retry policy, so the SDK's retryer is switched off (one attempt per call);
// request checksums are the engine's, not the SDK's automatic ones.
func newS3Client(src *creds.Source) *s3.Client {
	t := src.Target
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   32,
		ForceAttemptHTTP2:     true,
	}
	return s3.NewFromConfig(src.Config, func(o *s3.Options) {
		o.HTTPClient = &http.Client{Transport: transport}
		o.Retryer = aws.NopRetryer{}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.UsePathStyle = t.PathStyle
		if t.Region != "" {
			o.Region = t.Region
		}
		if t.Endpoint != "" {
			o.BaseEndpoint = aws.String(t.Endpoint)
		}
		if t.Endpoint == "" || strings.HasPrefix(t.Endpoint, "https://") {
			// TLS protects the body and every part carries a CRC32C that S3
			// verifies, so the body is not hashed a second time for SigV4.
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	})
}
