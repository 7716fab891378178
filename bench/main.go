// Command bench measures ckanup against other S3 clients on one machine and
// writes docs/performance.md (`make bench`), or checks in seconds that every
// client's object arrives intact (`make bench-smoke`, -smoke).
//
// It installs and starts versitygw (posix backend on tmpfs) over HTTPS with a
// self-signed certificate and over plain HTTP, runs the in-process CKAN
// simulator that ckanup registers into, generates random input files, and runs
// the clients interleaved, the order rotating each round, each under
// /usr/bin/time -v for CPU seconds and peak RSS. See docs/performance.md.
package main

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/ckansim"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// caseSpec is one table: an input, a transport and the clients measured on it.
type caseSpec struct {
	ID, Title string
	TLS       bool
	Delay     time.Duration // added in each direction by the delay proxy
	Size      int64         // bytes per file
	Count     int           // 0: one file; else a directory of Count files
	Rounds    int
	Clients   []string

	input string           // file or directory
	files map[string]input // by base name
}

type input struct {
	Size   int64
	SHA256 string
}

func (c *caseSpec) totalBytes() int64 {
	if c.Count > 0 {
		return c.Size * int64(c.Count)
	}
	return c.Size
}

// result is one measured run.
type result struct {
	Case, Client string
	Round        int
	Usage        usage
	ServerCPU    float64 // versitygw's CPU seconds during the run
	Err          string
}

