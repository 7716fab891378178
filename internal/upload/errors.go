package upload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrSourceChanged reports a file that changed size, modification time or
// bytes while it was being uploaded. The object is never completed or
// registered in that case.
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
	// Parts and Bytes are what S3 is known to hold of the upload when it was
	// left: the parts it acknowledged in this run and those its ListParts
	// reported for a resumed upload.
	Parts int
	Bytes int64
	// Unsure counts the parts whose request was cut off (cancelled, or its
	// answer lost) before S3 answered: S3 may hold them too, and a resume's
	// ListParts will say.
	Unsure int
}

func (e *MultipartError) Error() string {
	state := "aborted"
	if !e.Aborted {
		state = "left in place"
		if e.AbortErr != nil {
			state = fmt.Sprintf("NOT aborted (%v): abort it with `aws s3api abort-multipart-upload --bucket %s --key %q --upload-id %s`", e.AbortErr, e.Bucket, e.Key, e.UploadID)
		}
		state += ": " + e.held()
	}
	return fmt.Sprintf("%v (multipart upload %s %s)", e.Err, e.UploadID, state)
}

// held says how many parts S3 confirmed holding, and how many more it may hold.
func (e *MultipartError) held() string {
	s := fmt.Sprintf("%d %s, %s confirmed in S3", e.Parts, plural(e.Parts, "part", "parts"), FormatSize(e.Bytes))
	switch e.Unsure {
	case 0:
	case 1:
		s += "; a part in flight may have arrived too"
	default:
		s += fmt.Sprintf("; %d parts in flight may have arrived too", e.Unsure)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (e *MultipartError) Unwrap() error { return e.Err }

// CompletedMismatchError reports an object that S3 assembled (the multipart
// upload completed, or the single request was stored) but whose read-back does
// not match the file. The object exists with other content; no multipart
// upload is left to resume.
type CompletedMismatchError struct {
	Bucket, Key string
	Err         error
}

func (e *CompletedMismatchError) Error() string {
	return fmt.Sprintf("s3://%s/%s was written but reading it back found it differs from the file (%v); nothing was registered and no upload is left to resume: upload the file again", e.Bucket, e.Key, e.Err)
}

func (e *CompletedMismatchError) Unwrap() error { return e.Err }

// Kind is what a failure means for the caller: whether a repeat may succeed.
type Kind string

// The kinds of failure Classify tells apart. ErrorKind methods of other
// packages' errors (the token endpoint's) return these strings.
const (
	KindNone      Kind = ""          // no error
	KindTemporary Kind = "temporary" // a repeat may succeed: throttling, 5xx, timeouts, reset connections
	KindPermanent Kind = "permanent" // a repeat cannot succeed: bad request, TLS certificate, changed file
	KindAuth      Kind = "auth"      // credentials missing, refused, expired, or lacking permission
	KindNotFound  Kind = "not-found" // the bucket, object or upload does not exist
	KindCanceled  Kind = "canceled"  // the caller's context was cancelled
)

// kinded is an error that knows its Kind (creds.EndpointError and others that
// cannot import this package return one of the Kind strings).
type kinded interface{ ErrorKind() string }

// S3 error codes and what they mean. Sources: the S3 API reference's error
// code list, and what S3-compatible stores answer (moto, versitygw, MinIO).
var codeKinds = map[string]Kind{
	"SlowDown": KindTemporary, "RequestTimeout": KindTemporary, "InternalError": KindTemporary,
	"ServiceUnavailable": KindTemporary, "Throttling": KindTemporary, "ThrottlingException": KindTemporary,
	"TooManyRequests": KindTemporary, "RequestLimitExceeded": KindTemporary, "OperationAborted": KindTemporary,
	"IncompleteBody": KindTemporary, "RequestThrottled": KindTemporary, "PriorRequestNotComplete": KindTemporary,
	"IDPCommunicationError": KindTemporary,
	// A digest mismatch is temporary only once the source is known unchanged:
	// the engine re-checks it before a retry (see retry).
	// MinIO answers XAmzContentChecksumMismatch for a wrong x-amz-checksum-*.
	"BadDigest": KindTemporary, "XAmzContentSHA256Mismatch": KindTemporary, "InvalidDigest": KindTemporary,
	"XAmzContentChecksumMismatch": KindTemporary,

	"AccessDenied": KindAuth, "InvalidAccessKeyId": KindAuth, "SignatureDoesNotMatch": KindAuth,
	"InvalidToken": KindAuth, "ExpiredToken": KindAuth, "ExpiredTokenException": KindAuth, "TokenRefreshRequired": KindAuth,
	"AllAccessDisabled": KindAuth, "AccountProblem": KindAuth, "InvalidSecurity": KindAuth,
	"AccessDeniedException": KindAuth, "InvalidClientTokenId": KindAuth, "UnrecognizedClientException": KindAuth,
	"RequestTimeTooSkewed": KindPermanent, // after the one corrected retry

	"NoSuchBucket": KindNotFound, "NoSuchKey": KindNotFound, "NotFound": KindNotFound, "NoSuchUpload": KindNotFound,

	"InvalidPart": KindPermanent, "InvalidPartOrder": KindPermanent, "EntityTooSmall": KindPermanent,
	"EntityTooLarge": KindPermanent, "InvalidArgument": KindPermanent, "InvalidRequest": KindPermanent,
	"InvalidBucketName": KindPermanent, "KeyTooLongError": KindPermanent, "MethodNotAllowed": KindPermanent,
	"NotImplemented": KindPermanent, "BadRequest": KindPermanent, "MalformedXML": KindPermanent,
	"PermanentRedirect": KindPermanent, "AuthorizationHeaderMalformed": KindPermanent,
	"RegionDisabledException": KindPermanent, "PackedPolicyTooLarge": KindPermanent, "MalformedPolicyDocument": KindPermanent,
}

// Classify tells what err means: KindTemporary when repeating the same call
// may succeed, KindAuth for refused or missing credentials, KindNotFound,
// KindCanceled, and KindPermanent for everything else. It reads, in order: the
// caller's cancellation, errors of this package, errors that carry their own
// kind (the token endpoint's), TLS and certificate failures, the S3/STS error
// code, the HTTP status, then transport failures (timeouts, resets, refused
// connections, DNS). An error it does not recognise is permanent: retrying
// what is not understood only delays the message.
func Classify(err error) Kind {
	if err == nil {
		return KindNone
	}
	var k kinded
	var ce *ClockSkewError
	var te *TLSError
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, ErrSourceChanged), errors.Is(err, ErrVerify), errors.As(err, &ce), errors.As(err, &te):
		return KindPermanent
	case errors.Is(err, ErrUploadGone):
		return KindNotFound
	case errors.As(err, &k):
		return Kind(k.ErrorKind())
	case tlsFailure(err) != "":
		return KindPermanent
	}
	if kind, ok := codeKinds[APICode(err)]; ok {
		return kind
	}
	if status := HTTPStatus(err); status != 0 {
		switch {
		case status == http.StatusNotFound:
			return KindNotFound
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return KindAuth
		case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented:
			return KindTemporary
		}
		return KindPermanent
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTemporary
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return KindPermanent
		}
		return KindTemporary
	}
	var ne net.Error
	var se *smithyhttp.RequestSendError
	var de *smithy.DeserializationError
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return KindTemporary
	case errors.As(err, &ne), errors.As(err, &se), errors.As(err, &de):
		return KindTemporary
	}
	return KindPermanent
}

