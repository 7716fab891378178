package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/upload"
)

// Exit codes: one per kind of failure (internal/failure), the same in every
// command. exitCodes documents them; docs/exit-codes.md is checked against it.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitPartial     = 3
	exitAuth        = 4
	exitNotFound    = 5
	exitConfig      = 6
	exitTemporary   = 7
	exitBusy        = 8
	exitInterrupted = 130
)

// exitCodeRow is one documented exit code.
type exitCodeRow struct {
	code    int
	kind    failure.Kind
	short   string // one line for --help
	meaning string // what happened, with examples
	next    string // what to do; whether a later run can help
}

// exitCodes is the one table of exit codes.
var exitCodes = []exitCodeRow{
	{exitOK, failure.None, "success: every file uploaded and registered, or already there", "success: every file uploaded and registered, or already there (skipped)", ""},
	{exitFailure, failure.Failure, "failure of no other kind (read the message)", "a failure of no other kind: the object read back does not match the file, the file changed while it was sent, an unexpected answer",
		"read the message; a retry repeats it unless the cause is gone"},
	{exitUsage, failure.Usage, "usage: a bad flag or argument; fix the command line", "usage: unknown flag or bad value, a directory without --recursive, a device or FIFO, two files with one resource name, nothing left to upload after the filters",
		"fix the command line"},
	{exitPartial, failure.Partial, "partial: some files failed; re-run the same command to finish", "partial success: some files failed, the others were uploaded or skipped",
		"re-run the same command: finished files are skipped, the rest resume"},
	{exitAuth, failure.Auth, "authentication or permission refused (CKAN token, dataset rights, S3)", "authentication or permission: CKAN token missing or not accepted, dataset not editable by the token's user, S3 credentials missing or refused, token endpoint refused, a local file that may not be read",
		"fix the token, the credentials or the rights; retrying does not help"},
	{exitNotFound, failure.NotFound, "not found: the dataset, resource, bucket or a local file", "not found: the dataset, the resource (--resource-id), the bucket, or a local file or glob named does not exist",
		"fix the name; retrying does not help"},
	{exitConfig, failure.Config, "configuration that cannot work (CKAN URL, region, host name, TLS)", "another permanent configuration problem: a CKAN URL that answers an HTML page or not the action API, a CKAN validation error, an S3 request refused as invalid (wrong region), an unknown host name, a TLS certificate that does not verify, a resource that CKAN reads back with another url, size or hash than was registered, a resource the DataStore or another extension serves (not repointed)",
		"fix the settings; retrying does not help"},
	{exitTemporary, failure.Temporary, "temporary: network or server errors after the retries; run again later", "temporary: still failing after the retries: network errors, timeouts, HTTP 5xx or 429 from CKAN, S3 or the token endpoint",
		"run again later: a multipart upload resumes where it stopped"},
	{exitBusy, failure.Busy, "busy: another ckanup is uploading the same file; run again later", "busy: another ckanup process is uploading the same file to the same dataset",
		"run again once it has finished"},
	{exitInterrupted, failure.Interrupted, "interrupted (Ctrl-C, SIGTERM); run again to resume", "interrupted by Ctrl-C or SIGTERM; the multipart upload is kept to resume (unless --no-resume)",
		"run the same command again to resume"},
}

// exitCodesHelp is the table for --help.
var exitCodesHelp = renderExitCodesHelp()

func renderExitCodesHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes (the same for every command; see docs/exit-codes.md):")
	for _, r := range exitCodes {
		fmt.Fprintf(&b, "\n  %-4d %s", r.code, r.short)
	}
	return b.String()
}

// exitCodesMarkdown is the table in docs/exit-codes.md.
func exitCodesMarkdown() string {
	var b strings.Builder
	b.WriteString("| code | kind | meaning | what to do |\n|---|---|---|---|\n")
	for _, r := range exitCodes {
		kind := r.kind.String()
		if r.kind == failure.None {
			kind = "ok"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", r.code, kind, r.meaning, r.next)
	}
	return b.String()
}

// errorKinds sorts the errors of ckanup's packages that do not say their own
// kind (by implementing failure.Kinded, as ckan.APIError, ckan.ResponseError,
// ckan.RedirectError, fileset.Error and journal.ErrBusy do). The first row
// that matches decides.
var errorKinds = []struct {
	kind  failure.Kind
	match func(error) bool
}{
	// Authentication and permission.
	{failure.Auth, func(err error) bool {
		return errors.Is(err, ckan.ErrNotAuthenticated) ||
			errors.Is(err, creds.ErrNoCredentials) || errors.Is(err, creds.ErrDenied) || upload.IsAccessDenied(err)
	}},
	// Not found.
	{failure.NotFound, func(err error) bool { return upload.APICode(err) == "NoSuchBucket" }},
	// Temporary: an answer a later attempt may not get.
	{failure.Temporary, func(err error) bool {
		var ee *creds.EndpointError
		if errors.As(err, &ee) {
			return retryLater(ee.Status)
		}
		switch upload.APICode(err) {
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "ThrottlingException",
			"TooManyRequests", "RequestLimitExceeded":
			return true
		}
		return retryLater(upload.HTTPStatus(err))
	}},
	// Config: every other refusal by S3 or the token endpoint.
	{failure.Config, func(err error) bool {
		var ee *creds.EndpointError
		return errors.As(err, &ee) || (upload.APICode(err) != "" && upload.HTTPStatus(err) >= 300 && upload.HTTPStatus(err) < 500)
	}},
}

// retryLater reports an HTTP status that a later request may not get.
func retryLater(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// kindOf says what kind of failure err is: cancellation first (Ctrl-C wins over
// whatever it broke), then the outermost error that says its kind, then the
// errorKinds table, then failure.KindOf's rules for the standard library's
// errors (network errors are Temporary; anything unknown is Failure).
func kindOf(err error) failure.Kind {
	if err == nil {
		return failure.None
	}
	if errors.Is(err, context.Canceled) {
		return failure.Interrupted
	}
	var k failure.Kinded
	if errors.As(err, &k) {
		return k.FailureKind()
	}
	for _, row := range errorKinds {
		if row.match(err) {
			return row.kind
		}
	}
	return failure.KindOf(err)
}

// exitCode is the exit code of a command that returned err.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	k := kindOf(err)
	for _, r := range exitCodes {
		if r.kind == k {
			return r.code
		}
	}
	return exitFailure
}
