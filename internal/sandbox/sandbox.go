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
	"time"

	"github.com/ckanup/ckanup/internal/ckansim"
	"github.com/ckanup/ckanup/internal/s3store"
)

// Options choose where the sandbox listens and keeps its objects.
type Options struct {
	// Dir holds the objects. Empty: a temporary directory removed by Close.
	Dir string
	// CKANAddr and S3Addr are listen addresses; default "127.0.0.1:0" (any free port).
	CKANAddr, S3Addr string
	// Bucket is created at start. Default "ckanup-sandbox".
	Bucket string
}

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

	tmp     bool
	servers []*http.Server
}

// Start launches the sandbox.
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
	store, err := s3store.New(filepath.Join(sb.Dir, "s3"))
	if err != nil {
		return nil, err
	}
	store.AccessKey = sb.AccessKey
	store.AnonymousRead = true
	if err := store.CreateBucket(sb.Bucket); err != nil {
		return nil, fmt.Errorf("sandbox: create bucket: %w", err)
	}
	sb.Store = store
	sb.CKAN = ckansim.New()
	sb.World = ckansim.Seed(sb.CKAN)

	ckanURL, err := sb.serve(o.CKANAddr, sb.CKAN)
	if err != nil {
		sb.Close()
		return nil, fmt.Errorf("sandbox: CKAN: %w", err)
	}
	sb.CKANURL = ckanURL
	sb.CKAN.SiteURL = ckanURL
	if sb.S3URL, err = sb.serve(o.S3Addr, store); err != nil {
		sb.Close()
		return nil, fmt.Errorf("sandbox: S3: %w", err)
	}
	return sb, nil
}

func (sb *Sandbox) serve(addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	sb.servers = append(sb.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Token is the demo user's CKAN API token (user "uploader", editor of demo-org).
func (sb *Sandbox) Token() string { return sb.World.Editor.Token }

// Env is the environment that points ckanup at the sandbox.
func (sb *Sandbox) Env() [][2]string {
	return [][2]string{
		{"CKAN_URL", sb.CKANURL},
		{"CKAN_API_TOKEN", sb.Token()},
		{"CKANUP_BUCKET", sb.Bucket},
		{"AWS_ENDPOINT_URL_S3", sb.S3URL},
		{"AWS_REGION", sb.Region},
		{"AWS_ACCESS_KEY_ID", sb.AccessKey},
		{"AWS_SECRET_ACCESS_KEY", sb.SecretKey},
	}
}

// Close stops the servers and removes a temporary directory.
func (sb *Sandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range sb.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	if sb.tmp {
		errs = append(errs, os.RemoveAll(sb.Dir))
	}
	return errors.Join(errs...)
}
