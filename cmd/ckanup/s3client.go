package main

import (
	"context"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/s3client"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/spf13/cobra"
)

// S3Flags select the S3 target and AWS configuration.
type S3Flags struct {
	Bucket, KeyPrefix, Region, Endpoint, AWSProfile string
	PathStyle                                       *bool
	pathStyle                                       bool
	// Checksum is --checksum (env CKANUP_CHECKSUM): auto, crc32c, crc64nvme, md5 or off.
	Checksum string
	// given are the target flags given on the command line (see explicit).
	given []string
	// credentials, when set, replaces the AWS chain's (the demo uses it).
	credentials aws.CredentialsProvider
}

func (f *S3Flags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.Bucket, "bucket", "", "S3 bucket (env CKANUP_BUCKET, else the login profile)")
	fl.StringVar(&f.KeyPrefix, "key-prefix", "", "prefix of every object key (env CKANUP_KEY_PREFIX, else the login profile)")
	fl.StringVar(&f.Region, "region", "", "AWS region (env AWS_REGION, else the login profile, else the AWS configuration's)")
	fl.StringVar(&f.Endpoint, "endpoint-url", "", "S3-compatible endpoint (env AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else the login profile)")
	fl.StringVar(&f.AWSProfile, "aws-profile", "", "AWS shared-config profile (default: AWS_PROFILE)")
	fl.BoolVar(&f.pathStyle, "path-style", false, "path-style S3 URLs (env CKANUP_PATH_STYLE, else the login profile; default: on when an endpoint is set)")
	fl.StringVar(&f.Checksum, "checksum", "", "request checksums: auto, crc32c, crc64nvme, md5 or off (env CKANUP_CHECKSUM, else the login profile; default auto: CRC32C, or Content-MD5 where the store refuses checksum headers)")
}

// checksum resolves --checksum / CKANUP_CHECKSUM.
func (f *S3Flags) checksum(deps *Deps) (upload.Checksum, error) {
	c, err := upload.ParseChecksum(firstNonEmpty(f.Checksum, deps.Getenv("CKANUP_CHECKSUM")))
	if err != nil {
		return "", usageErrorf("--checksum: %v", err)
	}
	return c, nil
}

// engineOptions adds the S3 settings to the engine's options: the checksum
// mode, and a notice when auto falls back to Content-MD5.
// It fails with a usage error for an unknown checksum mode.
func (f *S3Flags) engineOptions(deps *Deps, o upload.Options, notice func(format string, a ...any)) (upload.Options, error) {
	c, err := f.checksum(deps)
	if err != nil {
		return o, err
	}
	o.Checksum = c
	o.OnChecksumFallback = func(from, to upload.Checksum, cause error) {
		notice("the S3 store refused %s checksum headers (%v); sending Content-MD5 instead for the rest of this run (set --checksum md5 to skip the first try)", from, cause)
	}
	return o, nil
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

// explicit reports the S3 flags given on the command line (not those set by
// the environment or the login profile).
func (f *S3Flags) explicit() []string {
	set := append([]string(nil), f.given...)
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

// newS3Client builds the S3 client for a credentials source (see s3client.New:
// the SDK's HTTP client with its CA bundle and proxy settings, no SDK retries).
func newS3Client(src *creds.Source) *s3.Client { return s3client.New(src.Config, src.Target) }

// objectURLs returns the URL recorded on the resource for each object key
// (see s3client.ObjectURLs).
func objectURLs(cfg aws.Config, t creds.Target, publicBase string) func(key string) string {
	resolve := s3client.ObjectURLs(cfg, t, publicBase)
	return func(key string) string {
		u, err := resolve(context.Background(), key)
		if err != nil {
			return "s3://" + t.Bucket + "/" + key // the endpoint rules refused the target; the upload will say why
		}
		return u
	}
}