type bench struct {
	work, repo              string
	bin                     map[string]string
	cert, key               string
	access, secret, bucket  string
	gw                      map[bool]*gateway // by TLS
	ckan                    *ckansim.Server
	world                   *ckansim.World
	ckanURL                 string
	ckanupArgs, ckanupEnv   []string
	verifyContent, failFast bool
	seq                     int
	results                 []result
	commands                map[string]map[string]string // case → client → shown command
	versions                map[string]string
	started                 time.Time
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		smoke       = flag.Bool("smoke", false, "run every client once on a tiny input and check each object arrives intact; no timing, no report")
		cases       = flag.String("cases", "https-1g,https-small,https-10k,http-1g,https-rtt,https-4g", "cases to run, in this order: https-1g, https-small, https-10k, http-1g, https-rtt, https-4g")
		clients     = flag.String("clients", "", "only these clients (comma-separated; default: each case's list): "+clientIDs())
		rounds      = flag.Int("rounds", 5, "rounds of the 1 GiB and small-file cases")
		roundsLarge = flag.Int("rounds-large", 2, "rounds of the large-file case")
		roundsRTT   = flag.Int("rounds-rtt", 3, "rounds of the round-trip case")
		sizeStr     = flag.String("size", "1GiB", "file size of the https-1g, http-1g and https-rtt cases")
		largeStr    = flag.String("large", "4GiB", "file size of the https-4g case")
		smallCount  = flag.Int("small-count", 1000, "number of files of the https-small case")
		smallStr    = flag.String("small-size", "100KiB", "size of each file of the https-small case")
		manyCount   = flag.Int("many-count", 10000, "number of files of the https-10k case (ckanup's peak RSS for many files)")
		manyStr     = flag.String("many-size", "4KiB", "size of each file of the https-10k case")
		roundsMany  = flag.Int("rounds-many", 1, "rounds of the https-10k case")
		rtt         = flag.Duration("rtt", 50*time.Millisecond, "round trip added by the delay proxy in the https-rtt case")
		work        = flag.String("work", "", "working directory on tmpfs (default: a new one under /dev/shm, removed at the end)")
		out         = flag.String("out", "docs/performance.md", "report to write (its generated section is replaced)")
		base        = flag.String("ckanup-base", "", "also measure ckanup built from this git revision (client ckanup-base)")
		ckanupArgs  = flag.String("ckanup-args", "", "extra arguments for every ckanup run (space-separated), e.g. --cpuprofile=/tmp/cpu.out")
		ckanupEnv   = flag.String("ckanup-env", "", "extra environment for every ckanup run (space-separated NAME=value), e.g. GODEBUG=gctrace=1 (its output goes to the run's log, kept with -keep)")
		awsBin      = flag.String("aws", "/usr/bin/aws", "aws-cli to run (Debian's awscli package by default)")
		install     = flag.Bool("install", true, "install missing tools: versitygw with go install, time/awscli/rclone/curl with apt-get")
		verify      = flag.Bool("verify-content", false, "after each run, download every object and compare its SHA-256 (always on with -smoke)")
		keep        = flag.Bool("keep", false, "keep the working directory")
	)
	flag.Parse()

	size, err := parseSize(*sizeStr)
	if err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	large, err := parseSize(*largeStr)
	if err != nil {
		return fmt.Errorf("-large: %w", err)
	}
	small, err := parseSize(*smallStr)
	if err != nil {
		return fmt.Errorf("-small-size: %w", err)
	}
	many, err := parseSize(*manyStr)
	if err != nil {
		return fmt.Errorf("-many-size: %w", err)
	}
	var specs []*caseSpec
	all := []string{"ckanup", "ckanup-auto", "ckanup-base", "aws", "aws-5x4", "rclone", "sdkloop", "curl"}
	if *smoke {
		specs = smokeCases()
	} else {
		catalog := map[string]*caseSpec{
			"https-1g": {ID: "https-1g", Title: fmt.Sprintf("%s file over HTTPS (self-signed certificate)", fmtSize(size)), TLS: true, Size: size, Rounds: *rounds, Clients: all},
			"http-1g": {ID: "http-1g", Title: fmt.Sprintf("%s file over plain HTTP", fmtSize(size)), Size: size, Rounds: *rounds,
				Clients: []string{"ckanup", "ckanup-base", "aws", "aws-5x4", "rclone", "sdkloop", "sdkloop-signed", "curl"}},
			"https-4g": {ID: "https-4g", Title: fmt.Sprintf("%s file over HTTPS", fmtSize(large)), TLS: true, Size: large, Rounds: *roundsLarge,
				Clients: []string{"ckanup", "aws", "rclone", "sdkloop", "curl"}},
			"https-small": {ID: "https-small", Title: fmt.Sprintf("%d files × %s over HTTPS (ckanup registers each in CKAN)", *smallCount, fmtSize(small)), TLS: true, Size: small, Count: *smallCount, Rounds: *rounds,
				Clients: []string{"ckanup", "ckanup-base", "aws", "rclone", "sdkloop", "curl"}},
			// Many small files into one dataset, for ckanup's peak RSS: every
			// file is planned, tracked, recorded and registered in one run.
			"https-10k": {ID: "https-10k", Title: fmt.Sprintf("%s files × %s over HTTPS into one dataset (ckanup's peak RSS)", fmtCount(*manyCount), fmtSize(many)), TLS: true, Size: many, Count: *manyCount, Rounds: *roundsMany,
				Clients: []string{"ckanup", "ckanup-base"}},
			"https-rtt": {ID: "https-rtt", Title: fmt.Sprintf("%s file over HTTPS with a %s round trip (delay proxy)", fmtSize(size), *rtt), TLS: true, Delay: *rtt / 2, Size: size, Rounds: *roundsRTT,
				Clients: []string{"ckanup", "ckanup-auto", "ckanup-8x10", "aws", "rclone", "sdkloop"}},
		}
		for _, id := range splitList(*cases) {
			c, ok := catalog[id]
			if !ok {
				return fmt.Errorf("-cases: no case %q", id)
			}
			specs = append(specs, c)
		}
	}
	only := splitList(*clients)
	known := map[string]bool{}
	for _, c := range allClients() {
		known[c.ID] = true
	}
	for _, id := range only {
		if !known[id] {
			return fmt.Errorf("-clients: no client %q (have %s)", id, clientIDs())
		}
	}
	for _, c := range specs {
		c.Clients = slices.DeleteFunc(slices.Clone(c.Clients), func(id string) bool {
			return (id == "ckanup-base" && *base == "") || (len(only) > 0 && !slices.Contains(only, id))
		})
	}

	b := &bench{bin: map[string]string{}, bucket: "bench", commands: map[string]map[string]string{}, versions: map[string]string{},
		verifyContent: *verify || *smoke, failFast: *smoke, started: time.Now()}
	if *ckanupArgs != "" {
		b.ckanupArgs = strings.Fields(*ckanupArgs)
	}
	b.ckanupEnv = strings.Fields(*ckanupEnv)
	if b.repo, err = repoRoot(); err != nil {
		return err
	}
	b.work = *work
	if b.work == "" {
		parent := "/dev/shm"
		if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
			parent = os.TempDir()
			logf("no /dev/shm; working in %s, which may not be tmpfs", parent)
		}
		if b.work, err = os.MkdirTemp(parent, "ckanup-bench-"); err != nil {
			return err
		}
	}
	if !*keep {
		defer os.RemoveAll(b.work)
	}
	defer b.stop()
	if err := b.setup(*install, *awsBin, *base); err != nil {
		return err
	}
	if !*smoke {
		// A quick pass of every client first, so a broken setup fails in
		// seconds rather than in the middle of the measured rounds.
		logf("preflight: every client once on a small file")
		pre := smokeCases()
		for _, c := range pre {
			c.Clients = slices.DeleteFunc(slices.Clone(c.Clients), func(id string) bool { return !usedBy(specs, id) })
		}
		if err := b.runCases(pre, true, nil); err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		b.results = nil
	}
	dst := *out
	if !filepath.IsAbs(dst) {
		dst = filepath.Join(b.repo, dst)
	}
	// The report is rewritten after every case, so a run stopped part-way
	// leaves the cases it finished.
	var afterCase func() error
	if !*smoke {
		afterCase = func() error { return writeReport(dst, b.report(specs, os.Args[1:])) }
	}
	if err := b.runCases(specs, *smoke, afterCase); err != nil {
		return err
	}
	if *smoke {
		logf("smoke: every client's object arrived intact")
	}
	return nil
}

