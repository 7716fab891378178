// Package s3client builds the S3 client ckanup uploads with, and the URL of an
// object as that client addresses it.
//
// The client is built from the aws.Config the SDK loaded, keeping its HTTP
// client: AWS_CA_BUNDLE / ca_bundle (a company CA) and HTTPS_PROXY / NO_PROXY
// stay in force; only timeouts and connection-pool sizes change. The SDK's own
// retryer is off, because the upload engine owns the retry policy.
package s3client

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/ckanup/ckanup/internal/creds"
)

// Connection settings changed on the SDK's HTTP client. Everything else (TLS
// roots, proxy, HTTP/2) stays as the SDK configured it.
const (
	DialTimeout           = 15 * time.Second
	TLSHandshakeTimeout   = 15 * time.Second
	ResponseHeaderTimeout = 2 * time.Minute
	IdleConnTimeout       = 90 * time.Second
	// MaxIdleConnsPerHost keeps connections for up to 64 requests in flight
	// (the largest --concurrency) instead of net/http's 2.
	MaxIdleConnsPerHost = 64
)

// HTTPClient returns the HTTP client of cfg with ckanup's timeouts and pool
// sizes. A client the SDK built (*awshttp.BuildableClient, the default, which
// carries a CA bundle when one is configured) is copied with those changes; a
// client the caller supplied of another type is used as it is.
func HTTPClient(cfg aws.Config) aws.HTTPClient {
	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if cfg.HTTPClient == nil {
		bc, ok = awshttp.NewBuildableClient(), true
	}
	if !ok {
		return cfg.HTTPClient
	}
	return bc.
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = DialTimeout
			d.KeepAlive = 30 * time.Second
		}).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = TLSHandshakeTimeout
			tr.ResponseHeaderTimeout = ResponseHeaderTimeout
			tr.IdleConnTimeout = IdleConnTimeout
			tr.MaxIdleConnsPerHost = MaxIdleConnsPerHost
			tr.ExpectContinueTimeout = time.Second
		})
}

// Configure applies the target's addressing to S3 client options: region,
// endpoint, path style. New and ObjectURL both use it, so the URL registered
// is the one the upload wrote to.
func Configure(t creds.Target) func(*s3.Options) {
	return func(o *s3.Options) {
		o.UsePathStyle = t.PathStyle
		if t.Region != "" {
			o.Region = t.Region
		}
		if t.Endpoint != "" {
			o.BaseEndpoint = aws.String(t.Endpoint)
		}
	}
}

// New builds the S3 client for cfg (normally creds.Source.Config) and target t.
// The SDK retryer is switched off (one attempt per call: the engine retries);
// automatic request checksums are off too (the engine chooses per request).
// Over TLS the body is not hashed a second time for SigV4 (UNSIGNED-PAYLOAD):
// TLS protects it and each request carries its own checksum or Content-MD5.
func New(cfg aws.Config, t creds.Target, optFns ...func(*s3.Options)) *s3.Client {
	hc := HTTPClient(cfg)
	fns := []func(*s3.Options){func(o *s3.Options) {
		o.HTTPClient = hc
		o.Retryer = aws.NopRetryer{}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if !SignsPayloads(t) {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	}, Configure(t)}
	return s3.NewFromConfig(cfg, append(fns, optFns...)...)
}

// SignsPayloads reports whether a client built by New for t signs each request
// body's SHA-256 (SigV4): over plain HTTP it does; over TLS (an https://
// endpoint or AWS's own) it sends UNSIGNED-PAYLOAD. upload.Options.SignedPayloads
// takes this value, so the engine hands the signer the hashes of its read pass.
func SignsPayloads(t creds.Target) bool {
	return t.Endpoint != "" && !strings.HasPrefix(t.Endpoint, "https://")
}

// ObjectURL is the URL of bucket/key as a client built by New(cfg, t)
// addresses it: the SDK's own endpoint resolution (region, partition,
// endpoint, path style, dual-stack and FIPS settings of cfg; bucket names that
// cannot be a host name under TLS, such as ones with dots, go path-style as the
// SDK sends them). publicBase, when set, replaces all that: publicBase + "/" +
// key (a CDN or a website in front of the bucket). Key characters are escaped
// as the SDK escapes them in the request path.
func ObjectURL(ctx context.Context, cfg aws.Config, t creds.Target, publicBase, key string) (string, error) {
	return ObjectURLs(cfg, t, publicBase)(ctx, key)
}

// ObjectURLs returns ObjectURL for cfg, t and publicBase with the client's
// options built once (building them costs far more than resolving one URL),
// for a run that registers many objects.
func ObjectURLs(cfg aws.Config, t creds.Target, publicBase string) func(ctx context.Context, key string) (string, error) {
	if publicBase != "" {
		base := strings.TrimSuffix(publicBase, "/") + "/"
		return func(_ context.Context, key string) (string, error) {
			return base + httpbinding.EscapePath(key, false), nil
		}
	}
	o := s3.NewFromConfig(cfg, Configure(t)).Options()
	return func(ctx context.Context, key string) (string, error) {
		path := httpbinding.EscapePath(key, false)
		params := s3.EndpointParameters{
			Bucket:         aws.String(t.Bucket),
			Region:         aws.String(o.Region),
			UseFIPS:        aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
			UseDualStack:   aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
			Endpoint:       o.BaseEndpoint,
			ForcePathStyle: aws.Bool(o.UsePathStyle),
			Accelerate:     aws.Bool(o.UseAccelerate),
			Key:            aws.String(key),
		}
		if o.Region == "" {
			return "", fmt.Errorf("object URL: no region")
		}
		ep, err := o.EndpointResolverV2.ResolveEndpoint(ctx, params)
		if err != nil {
			return "", fmt.Errorf("object URL of s3://%s/%s: %w", t.Bucket, key, err)
		}
		u := ep.URI
		return strings.TrimSuffix(u.String(), "/") + "/" + path, nil
	}
}
