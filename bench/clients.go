package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// client is one way of putting the case's input into the bucket.
type client struct {
	ID    string // the -clients name
	Label string // the table's row
	// Single and Many say whether it takes one file and a directory of files.
	Single, Many bool
	// command returns argv and the environment added to the base one; it sets
	// r.listPrefix to where the objects will be.
	command func(r *runCtx) (argv, env []string, err error)
}

// runCtx is one run of one client in one case.
type runCtx struct {
	b        *bench
	c        *caseSpec
	endpoint string // what the client talks to (the delay proxy in RTT cases)
	prefix   string // a key prefix of this run's own, ending in "/"
	tmp      string // a private directory for the run's config files
	// Set by the client's command:
	listPrefix string // the objects are under this prefix
	dataset    string // the CKAN dataset ckanup registers into, "" for other clients
}

func (r *runCtx) tls() bool { return r.c.TLS }

// awsEnv is what every SDK-based client needs to authenticate.
func (r *runCtx) awsEnv() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=" + r.b.access,
		"AWS_SECRET_ACCESS_KEY=" + r.b.secret,
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if r.tls() {
		env = append(env, "SSL_CERT_FILE="+r.b.cert, "AWS_CA_BUNDLE="+r.b.cert)
	}
	return env
}

func (r *runCtx) objectKey() string { return r.prefix + filepath.Base(r.c.input) }

func allClients() []*client {
	return []*client{
		ckanupClient("ckanup", "ckanup defaults (5 MiB × 4)", "ckanup"),
		ckanupClient("ckanup-8x10", "ckanup --part-size 8MiB --concurrency 10", "ckanup", "--part-size", "8MiB", "--concurrency", "10"),
		ckanupClient("ckanup-auto", "ckanup --concurrency auto (5 MiB × 4 growing)", "ckanup", "--concurrency", "auto"),
		ckanupClient("ckanup-base", "ckanup baseline (-ckanup-base)", "ckanup-base"),
		awsClient("aws", "aws-cli defaults (8 MiB × 10)", "aws-default"),
		awsClient("aws-5x4", "aws-cli at 5 MiB × 4", "aws-5x4"),
		{ID: "rclone", Label: "rclone defaults (5 MiB × 4; 4 transfers)", Single: true, Many: true, command: rcloneCommand},
		sdkloopClient("sdkloop", "bare aws-sdk-go-v2 loop, 5 MiB × 4, unsigned payload", true),
		sdkloopClient("sdkloop-signed", "bare aws-sdk-go-v2 loop, 5 MiB × 4, signed payload", false),
		{ID: "curl", Label: "curl, one PUT per file, unsigned payload (4 at once for a directory)", Single: true, Many: true, command: curlCommand},
	}
}

func ckanupClient(id, label, bin string, extra ...string) *client {
	return &client{ID: id, Label: label, Single: true, Many: true, command: func(r *runCtx) ([]string, []string, error) {
		b := r.b
		r.dataset = fmt.Sprintf("bench-%d", b.seq)
		ds := b.ckan.AddDataset(r.dataset, "Benchmark run "+r.dataset, b.world.DemoOrg.Name, false)
		r.listPrefix = b.world.DemoOrg.ID + "/" + ds.ID + "/"
		argv := []string{b.bin[bin], "upload", r.c.input, "--dataset", r.dataset, "--output", "json"}
		if r.c.Count > 0 {
			argv = append(argv, "--recursive")
		}
		argv = append(argv, extra...)
		argv = append(argv, b.ckanupArgs...)
		env := append(r.awsEnv(),
			"CKAN_URL="+b.ckanURL,
			"CKAN_API_TOKEN="+b.world.Editor.Token,
			"CKANUP_BUCKET="+b.bucket,
			"AWS_ENDPOINT_URL_S3="+r.endpoint,
			"XDG_CONFIG_HOME="+filepath.Join(r.tmp, "config"),
			"XDG_STATE_HOME="+filepath.Join(r.tmp, "state"),
		)
		env = append(env, b.ckanupEnv...)
		return argv, env, nil
	}}
}

