package publish

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/upload"
)

// ExplainS3 adds what to do to the S3 errors a person can fix, for objects
// going to t: a missing bucket, refused credentials, a file that changed, an
// endpoint that cannot be reached (upload.IsUnreachable; the message then
// names the endpoint, without the user information its URL may hold). Other
// errors, and nil, are returned as they are; the kind of err is kept.
func ExplainS3(t creds.Target, err error) error {
	switch {
	case upload.APICode(err) == "NoSuchBucket":
		return hint.With(err, fmt.Sprintf("bucket %q does not exist there: check --bucket / CKANUP_BUCKET and the region or endpoint", t.Bucket))
	case upload.IsAccessDenied(err):
		return hint.With(err, fmt.Sprintf("the AWS credentials were refused for s3://%s/%s: check them, their permissions and the bucket policy", t.Bucket, t.KeyPrefix))
	case errors.Is(err, upload.ErrSourceChanged):
		return hint.With(err, "nothing was registered; upload the file again once it is no longer being written")
	case upload.IsUnreachable(err):
		return hint.With(fmt.Errorf("could not reach the S3 endpoint %s: %w", endpointName(t), err),
			"check the S3 endpoint (--endpoint-url, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, the login profile, or the token endpoint's answer), "+
				"your network, and any proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)")
	}
	return err
}

// endpointName is t's endpoint URL without user information, or AWS S3's
// regional endpoint when t has none.
func endpointName(t creds.Target) string {
	if t.Endpoint == "" {
		if t.Region == "" {
			return "of AWS S3"
		}
		return fmt.Sprintf("of AWS S3 in %s", t.Region)
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil {
		return "(an endpoint URL that does not parse)"
	}
	u.User = nil
	return u.String()
}
