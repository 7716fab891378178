package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/sandbox"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/spf13/cobra"
)

// SandboxOptions are the sandbox command's flags.
type SandboxOptions struct {
	*Deps
	sandbox.Options
	// EnvFile, when set, receives the environment (written atomically once the
	// sandbox is ready, removed when it stops) instead of standard output.
	EnvFile string
	// Background starts the sandbox as a separate process, prints its
	// environment once it is ready, and returns.
	Background bool
	// executable is the program started by Background (default: this one).
	executable string
}

func newSandboxCmd(deps *Deps) *cobra.Command {
	o := &SandboxOptions{Deps: deps}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local CKAN API and S3 store to try ckanup against",
		Long: `Run a small CKAN action API (answering as CKAN 2.10 does) and an S3-compatible
store keeping objects on disk, seeded with organization demo-org, dataset
demo-dataset and user uploader (an editor there), on free loopback ports.

It prints, as shell export lines, the environment that points ckanup at it:
CKAN_URL, CKAN_API_TOKEN, CKANUP_BUCKET, AWS_ENDPOINT_URL_S3, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, CKANUP_STATE_DIR (a journal directory
of its own, so your own state directory is not touched), CKANUP_SANDBOX_DIR and
CKANUP_SANDBOX_PID. Objects and journal live in CKANUP_SANDBOX_DIR: a new
directory in $TMPDIR (default /tmp), removed when the sandbox stops on Ctrl-C or
SIGTERM (kill "$CKANUP_SANDBOX_PID"), also when a second signal ends it at once;
or the directory given with --dir, which is kept. A sandbox killed with
SIGKILL (kill -9) cannot remove it.

  --background   start it as a separate process, print the lines once it is
                 ready, and return: eval "$(ckanup sandbox --background)"
  --env-file F   run in this process and write the lines to F once ready
                 (atomically; F is removed when the sandbox stops)

--ckan-port and --s3-port fix the ports (e.g. for a firewall rule or a second
terminal); a fixed port that is taken is reported by name.

Only for trying things out: the store checks access keys, not signatures.`,
		Example: `  eval "$(ckanup sandbox --background)"    # start it; this shell now points at it
  ckanup whoami
  kill "$CKANUP_SANDBOX_PID"                 # stop it`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSandbox(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.Background, "background", false, "start in the background; print the environment once ready")
	cmd.Flags().StringVar(&o.EnvFile, "env-file", "", "write the environment to this file once ready (instead of stdout)")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "keep objects and journal in this directory (default: a temporary one, removed at exit)")
	cmd.Flags().IntVar(&o.CKANPort, "ckan-port", 0, "CKAN API port on 127.0.0.1 (default: a free port)")
	cmd.Flags().IntVar(&o.S3Port, "s3-port", 0, "S3 port on 127.0.0.1 (default: a free port)")
	cmd.MarkFlagsMutuallyExclusive("background", "env-file")
	return cmd
}

func runSandbox(ctx context.Context, o *SandboxOptions) error {
	for _, p := range []struct {
		flag string
		v    int
	}{{"--ckan-port", o.CKANPort}, {"--s3-port", o.S3Port}} {
		if p.v < 0 || p.v > 65535 {
			return usageErrorf("%s %d: not a TCP port (1-65535, or 0 for a free one)", p.flag, p.v)
		}
	}
	if o.Background {
		return runSandboxBackground(ctx, o)
	}
	if o.EnvFile != "" {
		// A file left by an earlier run must not be taken for this one's.
		if err := os.Remove(o.EnvFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove old environment file: %w", err)
		}
	}
	sb, err := sandbox.Start(o.Options)
	var pe *sandbox.PortInUseError
	if errors.As(err, &pe) {
		flag := map[string]string{"CKAN": "--ckan-port", "S3": "--s3-port"}[pe.Service]
		return withHint(&usageError{err}, fmt.Sprintf("choose another port with %s, or leave %s out to take a free port", flag, flag))
	}
	if err != nil {
		return err
	}
	// Deferred calls do not run when a second signal ends ckanup at once.
	defer onForcedExit(func() {
		_ = sb.RemoveTemp()
		if o.EnvFile != "" {
			_ = os.Remove(o.EnvFile)
		}
	})()
	defer sb.Close()
	env := append(sb.Env(), [2]string{"CKANUP_SANDBOX_DIR", sb.Dir}, [2]string{"CKANUP_SANDBOX_PID", strconv.Itoa(os.Getpid())})
	if o.EnvFile != "" {
		if err := sandbox.WriteEnvFile(o.EnvFile, env); err != nil {
			return err
		}
		defer os.Remove(o.EnvFile)
		fmt.Fprintf(o.Stderr, "ckanup sandbox: environment written to %s; in a shell: . %s\n", o.EnvFile, shellPath(o.EnvFile))
	} else {
		fmt.Fprint(o.Stdout, sandbox.ShellExports(env))
	}
	fmt.Fprintf(o.Stderr, "ckanup sandbox: CKAN at %s, S3 at %s (bucket %s), objects and journal in %s (%s)\n", sb.CKANURL, sb.S3URL, sb.Bucket, sb.Dir, dirFate(o.Dir))
	fmt.Fprintln(o.Stderr, "ckanup sandbox: then: ckanup upload FILE --dataset demo-dataset; stop with Ctrl-C or kill", os.Getpid())
	<-ctx.Done()
	return nil
}