func usedBy(specs []*caseSpec, id string) bool {
	for _, c := range specs {
		if slices.Contains(c.Clients, id) {
			return true
		}
	}
	return false
}

// smokeCases are tiny inputs that still take the multipart path (6 MiB + 3 bytes
// in 5 MiB parts) and the many-files path, plus plain HTTP and the delay proxy.
func smokeCases() []*caseSpec {
	single := []string{"ckanup", "ckanup-8x10", "ckanup-base", "aws", "aws-5x4", "rclone", "sdkloop", "sdkloop-signed", "curl"}
	many := []string{"ckanup", "ckanup-base", "aws", "rclone", "sdkloop", "curl"}
	return []*caseSpec{
		{ID: "smoke-https-file", Title: "smoke: one file over HTTPS", TLS: true, Size: 6*mib + 3, Rounds: 1, Clients: single},
		{ID: "smoke-http-file", Title: "smoke: one file over HTTP", Size: 6*mib + 3, Rounds: 1, Clients: single},
		{ID: "smoke-https-dir", Title: "smoke: a directory over HTTPS", TLS: true, Size: 10*kib + 1, Count: 5, Rounds: 1, Clients: many},
		{ID: "smoke-rtt", Title: "smoke: through the delay proxy", TLS: true, Delay: 2 * time.Millisecond, Size: 6*mib + 3, Rounds: 1, Clients: []string{"ckanup", "ckanup-auto", "sdkloop"}},
	}
}

func clientIDs() string {
	var ids []string
	for _, c := range allClients() {
		ids = append(ids, c.ID)
	}
	return strings.Join(ids, ", ")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmark from inside the ckanup repository (make bench)")
	}
	return filepath.Dir(mod), nil
}

