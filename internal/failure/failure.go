// Package failure sorts errors into the kinds a caller acts on differently: a
// mistake in the command line, refused credentials, something that does not
// exist, a setting that can never work, a failure a later retry may get past,
// a file another run is busy with, an interruption.
//
// Packages give their typed errors a kind by implementing Kinded; KindOf finds
// it anywhere in an error's chain. The command line maps kinds to exit codes
// (cmd/ckanup/exitcodes.go, docs/exit-codes.md). This package imports only the
// standard library, so any package may use it.
package failure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"syscall"
)

// Kind is what sort of failure an error is.
type Kind int

// The kinds, from "nothing failed" to "interrupted". Failure, the general
// kind, is what KindOf returns for an error it cannot place.
const (
	// None is the kind of a nil error.
	None Kind = iota
	// Failure is a general, unclassified failure: a bug, an object that does not
	// match the file after upload, a file that changed while it was sent.
	Failure
	// Usage is a mistake in the command line: a bad flag or value, a directory
	// without --recursive, a device instead of a file.
	Usage
	// Auth is refused authentication or permission: an unknown CKAN token, a
	// dataset the user may not edit, S3 credentials missing or denied, a local
	// file or directory the process may not read or write.
	Auth
	// NotFound is something named that does not exist: a dataset, a bucket, a
	// resource, a local file.
	NotFound
	// Config is another permanent problem with the settings or the servers'
	// set-up: a CKAN URL that answers HTML, an unknown host name, a TLS
	// certificate that does not verify. Retrying without a change cannot help.
	Config
	// Temporary is a failure that remained after the retries, that a later run
	// may get past: a network error, a timeout, an HTTP 5xx or 429.
	Temporary
	// Partial means some items succeeded and others failed.
	Partial
	// Busy means another process holds a lock on the same work (a file another
	// run is uploading to the same dataset). A later run can succeed.
	Busy
	// Interrupted means the run was cancelled (Ctrl-C, SIGTERM).
	Interrupted
)

var names = [...]string{"none", "failure", "usage", "auth", "not-found", "config", "temporary", "partial", "busy", "interrupted"}

// String is the kind's short name ("not-found", "temporary", …).
func (k Kind) String() string {
	if k < 0 || int(k) >= len(names) {
		return "unknown"
	}
	return names[k]
}

// Kinds lists every kind but None, in order.
func Kinds() []Kind {
	return []Kind{Failure, Usage, Auth, NotFound, Config, Temporary, Partial, Busy, Interrupted}
}

// Kinded is implemented by errors that know their kind.
type Kinded interface {
	FailureKind() Kind
}

// kinded is an error given a kind by Wrap.
type kinded struct {
	kind Kind
	err  error
}

func (e *kinded) Error() string     { return e.err.Error() }
func (e *kinded) Unwrap() error     { return e.err }
func (e *kinded) FailureKind() Kind { return e.kind }

// Wrap gives err the kind k; the message stays err's. Wrap(k, nil) is nil.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &kinded{kind: k, err: err}
}

// KindOf says what kind of failure err is:
//
//   - nil: None;
//   - the first error in the chain (outermost first) that implements Kinded
//     decides;
//   - context.Canceled: Interrupted;
//   - fs.ErrNotExist: NotFound; fs.ErrPermission: Auth;
//   - a TLS certificate that does not verify, or a host name DNS says does not
//     exist: Config;
//   - other network errors (connection refused or reset, DNS failures,
//     timeouts, context.DeadlineExceeded, a connection closed mid-answer):
//     Temporary;
//   - anything else: Failure. An unknown error is not called Temporary, so a
//     retry loop does not repeat a mistake forever.
func KindOf(err error) Kind {
	if err == nil {
		return None
	}
	var k Kinded
	if errors.As(err, &k) {
		return k.FailureKind()
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	if IsPermanentNetwork(err) {
		return Config
	}
	if IsNetwork(err) {
		return Temporary
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return NotFound
	case errors.Is(err, fs.ErrPermission):
		return Auth
	}
	return Failure
}

// IsPermanentNetwork reports network errors that repeating cannot cure: a
// server certificate that does not verify, a host name that does not exist.
func IsPermanentNetwork(err error) bool {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		dnsErr    *net.DNSError
		recordHdr tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &recordHdr):
		return true
	case errors.As(err, &dnsErr):
		return dnsErr.IsNotFound
	}
	return false
}

// IsNetwork reports errors of the network or of time running out: what a
// later attempt may get past.
func IsNetwork(err error) bool {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		urlErr *url.Error
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &opErr), errors.As(err, &dnsErr):
		return true
	case errors.As(err, &urlErr) && errors.Is(urlErr.Err, io.EOF):
		return true // the server closed the connection without an answer
	case errors.As(err, &netErr):
		return netErr.Timeout()
	}
	return false
}