// IsUnreachable reports a request that never reached the S3 endpoint: the
// connection could not be made (refused, no route, a dial timeout, a proxy
// that could not be reached) or the host name did not resolve. The SDK shows
// these as "StatusCode: 0 … request send failed"; no S3 answer is behind them.
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || HTTPStatus(err) != 0 {
		return false
	}
	var dns *net.DNSError
	var op *net.OpError
	return errors.As(err, &dns) || errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect")
}

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

// IsAccessDenied reports whether err is KindAuth: S3, STS or the token
// endpoint refused the credentials or their permissions.
func IsAccessDenied(err error) bool { return Classify(err) == KindAuth }

// credentialsExpired reports S3's answers to expired or unknown temporary
// credentials (servers differ in which code they use).
func credentialsExpired(err error) bool {
	switch APICode(err) {
	case "ExpiredToken", "InvalidToken", "InvalidAccessKeyId", "TokenRefreshRequired":
		return true
	}
	return false
}

// throttling reports an answer asking the client to slow down: S3's
// SlowDown (503), the throttling codes of S3-compatible stores, and a bare
// 503 or 429. An adaptive pool halves on it (see pool.throttled).
func throttling(err error) bool {
	switch APICode(err) {
	case "SlowDown", "Throttling", "ThrottlingException", "TooManyRequests", "RequestLimitExceeded",
		"RequestThrottled", "ServiceUnavailable":
		return true
	}
	switch HTTPStatus(err) {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return true
	}
	return false
}