// setup installs and builds the clients, starts both gateways and the CKAN simulator.
func (b *bench) setup(install bool, awsBin, base string) error {
	for _, d := range []string{"bin", "data", "runs", "logs", "home", "tmp"} {
		if err := os.MkdirAll(filepath.Join(b.work, d), 0o755); err != nil {
			return err
		}
	}
	if err := ensureTools(install, awsBin); err != nil {
		return err
	}
	b.bin["aws"] = awsBin
	for _, t := range []string{"rclone", "curl"} {
		p, err := exec.LookPath(t)
		if err != nil {
			return err
		}
		b.bin[t] = p
	}
	logf("building ckanup and sdkloop")
	b.bin["ckanup"] = filepath.Join(b.work, "bin", "ckanup")
	b.bin["sdkloop"] = filepath.Join(b.work, "bin", "sdkloop")
	if err := goBuild(b.repo, b.bin["ckanup"], "./cmd/ckanup"); err != nil {
		return err
	}
	if err := goBuild(b.repo, b.bin["sdkloop"], "./bench/sdkloop"); err != nil {
		return err
	}
	if base != "" {
		if err := b.buildBase(base); err != nil {
			return err
		}
	}
	vgw, err := installVersityGW()
	if err != nil {
		if !install {
			return fmt.Errorf("%w (and -install=false)", err)
		}
		return err
	}
	b.bin["versitygw"] = vgw
	b.collectVersions()

	b.cert, b.key = filepath.Join(b.work, "cert.pem"), filepath.Join(b.work, "key.pem")
	if err := writeSelfSigned(b.cert, b.key); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	b.access = "bench" + randHex(6)
	b.secret = randHex(20)
	b.gw = map[bool]*gateway{}
	for _, tls := range []bool{true, false} {
		name, cert, key := "http", "", ""
		if tls {
			name, cert, key = "https", b.cert, b.key
		}
		g, err := startGateway(vgw, filepath.Join(b.work, "s3-"+name), cert, key, b.access, b.secret, b.bucket, filepath.Join(b.work, "logs", "versitygw-"+name+".log"))
		if err != nil {
			return err
		}
		b.gw[tls] = g
		logf("versitygw %s on %s", VersityGWVersion, g.URL)
	}

	b.ckan = ckansim.New()
	b.world = ckansim.Seed(b.ckan)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.ckanURL = "http://" + ln.Addr().String()
	b.ckan.SiteURL = b.ckanURL
	go func() { _ = (&http.Server{Handler: b.ckan, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()

	// aws-cli's two configurations, each in a private AWS_CONFIG_FILE.
	for _, name := range []string{"aws-default", "aws-5x4"} {
		dir := filepath.Join(b.work, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "config"), []byte("[default]\nregion = us-east-1\n"), 0o600); err != nil {
			return err
		}
	}
	for _, kv := range [][2]string{{"default.s3.multipart_chunksize", "5MB"}, {"default.s3.max_concurrent_requests", "4"}} {
		cmd := exec.Command(awsBin, "configure", "set", kv[0], kv[1])
		cmd.Env = append(b.baseEnv(), "AWS_CONFIG_FILE="+filepath.Join(b.work, "aws-5x4", "config"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("aws configure set %s: %w: %s", kv[0], err, out)
		}
	}
	return nil
}

func (b *bench) stop() {
	for _, g := range b.gw {
		g.stop()
	}
}

// baseEnv is every client's environment before its own additions: nothing of
// the caller's AWS or CKAN settings leaks in.
func (b *bench) baseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(b.work, "home"),
		"TMPDIR=" + filepath.Join(b.work, "tmp"),
		"LANG=C.UTF-8",
	}
}

func ensureTools(install bool, awsBin string) error {
	missing := map[string]string{} // Debian package → what is missing
	if _, err := os.Stat(timeBin); err != nil {
		missing["time"] = timeBin
	}
	if _, err := os.Stat(awsBin); err != nil {
		if awsBin != "/usr/bin/aws" {
			return fmt.Errorf("-aws %s: %w", awsBin, err)
		}
		missing["awscli"] = awsBin
	}
	for _, t := range []string{"rclone", "curl"} {
		if _, err := exec.LookPath(t); err != nil {
			missing[t] = t
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var pkgs []string
	for p := range missing {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	if !install || os.Geteuid() != 0 {
		return fmt.Errorf("missing tools; install the Debian packages %s (apt-get install %s)", strings.Join(pkgs, ", "), strings.Join(pkgs, " "))
	}
	logf("installing %s with apt-get", strings.Join(pkgs, ", "))
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return nil
}

func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// buildBase builds ckanup at a git revision, from a `git archive` of it.
func (b *bench) buildBase(rev string) error {
	src := filepath.Join(b.work, "base-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	logf("building ckanup at %s", rev)
	sh := fmt.Sprintf("git -C %q archive --format=tar %q | tar -x -C %q", b.repo, rev, src)
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", rev, err, out)
	}
	b.bin["ckanup-base"] = filepath.Join(b.work, "bin", "ckanup-base")
	if err := goBuild(src, b.bin["ckanup-base"], "./cmd/ckanup"); err != nil {
		return err
	}
	full, _ := exec.Command("git", "-C", b.repo, "rev-parse", "--short", rev).Output()
	b.versions["ckanup-base"] = rev + " (" + strings.TrimSpace(string(full)) + ")"
	return nil
}

func (b *bench) collectVersions() {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "unknown"
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	b.versions["go"] = first("go", "version")
	b.versions["aws"] = first(b.bin["aws"], "--version")
	b.versions["rclone"] = first(b.bin["rclone"], "version")
	b.versions["curl"] = first(b.bin["curl"], "--version")
	b.versions["versitygw"] = VersityGWVersion
	b.versions["ckanup"] = strings.TrimSpace(first("git", "-C", b.repo, "describe", "--always", "--dirty"))
}

// prepare generates the case's input on tmpfs (seeded random bytes, so nothing
// compresses) and records each file's size and SHA-256.
func (b *bench) prepare(c *caseSpec) error {
	c.files = map[string]input{}
	if c.Count == 0 {
		c.input = filepath.Join(b.work, "data", c.ID+".bin")
		sum, err := writeRandom(c.input, c.Size, uint64(c.Size))
		if err != nil {
			return err
		}
		c.files[filepath.Base(c.input)] = input{Size: c.Size, SHA256: sum}
		return nil
	}
	c.input = filepath.Join(b.work, "data", c.ID)
	if err := os.MkdirAll(c.input, 0o755); err != nil {
		return err
	}
	for i := range c.Count {
		name := fmt.Sprintf("part-%05d.bin", i)
		sum, err := writeRandom(filepath.Join(c.input, name), c.Size, uint64(i))
		if err != nil {
			return err
		}
		c.files[name] = input{Size: c.Size, SHA256: sum}
	}
	return nil
}

func writeRandom(path string, size int64, seed uint64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(rand.NewChaCha8(s), size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return hex.EncodeToString(h.Sum(nil)), err
}

// runCases runs each case's rounds, the client order rotating by one each round.
func (b *bench) runCases(specs []*caseSpec, quiet bool, afterCase func() error) error {
	byID := map[string]*client{}
	for _, c := range allClients() {
		byID[c.ID] = c
	}
	for _, c := range specs {
		var cl []*client
		for _, id := range c.Clients {
			k := byID[id]
			if (c.Count > 0 && k.Many) || (c.Count == 0 && k.Single) {
				cl = append(cl, k)
			}
		}
		if len(cl) == 0 {
			continue
		}
		if err := b.prepare(c); err != nil {
			return fmt.Errorf("%s: generate input: %w", c.ID, err)
		}
		var proxy *delayProxy
		endpoint := b.gw[c.TLS].URL
		if c.Delay > 0 {
			var err error
			if proxy, err = startDelayProxy(b.gw[c.TLS].Addr, c.Delay); err != nil {
				return err
			}
			endpoint = strings.Replace(endpoint, b.gw[c.TLS].Addr, proxy.Addr(), 1)
		}
		logf("%s: %s, %d round(s) of %d client(s)", c.ID, c.Title, c.Rounds, len(cl))
		for round := range c.Rounds {
			order := append(append([]*client(nil), cl[round%len(cl):]...), cl[:round%len(cl)]...)
			for _, k := range order {
				res := b.runOne(c, k, round, endpoint)
				if !quiet || res.Err != "" {
					logf("  round %d %-14s %s", round+1, k.ID, res.line(c))
				}
				if res.Err != "" && b.failFast {
					if proxy != nil {
						proxy.Close()
					}
					return fmt.Errorf("%s, %s: %s", c.ID, k.ID, res.Err)
				}
				b.results = append(b.results, res)
			}
		}
		if proxy != nil {
			proxy.Close()
		}
		if err := os.RemoveAll(c.input); err != nil {
			return err
		}
		if afterCase != nil {
			if err := afterCase(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *bench) runOne(c *caseSpec, k *client, round int, endpoint string) result {
	b.seq++
	res := result{Case: c.ID, Client: k.ID, Round: round + 1}
	r := &runCtx{b: b, c: c, endpoint: endpoint, prefix: fmt.Sprintf("run-%d/", b.seq), tmp: filepath.Join(b.work, "runs", fmt.Sprintf("%d-%s", b.seq, k.ID))}
	fail := func(err error) result { res.Err = err.Error(); return res }
	if err := os.MkdirAll(r.tmp, 0o700); err != nil {
		return fail(err)
	}
	defer os.RemoveAll(r.tmp)
	argv, env, err := k.command(r)
	if err != nil {
		return fail(err)
	}
	b.recordCommand(c, k, argv, env)
	g := b.gw[c.TLS]
	cpu0 := g.cpuSeconds()
	u, err := measure(argv, append(b.baseEnv(), env...), r.tmp, filepath.Join(b.work, "logs", fmt.Sprintf("%d-%s-%s.log", b.seq, c.ID, k.ID)))
	res.ServerCPU = g.cpuSeconds() - cpu0
	res.Usage = u
	ctx := context.Background()
	if err == nil {
		err = b.verify(ctx, r)
	}
	if eerr := g.empty(ctx); eerr != nil && err == nil {
		err = fmt.Errorf("empty the bucket: %w", eerr)
	}
	if err != nil {
		return fail(err)
	}
	// Let the gateway finish deleting before the next client starts.
	time.Sleep(300 * time.Millisecond)
	return res
}

func (r result) line(c *caseSpec) string {
	if r.Err != "" {
		return "FAILED: " + r.Err
	}
	u := r.Usage
	s := fmt.Sprintf("%6.2f s  %7.1f MB/s  cpu %5.2f s  rss %4d MiB  server cpu %5.2f s", u.Wall.Seconds(),
		float64(c.totalBytes())/u.Wall.Seconds()/1e6, u.CPU(), u.MaxRSS/1024, r.ServerCPU)
	if c.Count > 0 {
		s += fmt.Sprintf("  %.0f files/s", float64(c.Count)/u.Wall.Seconds())
	}
	return s
}

// verify checks that the run left exactly the case's files under its prefix,
// of the right sizes (and content, with -verify-content), and that ckanup
// registered each with its SHA-256.
func (b *bench) verify(ctx context.Context, r *runCtx) error {
	g := b.gw[r.c.TLS]
	objs, err := g.list(ctx, r.listPrefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", r.listPrefix, err)
	}
	if len(objs) != len(r.c.files) {
		return fmt.Errorf("%d objects under %q, want %d", len(objs), r.listPrefix, len(r.c.files))
	}
	for _, o := range objs {
		want, ok := r.c.files[path.Base(o.Key)]
		if !ok {
			return fmt.Errorf("unexpected object %s", o.Key)
		}
		if o.Size != want.Size {
			return fmt.Errorf("object %s has %d bytes, want %d", o.Key, o.Size, want.Size)
		}
		if b.verifyContent {
			sum, err := g.sha256(ctx, o.Key)
			if err != nil {
				return err
			}
			if sum != want.SHA256 {
				return fmt.Errorf("object %s has SHA-256 %s, want %s", o.Key, sum, want.SHA256)
			}
		}
	}
	if r.dataset == "" {
		return nil
	}
	res := b.ckan.Resources(r.dataset)
	if len(res) != len(r.c.files) {
		return fmt.Errorf("dataset %s has %d resources, want %d", r.dataset, len(res), len(r.c.files))
	}
	for _, m := range res {
		name, _ := m["name"].(string)
		want, ok := r.c.files[name]
		if !ok {
			return fmt.Errorf("unexpected resource %q", name)
		}
		if h, _ := m["hash"].(string); h != "sha256:"+want.SHA256 {
			return fmt.Errorf("resource %s has hash %q, want sha256:%s", name, h, want.SHA256)
		}
	}
	return nil
}

func (g *gateway) sha256(ctx context.Context, key string) (string, error) {
	out, err := g.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(g.bucket), Key: aws.String(key)})
	if err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// recordCommand keeps the first command line of each client in each case for
// the report, with the working directory and secrets replaced by names.
func (b *bench) recordCommand(c *caseSpec, k *client, argv, env []string) {
	if b.commands[c.ID] == nil {
		b.commands[c.ID] = map[string]string{}
	}
	if _, ok := b.commands[c.ID][k.ID]; ok {
		return
	}
	var parts []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		parts = append(parts, name+"=…")
	}
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	if len(parts) > 0 {
		parts = []string{"# env: " + strings.Join(parts, " ") + "\n"}
	}
	s := strings.Join(parts, "") + strings.Join(q, " ")
	s = strings.ReplaceAll(s, b.work, "$WORK")
	s = strings.ReplaceAll(s, b.secret, "$SECRET")
	s = strings.ReplaceAll(s, b.access, "$ACCESS_KEY")
	b.commands[c.ID][k.ID] = s
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"$`\\|&;<>()*?[]{}!#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func randHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}