func awsClient(id, label, config string) *client {
	return &client{ID: id, Label: label, Single: true, Many: true, command: func(r *runCtx) ([]string, []string, error) {
		b := r.b
		r.listPrefix = r.prefix
		argv := []string{b.bin["aws"], "s3", "cp", r.c.input}
		if r.c.Count > 0 {
			argv = append(argv, "s3://"+b.bucket+"/"+r.prefix, "--recursive")
		} else {
			argv = append(argv, "s3://"+b.bucket+"/"+r.objectKey())
		}
		argv = append(argv, "--endpoint-url", r.endpoint, "--only-show-errors")
		env := append(r.awsEnv(),
			"AWS_CONFIG_FILE="+filepath.Join(b.work, config, "config"),
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(b.work, config, "credentials"),
			"AWS_PAGER=",
		)
		return argv, env, nil
	}}
}

func rcloneCommand(r *runCtx) ([]string, []string, error) {
	b := r.b
	r.listPrefix = r.prefix
	var argv []string
	if r.c.Count > 0 {
		argv = []string{b.bin["rclone"], "copy", r.c.input, "bench:" + b.bucket + "/" + strings.TrimSuffix(r.prefix, "/")}
	} else {
		argv = []string{b.bin["rclone"], "copyto", r.c.input, "bench:" + b.bucket + "/" + r.objectKey()}
	}
	if r.tls() {
		argv = append(argv, "--ca-cert", b.cert)
	}
	conf := filepath.Join(r.tmp, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, nil, err
	}
	env := []string{
		"RCLONE_CONFIG=" + conf,
		"RCLONE_CONFIG_BENCH_TYPE=s3",
		"RCLONE_CONFIG_BENCH_PROVIDER=Other",
		"RCLONE_CONFIG_BENCH_ENDPOINT=" + r.endpoint,
		"RCLONE_CONFIG_BENCH_REGION=us-east-1",
		"RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=" + b.access,
		"RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=" + b.secret,
	}
	return argv, env, nil
}

func sdkloopClient(id, label string, unsigned bool) *client {
	return &client{ID: id, Label: label, Single: true, Many: true, command: func(r *runCtx) ([]string, []string, error) {
		b := r.b
		r.listPrefix = r.prefix
		argv := []string{b.bin["sdkloop"], "-endpoint", r.endpoint, "-bucket", b.bucket}
		if unsigned {
			argv = append(argv, "-unsigned")
		}
		if r.c.Count > 0 {
			argv = append(argv, "-dir", r.c.input, "-prefix", r.prefix)
		} else {
			argv = append(argv, "-file", r.c.input, "-key", r.objectKey())
		}
		return argv, r.awsEnv(), nil
	}}
}

// curlCommand signs with curl's --aws-sigv4; the credentials and the
// file/URL pairs go into a config file (-K) rather than onto the command line.
func curlCommand(r *runCtx) ([]string, []string, error) {
	b := r.b
	r.listPrefix = r.prefix
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "user = \"%s:%s\"\n", b.access, b.secret)
	base := r.endpoint + "/" + b.bucket + "/"
	if r.c.Count > 0 {
		names, err := listFiles(r.c.input)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			fmt.Fprintf(&cfg, "upload-file = \"%s\"\nurl = \"%s\"\noutput = \"/dev/null\"\n", filepath.Join(r.c.input, n), base+r.prefix+n)
		}
	} else {
		fmt.Fprintf(&cfg, "upload-file = \"%s\"\nurl = \"%s\"\noutput = \"/dev/null\"\n", r.c.input, base+r.objectKey())
	}
	conf := filepath.Join(r.tmp, "curl.conf")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o600); err != nil {
		return nil, nil, err
	}
	// curl 7.88 signs the body's hash as that of an empty one unless told
	// otherwise; UNSIGNED-PAYLOAD is what it sends for uploads from 8.x on.
	argv := []string{b.bin["curl"], "--silent", "--show-error", "--fail", "--aws-sigv4", "aws:amz:us-east-1:s3",
		"--header", "x-amz-content-sha256: UNSIGNED-PAYLOAD"}
	if r.tls() {
		argv = append(argv, "--cacert", b.cert)
	}
	if r.c.Count > 0 {
		argv = append(argv, "--parallel", "--parallel-max", "4")
	}
	argv = append(argv, "--config", conf)
	return argv, nil, nil
}

// listFiles returns the names of the regular files directly in dir, sorted.
func listFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
