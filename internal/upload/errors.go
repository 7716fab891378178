package upload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// ErrSourceChanged reports a file that changed size or modification time while it
// was being uploaded. The object is never completed or registered in that case.
var ErrSourceChanged = errors.New("the file changed while it was being uploaded")

// ErrVerify reports an object whose size or checksum, read back after the upload,
// does not match the local file.
var ErrVerify = errors.New("the uploaded object does not match the file")

// ErrUploadGone reports a multipart upload to resume that S3 no longer holds
// (aborted by a lifecycle rule or by hand). Start a fresh one.
var ErrUploadGone = errors.New("the multipart upload to resume no longer exists")

// MultipartError is returned when a multipart upload fails after it was created.
// It tells the caller whether the upload was aborted or left in place.
type MultipartError struct {
	Bucket, Key, UploadID string
	// Aborted is true when AbortMultipartUpload succeeded; otherwise AbortErr may say why not.
	Aborted  bool
	AbortErr error
	Err      error
}

func (e *MultipartError) Error() string {
	state := "aborted"
	if !e.Aborted {
		state = "left in place"
		if e.AbortErr != nil {
			state = fmt.Sprintf("NOT aborted (%v): abort it with `aws s3api abort-multipart-upload --bucket %s --key %q --upload-id %s`", e.AbortErr, e.Bucket, e.Key, e.UploadID)
		}
	}
	return fmt.Sprintf("%v (multipart upload %s %s)", e.Err, e.UploadID, state)
}

func (e *MultipartError) Unwrap() error { return e.Err }

// APICode returns the S3 error code of err ("AccessDenied", "NoSuchBucket", …), or "".
func APICode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// HTTPStatus returns the HTTP status of the S3 response behind err, or 0.
func HTTPStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// IsAccessDenied reports whether S3 refused the request for lack of permission or
// valid credentials.
func IsAccessDenied(err error) bool {
	switch APICode(err) {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
		"ExpiredToken", "AllAccessDisabled", "AccountProblem", "InvalidSecurity":
		return true
	}
	return HTTPStatus(err) == http.StatusForbidden
}

// credentialsExpired reports S3's answers to expired or unknown temporary
// credentials (servers differ in which code they use).
func credentialsExpired(err error) bool {
	switch APICode(err) {
	case "ExpiredToken", "InvalidToken", "InvalidAccessKeyId", "TokenRefreshRequired":
		return true
	}
	return false
}

// retryable decides whether one failed S3 call may succeed when repeated.
// parent is the operation's context: once it is done nothing is retried.
func retryable(parent context.Context, err error) bool {
	if err == nil || parent.Err() != nil {
		return false
	}
	switch APICode(err) {
	case "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
		"Throttling", "ThrottlingException", "TooManyRequests", "RequestLimitExceeded",
		"BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody", "OperationAborted":
		return true
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket",
		"NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge",
		"InvalidArgument", "InvalidRequest", "InvalidBucketName", "KeyTooLongError",
		"AllAccessDisabled", "MethodNotAllowed", "NotImplemented":
		return false
	}
	if status := HTTPStatus(err); status != 0 {
		return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
	}
	// No HTTP response: a network error, a per-attempt timeout, a reset connection.
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *smithy.OperationError
	return errors.As(err, &oe)
}
