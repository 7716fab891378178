// Package sandbox runs a local CKAN action API and S3-compatible store in one
// process, seeded with a demo organization, dataset and API token, so ckanup can
// be tried and tested end to end with nothing else installed.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ckanup/ckanup/internal/ckansim"
	"github.com/ckanup/ckanup/internal/fsutil"
	"github.com/ckanup/ckanup/internal/s3store"
)

// Options choose where the sandbox listens and keeps its objects.
type Options struct {
	// Dir holds the objects (Dir/s3) and the upload journal (Dir/state). Empty:
	// a temporary directory removed by Close.
	Dir string
	// CKANPort and S3Port are loopback TCP ports; 0 (the default) takes a free one.
	CKANPort, S3Port int
	// Bucket is created at start. Default "ckanup-sandbox".
	Bucket string
}

// ExampleDataset is a second dataset of demo-org, named as in the examples of
// the README and of --help.
const ExampleDataset = "my-dataset"

// ExampleOrgs are organizations named as in the examples, where the demo user
// is an editor.
var ExampleOrgs = []string{"my-org", "environment-agency"}

// PortInUseError reports a fixed port that another process holds.
type PortInUseError struct {
	// Service is "CKAN" or "S3".
	Service string
	Port    int
	Err     error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("sandbox: %s port %d is already in use", e.Service, e.Port)
}
func (e *PortInUseError) Unwrap() error { return e.Err }

// Sandbox is a running CKAN + S3 pair.
type Sandbox struct {
	CKAN    *ckansim.Server
	World   *ckansim.World
	Store   *s3store.Store
	CKANURL string
	S3URL   string
	Bucket  string
	Region  string
	// AccessKey and SecretKey are the store's credentials (only the key is checked).
	AccessKey, SecretKey string
	Dir                  string
	// StateDir holds the upload journal of uploads to this sandbox (Dir/state),
	// so trying ckanup never touches the user's own state directory.
	StateDir string

	tmp     bool
	servers []*http.Server
}

// Start launches the sandbox. A fixed port that is taken fails with a
// *PortInUseError.
func Start(o Options) (*Sandbox, error) {
	sb := &Sandbox{Bucket: o.Bucket, Region: "us-east-1", AccessKey: "sandbox-access-key", SecretKey: "sandbox-secret-key", Dir: o.Dir}
	if sb.Bucket == "" {
		sb.Bucket = "ckanup-sandbox"
	}
	if sb.Dir == "" {
		d, err := os.MkdirTemp("", "ckanup-sandbox-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		sb.Dir, sb.tmp = d, true
	}
	sb.StateDir = filepath.Join(sb.Dir, "state")
	if err := fsutil.PrivateDir(sb.StateDir); err != nil {
		sb.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	store, err := s3store.New(filepath.Join(sb.Dir, "s3"))
	if err != nil {
		sb.Close()
		return nil, err
	}
	store.AccessKey = sb.AccessKey
	store.AnonymousRead = true
	if err := store.CreateBucket(sb.Bucket); err != nil {
		sb.Close()
		return nil, fmt.Errorf("sandbox: create bucket: %w", err)
	}
	sb.Store = store
	sb.CKAN = ckansim.New()
	sb.World = ckansim.Seed(sb.CKAN)
	// The names the documentation's examples use, so they run as written here.
	sb.CKAN.AddDataset(ExampleDataset, "My Dataset", sb.World.DemoOrg.Name, false)
	for _, org := range ExampleOrgs {
		sb.CKAN.AddOrg(org, org, map[string]string{sb.World.Editor.Name: "editor"})
	}

	ckanURL, err := sb.serve("CKAN", o.CKANPort, sb.CKAN)
	if err != nil {
		sb.Close()
		return nil, err
	}
	sb.CKANURL = ckanURL
	sb.CKAN.SiteURL = ckanURL
	if sb.S3URL, err = sb.serve("S3", o.S3Port, store); err != nil {
		sb.Close()
		return nil, err
	}
	return sb, nil
}

func (sb *Sandbox) serve(service string, port int, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if errors.Is(err, syscall.EADDRINUSE) {
		return "", &PortInUseError{Service: service, Port: port, Err: err}
	}
	if err != nil {
		return "", fmt.Errorf("sandbox: %s: %w", service, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	sb.servers = append(sb.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Token is the demo user's CKAN API token (user "uploader", editor of demo-org).
func (sb *Sandbox) Token() string { return sb.World.Editor.Token }

// Env is the environment that points ckanup at the sandbox, as name/value pairs.
func (sb *Sandbox) Env() [][2]string {
	return [][2]string{
		{"CKAN_URL", sb.CKANURL},
		{"CKAN_API_TOKEN", sb.Token()},
		{"CKANUP_BUCKET", sb.Bucket},
		{"AWS_ENDPOINT_URL_S3", sb.S3URL},
		{"AWS_REGION", sb.Region},
		{"AWS_ACCESS_KEY_ID", sb.AccessKey},
		{"AWS_SECRET_ACCESS_KEY", sb.SecretKey},
		{"CKANUP_STATE_DIR", sb.StateDir},
	}
}

// ShellExports renders env as POSIX shell lines `export NAME='value'`, each
// value single-quoted so that any character is taken literally.
func ShellExports(env [][2]string) string {
	var b strings.Builder
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s='%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", `'\''`))
	}
	return b.String()
}

// WriteEnvFile writes ShellExports(env) to path atomically (temporary file,
// rename), so a reader waiting for the file never sees half of it.
func WriteEnvFile(path string, env [][2]string) error {
	if err := fsutil.WriteFileAtomic(path, []byte(ShellExports(env))); err != nil {
		return fmt.Errorf("write environment file: %w", err)
	}
	return nil
}

// Close stops the servers (waiting up to 5 seconds for requests in flight)
// and removes the directory if Start made it (Options.Dir empty).
func (sb *Sandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range sb.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	errs = append(errs, sb.RemoveTemp())
	return errors.Join(errs...)
}

// RemoveTemp removes the directory if Start made it (Options.Dir empty),
// without stopping the servers: for a process about to end at once, which
// has no time for Close. A directory given in Options.Dir is kept. It returns
// the error of os.RemoveAll.
func (sb *Sandbox) RemoveTemp() error {
	if !sb.tmp {
		return nil
	}
	if err := os.RemoveAll(sb.Dir); err != nil {
		return fmt.Errorf("sandbox: remove %s: %w", sb.Dir, err)
	}
	return nil
}