// digestMismatch reports a server that computed another checksum of the body
// than the request declared: the bytes changed on the way or at the source.
func digestMismatch(err error) bool {
	switch APICode(err) {
	case "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest", "XAmzContentChecksumMismatch":
		return true
	}
	return false
}

// ClockSkewError reports a request refused because the local clock differs
// from the server's by more than SigV4 allows, after one retry signed with
// the server's time also failed.
type ClockSkewError struct {
	Skew time.Duration // server time minus local time
	Err  error
}

func (e *ClockSkewError) Error() string {
	dir := "behind"
	if e.Skew < 0 {
		dir = "ahead of"
	}
	return fmt.Sprintf("the local clock is %d minutes %s the server's, and S3 refuses requests signed more than 15 minutes off: set the clock right (NTP) and run again (%v)",
		int(e.Skew.Abs().Round(time.Minute)/time.Minute), dir, e.Err)
}

func (e *ClockSkewError) Unwrap() error { return e.Err }

// skewThreshold is the clock difference taken as the cause of a refusal.
// SigV4 allows 15 minutes; the SDK treats 4 as suspicious.
const skewThreshold = 4 * time.Minute

// responseSkew returns the server's time minus now, from the Date header of
// the response behind err, when that response is a refusal that a skewed
// clock explains: 403 (a HEAD's carries no code) or a signature/time code.
func responseSkew(err error, now time.Time) (time.Duration, bool) {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, false
	}
	switch APICode(err) {
	case "RequestTimeTooSkewed", "SignatureDoesNotMatch", "AccessDenied", "InvalidSignatureException", "AuthFailure", "Forbidden", "":
	default:
		return 0, false
	}
	if code := APICode(err); (code == "" || code == "Forbidden") && re.HTTPStatusCode() != http.StatusForbidden {
		return 0, false
	}
	date, perr := http.ParseTime(re.Response.Header.Get("Date"))
	if perr != nil {
		return 0, false
	}
	skew := date.Sub(now)
	if skew.Abs() <= skewThreshold {
		return 0, false
	}
	return skew, true
}

// TLSError reports a TLS connection that failed verification. It is permanent,
// and says what to do.
type TLSError struct{ Err error }

func (e *TLSError) Error() string {
	switch tlsFailure(e.Err) {
	case "unknown-authority":
		return fmt.Sprintf("%v: the server's certificate is signed by an authority this machine does not trust; if your organisation uses its own CA (or a TLS-inspecting proxy), set AWS_CA_BUNDLE (or ca_bundle in the AWS profile) to that CA's PEM file", e.Err)
	case "hostname":
		return fmt.Sprintf("%v: the certificate does not name the host; with a bucket name containing dots or a custom endpoint, try --path-style", e.Err)
	case "not-tls":
		return fmt.Sprintf("%v: the server does not speak TLS there; check the endpoint URL's scheme (http or https)", e.Err)
	}
	return fmt.Sprintf("%v: the server's certificate could not be verified (expired, or not valid for this use); if your organisation uses its own CA, set AWS_CA_BUNDLE to its PEM file", e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// tlsFailure names the TLS verification failure behind err, or "".
func tlsFailure(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return "unknown-authority"
	case errors.As(err, &he):
		return "hostname"
	case errors.As(err, &rh):
		return "not-tls"
	case errors.As(err, &ci):
		return "invalid"
	case errors.As(err, &cv):
		if errors.As(cv.Err, &ua) {
			return "unknown-authority"
		}
		return "invalid"
	}
	return ""
}

// Explain wraps err in what a person needs to act on it when its cause needs
// explaining (an untrusted certificate), and returns it unchanged otherwise.
func Explain(err error) error {
	var te *TLSError
	if err != nil && !errors.As(err, &te) && tlsFailure(err) != "" {
		return &TLSError{Err: err}
	}
	return err
}
