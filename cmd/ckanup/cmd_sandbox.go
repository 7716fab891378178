package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/sandbox"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/spf13/cobra"
)

func newSandboxCmd(deps *Deps) *cobra.Command {
	var o sandbox.Options
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local CKAN API and S3 store to try ckanup against",
		Long: `Run, in this process, a small CKAN action API (answering as CKAN 2.10 does)
and an S3-compatible store keeping objects on disk, seeded with organization
demo-org, dataset demo-dataset and user uploader (an editor there). It prints the
environment variables that point ckanup at it, and runs until interrupted.

Only for trying things out: the store checks access keys, not signatures.`,
		Example: `  ckanup sandbox &        # then, in the same shell:
  eval "$(ckanup sandbox --print-env-only)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sb, err := sandbox.Start(o)
			if err != nil {
				return err
			}
			defer sb.Close()
			for _, kv := range sb.Env() {
				fmt.Fprintf(deps.Stdout, "export %s=%s\n", kv[0], kv[1])
			}
			fmt.Fprintf(deps.Stderr, "ckanup sandbox: CKAN at %s, S3 at %s (bucket %s), objects in %s\n", sb.CKANURL, sb.S3URL, sb.Bucket, sb.Dir)
			fmt.Fprintln(deps.Stderr, "ckanup sandbox: paste the lines above into a shell, then: ckanup upload FILE --dataset demo-dataset")
			fmt.Fprintln(deps.Stderr, "ckanup sandbox: press Ctrl-C to stop")
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "keep objects in this directory (default: a temporary one, removed at exit)")
	cmd.Flags().StringVar(&o.CKANAddr, "ckan-addr", "127.0.0.1:5080", "CKAN API listen address")
	cmd.Flags().StringVar(&o.S3Addr, "s3-addr", "127.0.0.1:5090", "S3 listen address")
	return cmd
}

// DemoOptions are the demo command's flags.
type DemoOptions struct {
	*Deps
	Global *GlobalOptions
	Size   string
	Keep   bool
}

func newDemoCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	o := &DemoOptions{Deps: deps, Global: g}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Upload a sample file to a local sandbox and show the registered resource",
		Long: `Start the sandbox (see 'ckanup sandbox') in this process, make a sample CSV
file, upload it with the real engine in parallel 5 MiB parts, register it on
dataset demo-dataset, show the resource CKAN now holds, and download the object
from its registered URL to check it byte for byte.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd.Context(), o) },
	}
	cmd.Flags().StringVar(&o.Size, "size", "48MiB", "size of the sample file")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "keep the sandbox running afterwards (until Ctrl-C)")
	return cmd
}

func runDemo(ctx context.Context, o *DemoOptions) error {
	size, err := upload.ParseSize(o.Size)
	if err != nil {
		return usageErrorf("--size: %v", err)
	}
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		return err
	}
	defer sb.Close()
	say := func(format string, a ...any) {
		if !o.Global.Quiet {
			fmt.Fprintf(o.Stderr, format+"\n", a...)
		}
	}
	say("Sandbox: CKAN at %s, S3 at %s (bucket %s)", sb.CKANURL, sb.S3URL, sb.Bucket)
	sample := filepath.Join(sb.Dir, "sample", "traffic-counts.csv")
	if err := writeSample(sample, size); err != nil {
		return fmt.Errorf("make sample file: %w", err)
	}
	say("Sample file: %s (%s)", sample, upload.FormatSize(size))
	say("Uploading to dataset demo-dataset:\n")

	env := map[string]string{"CKAN_URL": sb.CKANURL, "CKAN_API_TOKEN": sb.Token(), "XDG_CONFIG_HOME": filepath.Join(sb.Dir, "config")}
	deps := *o.Deps
	deps.Getenv = func(k string) string { return env[k] }
	g := &GlobalOptions{Profile: "default", Verbose: o.Global.Verbose, Quiet: o.Global.Quiet}
	uo := &UploadOptions{Deps: &deps, Global: g, Paths: []string{sample}, Dataset: "demo-dataset",
		S3: S3Flags{Bucket: sb.Bucket, Endpoint: sb.S3URL, Region: sb.Region,
			credentials: credentials.NewStaticCredentialsProvider(sb.AccessKey, sb.SecretKey, "")},
		PartSize: "5MiB", Concurrency: upload.DefaultConcurrency, Retries: 10, RetryMaxTime: 5 * time.Minute,
		Output: "text"}
	if err := runUpload(ctx, uo); err != nil {
		return err
	}

	c, err := ckan.New(sb.CKANURL, sb.Token(), o.HTTPClient)
	if err != nil {
		return err
	}
	d, err := c.PackageShow(ctx, "demo-dataset")
	if err != nil {
		return fmt.Errorf("read back the dataset: %w", err)
	}
	var res *ckan.Resource
	for i := range d.Resources {
		if d.Resources[i].Name == filepath.Base(sample) {
			res = &d.Resources[i]
		}
	}
	if res == nil {
		return fmt.Errorf("the resource is not on the dataset")
	}
	say("\nThe resource as CKAN now holds it (resource_show):")
	b, _ := json.MarshalIndent(res.Extras, "", "  ")
	fmt.Fprintln(o.Stdout, string(b))

	sum, n, err := fetchSHA256(ctx, o.HTTPClient, res.URL)
	if err != nil {
		return fmt.Errorf("download %s: %w", res.URL, err)
	}
	if "sha256:"+sum != res.Hash || res.Size == nil || n != *res.Size {
		return fmt.Errorf("downloaded %d bytes with sha256 %s, but the resource says %v bytes, %s", n, sum, res.Size, res.Hash)
	}
	say("\nDownloaded %s from the resource URL: %d bytes, sha256 matches the resource's hash.", upload.FormatSize(n), n)
	if o.Keep {
		for _, kv := range sb.Env() {
			fmt.Fprintf(o.Stdout, "export %s=%s\n", kv[0], kv[1])
		}
		say("The sandbox keeps running with the variables above; press Ctrl-C to stop.")
		<-ctx.Done()
	}
	return nil
}

// writeSample writes a deterministic CSV of about size bytes (exactly size).
func writeSample(path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	var written int64
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := []byte("timestamp,station,vehicles,avg_speed_kmh\n")
	for written < size {
		if rem := size - written; int64(len(line)) > rem {
			line = line[:rem]
		}
		n, err := w.Write(line)
		if err != nil {
			f.Close()
			return err
		}
		written += int64(n)
		t = t.Add(time.Minute)
		line = fmt.Appendf(line[:0], "%s,ST%03d,%d,%.1f\n", t.Format(time.RFC3339), rng.IntN(500), rng.IntN(2000), 20+rng.Float64()*90)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fetchSHA256(ctx context.Context, hc *http.Client, url string) (string, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return hex.EncodeToString(h.Sum(nil)), n, err
}