// shellPath makes a relative path one that `.` looks up in the current
// directory rather than in PATH.
func shellPath(p string) string {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "."+string(filepath.Separator)) {
		return p
	}
	return "." + string(filepath.Separator) + p
}

// sandboxStartTimeout bounds the wait for a background sandbox to be ready.
const sandboxStartTimeout = 30 * time.Second

// runSandboxBackground starts `ckanup sandbox --env-file` as a separate process
// in its own process group, waits until its environment file appears (or the
// process ends), and prints the file.
func runSandboxBackground(ctx context.Context, o *SandboxOptions) error {
	exe := o.executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find the ckanup program to start: %w", err)
		}
	}
	hs, err := os.MkdirTemp("", "ckanup-sandbox-start-")
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer os.RemoveAll(hs)
	envFile := filepath.Join(hs, "env")
	logFile, err := os.Create(filepath.Join(hs, "log"))
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	args := []string{"sandbox", "--env-file", envFile, "--ckan-port", strconv.Itoa(o.CKANPort), "--s3-port", strconv.Itoa(o.S3Port)}
	if o.Dir != "" {
		dir, err := filepath.Abs(o.Dir)
		if err != nil {
			logFile.Close()
			return usageErrorf("--dir: %v", err)
		}
		args = append(args, "--dir", dir)
	}
	c := exec.Command(exe, args...)
	c.Stdout, c.Stderr = logFile, logFile
	c.SysProcAttr = detachedProcess()
	err = c.Start()
	logFile.Close()
	if err != nil {
		return fmt.Errorf("start the sandbox: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(sandboxStartTimeout)
	defer timeout.Stop()
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(hs, "log"))
			o.Stderr.Write(log)
			code := exitFailure
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				code = ee.ExitCode()
			}
			return &exitError{code: code}
		case <-tick.C:
			b, err := os.ReadFile(envFile)
			if err != nil {
				continue
			}
			fmt.Fprint(o.Stdout, string(b))
			fmt.Fprintf(o.Stderr, "ckanup sandbox: running as process %d, objects and journal in \"$CKANUP_SANDBOX_DIR\" (%s); stop it with: kill \"$CKANUP_SANDBOX_PID\"\n", c.Process.Pid, dirFate(o.Dir))
			return nil
		case <-timeout.C:
			stopSandboxProcess(c.Process, exited)
			return fmt.Errorf("the sandbox was not ready after %s", sandboxStartTimeout)
		case <-ctx.Done():
			stopSandboxProcess(c.Process, exited)
			return ctx.Err()
		}
	}
}

// dirFate says what becomes of the sandbox's directory when it stops.
func dirFate(dir string) string {
	if dir != "" {
		return "kept when it stops"
	}
	return "removed when it stops"
}

// sandboxStopTimeout bounds the wait for a sandbox process asked to stop.
const sandboxStopTimeout = 10 * time.Second

// stopSandboxProcess asks a sandbox process that was never ready to stop, so
// that it removes its directory, and kills it if it has not ended after
// sandboxStopTimeout. exited receives the end of the process.
func stopSandboxProcess(p *os.Process, exited <-chan error) {
	if err := terminateProcess(p); err != nil {
		_ = p.Kill()
		return
	}
	select {
	case <-exited:
	case <-time.After(sandboxStopTimeout):
		_ = p.Kill()
	}
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
	defer onForcedExit(func() { _ = sb.RemoveTemp() })()
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

	env := map[string]string{"CKAN_URL": sb.CKANURL, "CKAN_API_TOKEN": sb.Token(), "XDG_CONFIG_HOME": filepath.Join(sb.Dir, "config"),
		"CKANUP_STATE_DIR": sb.StateDir, "HOME": sb.Dir}
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
	// package_show's resources carry their typed fields only: the whole
	// dict comes from resource_show.
	if res, err = c.ResourceShow(ctx, res.ID); err != nil {
		return fmt.Errorf("read back the resource: %w", err)
	}
	say("\nThe resource as CKAN now holds it (resource_show):")
	b, _ := json.MarshalIndent(res.Fields(), "", "  ")
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
		fmt.Fprint(o.Stdout, sandbox.ShellExports(sb.Env()))
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
