package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Deps are what commands take from the outside world; tests substitute them.
type Deps struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	HTTPClient     *http.Client
	Now            func() time.Time
	// IsTerminal reports whether a stream is an interactive terminal.
	IsTerminal func(any) bool
	// ReadPassword reads a line without echo from a terminal stream.
	ReadPassword func(any) ([]byte, error)
}

// DefaultDeps wires the process's streams and environment.
func DefaultDeps() *Deps {
	return &Deps{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		HTTPClient: ckan.NewHTTPClient(2 * time.Minute),
		Now:        time.Now,
		IsTerminal: func(s any) bool {
			f, ok := s.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		},
		ReadPassword: func(s any) ([]byte, error) {
			f, ok := s.(*os.File)
			if !ok {
				return nil, errors.New("not a terminal")
			}
			return term.ReadPassword(int(f.Fd()))
		},
	}
}

// GlobalOptions are the flags every command shares.
type GlobalOptions struct {
	CKANURL      string
	APITokenFile string
	TokenHeader  string
	Profile      string
	Verbose      bool
	Quiet        bool
	// Args are the command-line arguments, for messages that repeat the command.
	Args []string
}

// usageError is a mistake in the command line: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// FailureKind makes a usage error exit 2.
func (e *usageError) FailureKind() failure.Kind { return failure.Usage }

func usageErrorf(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// withHint attaches what the person should do next (printed after the error).
func withHint(err error, h string) error { return hint.With(err, h) }

// exitError carries an exit code decided by a command (e.g. 3 for a partial failure).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// Execute runs ckanup with args and returns the exit code.
func Execute(ctx context.Context, args []string, deps *Deps) int {
	root := newRootCmd(deps, args)
	root.SetArgs(args)
	root.SetIn(deps.Stdin)
	root.SetOut(deps.Stdout)
	root.SetErr(deps.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") {
		err = &usageError{err}
	}
	code := exitCode(err)
	if code == exitInterrupted {
		fmt.Fprintln(deps.Stderr, "ckanup: interrupted")
		return code
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.err != nil {
		fmt.Fprintf(deps.Stderr, "ckanup: error: %v\n", err)
	}
	if h := hint.Of(err); h != "" {
		fmt.Fprintf(deps.Stderr, "ckanup: %s\n", h)
	}
	if code == exitUsage {
		fmt.Fprintln(deps.Stderr, "Run 'ckanup --help' or 'ckanup <command> --help' for usage.")
	}
	return code
}

func newRootCmd(deps *Deps, args []string) *cobra.Command {
	g := &GlobalOptions{Args: args}
	root := &cobra.Command{
		Use:   "ckanup",
		Short: "Upload files to a CKAN portal's S3 storage and register them as resources",
		Long: `ckanup uploads files to the Amazon S3 (or S3-compatible) storage of a CKAN
open-data portal, in parallel checksummed parts with retries, verifies them, and
registers each as a resource of a CKAN dataset with its size and SHA-256.

Start with 'ckanup demo' to see it work against a local sandbox, then
'ckanup login --ckan-url https://data.example.org' and 'ckanup upload FILE --dataset NAME'.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.CKANURL, "ckan-url", "", "CKAN site URL (env CKAN_URL, else the login profile)")
	pf.StringVar(&g.APITokenFile, "api-token-file", "", "read the CKAN API token from this file (else env CKAN_API_TOKEN, else the login profile)")
	pf.StringVar(&g.TokenHeader, "token-header", "", "header(s) the CKAN API token goes in: Authorization, X-CKAN-API-Key, or both (default both; env CKANUP_TOKEN_HEADER, else the login profile)")
	pf.StringVar(&g.Profile, "profile", "default", "login profile to use (env CKANUP_PROFILE)")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "report retries, refreshes and each step on stderr")
	pf.BoolVarP(&g.Quiet, "quiet", "q", false, "print nothing but errors and results")

	root.AddCommand(
		newUploadCmd(deps, g),
		newUploadsCmd(deps, g),
		newPublishCmd(deps, g),
		newLoginCmd(deps, g),
		newWhoamiCmd(deps, g),
		newVersionCmd(deps),
		newServeCmd(deps),
		newSandboxCmd(deps),
		newDemoCmd(deps, g),
		newGenDocsCmd(deps),
		newConfigCmd(deps, g),
		newLogoutCmd(deps, g),
	)
	registerCompletions(root, deps, g)
	addExitCodesHelp(root)
	setVersionFlag(root, deps.Stdout)
	addProfileFlags(root)
	return root
}

// addExitCodesHelp ends the long help of every command with the exit codes.
func addExitCodesHelp(c *cobra.Command) {
	if !strings.Contains(c.Long, exitCodesHelp) {
		long := c.Long
		if long == "" {
			long = c.Short
		}
		c.Long = strings.TrimRight(long, "\n") + "\n\n" + exitCodesHelp
	}
	for _, sub := range c.Commands() {
		addExitCodesHelp(sub)
	}
}
