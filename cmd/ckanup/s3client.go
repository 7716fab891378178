package main

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/creds"
)

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
