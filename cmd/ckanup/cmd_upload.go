package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/fileformat"
	"github.com/ckanup/ckanup/internal/fileset"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/scope"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// resourceNamespace derives stable resource ids from (site, dataset, name), so a
// re-run after a failed registration finds the object it already uploaded.
var resourceNamespace = uuid.MustParse("6f1d7a52-3c5e-4c1e-9a57-2b8f0e3d4c61")

// UploadOptions are the upload command's flags and dependencies.
type UploadOptions struct {
	*Deps
	Global *GlobalOptions

	Paths      []string
	Dataset    string
	Recursive  bool
	Filter     fileset.Options // --include, --exclude, …
	Name       string
	Desc       string
	Format     string
	ResourceID string

	S3              S3Flags
	PublicURLBase   string
	TokenURL        string
	RoleARN         string
	SessionDuration time.Duration

	PartSize       string
	Concurrency    int
	Retries        int
	RetryMaxTime   time.Duration
	RequestTimeout time.Duration

	Output   string
	Progress bool
	DryRun   bool
	NoResume bool
	Force    bool
}

func newUploadCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	o := &UploadOptions{Deps: deps, Global: g}
	cmd := &cobra.Command{
		Use:   "upload FILE|DIR|GLOB... --dataset NAME_OR_ID",
		Short: "Upload files to S3 and register them as resources of a CKAN dataset",
		Long: `Upload files to the portal's S3 storage and register each as a resource of a
CKAN dataset, with its URL, size, SHA-256, format and MIME type.

Each file goes to  [key-prefix/]<organization id>/<dataset id>/<resource id>/<file name>
in parallel parts (5 MiB by default, larger when a file would need more than
10,000), each carrying a CRC32C that S3 verifies; failed requests are retried
with exponential backoff. The object is read back (size and checksum) before it
is registered. A resource of the same name in the dataset is updated in place;
a new one gets a stable id.

Re-running the same command is safe: files the resource already holds (same
size and SHA-256) are skipped; an interrupted upload (Ctrl-C, a crash, a lost
connection) resumes, sending only the parts S3 lacks; an object uploaded but
not registered is registered without being sent again.

CKAN: --ckan-url or CKAN_URL; the API token from --api-token-file, CKAN_API_TOKEN
or the profile written by 'ckanup login' (in that order).
Credentials and target, by preference: a ckanup token endpoint (--token-url,
CKANUP_TOKEN_URL or the profile), which decides bucket, region and prefix and
hands out credentials for this dataset only; STS AssumeRole (--role-arn); or
the standard AWS configuration (AWS_REGION, AWS_ENDPOINT_URL_S3,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE, instance
roles, …) with --bucket/CKANUP_BUCKET and --key-prefix/CKANUP_KEY_PREFIX.

"-" uploads standard input (with --name). Symbolic links to files are
followed; with --recursive, links to directories are not. Devices, FIFOs and
sockets are refused.

` + filterHelp + exitCodesHelp,
		Example: `  ckanup upload big.csv --dataset my-dataset
  ckanup upload data/ --recursive --dataset my-dataset --output json
  ckanup upload 'exports/*.parquet' --dataset my-dataset --dry-run
  pg_dump mydb | gzip | ckanup upload - --name mydb.sql.gz --dataset my-dataset`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("name at least one file to upload")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = args
			o.S3.changed(cmd)
			return runUpload(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Dataset, "dataset", "d", "", "dataset name or id (required)")
	f.BoolVarP(&o.Recursive, "recursive", "r", false, "upload the files in directories, and below")
	f.StringVar(&o.Name, "name", "", "resource name (one file only; default: the file name)")
	f.StringVar(&o.Desc, "description", "", "resource description")
	f.StringVar(&o.Format, "format", "", "resource format (default: from the extension: CSV, JSON, ZIP, PARQUET, …)")
	f.StringVar(&o.ResourceID, "resource-id", "", "update this existing resource (one file only)")
	o.S3.register(cmd)
	registerFilterFlags(cmd, &o.Filter)
	f.StringVar(&o.TokenURL, "token-url", "", "ckanup token endpoint giving dataset-scoped credentials and the target (env CKANUP_TOKEN_URL, else the login profile)")
	f.StringVar(&o.RoleARN, "role-arn", "", "assume this IAM role with STS, scoped to the dataset's prefix (env CKANUP_ROLE_ARN)")
	f.DurationVar(&o.SessionDuration, "session-duration", time.Hour, "lifetime of credentials from --role-arn")
	f.StringVar(&o.PublicURLBase, "public-url-base", "", "public base URL of the objects (a CDN or custom domain) for the resource URL")
	f.StringVar(&o.PartSize, "part-size", "5MiB", "part size (5MiB–5GiB; grown when a file would need more than 10,000 parts)")
	f.IntVar(&o.Concurrency, "concurrency", upload.DefaultConcurrency, "requests in flight, shared by all files")
	f.IntVar(&o.Retries, "retries", 10, "attempts per request before giving up")
	f.DurationVar(&o.RetryMaxTime, "retry-max-time", 5*time.Minute, "longest time spent retrying one request")
	f.DurationVar(&o.RequestTimeout, "request-timeout", 0, "timeout of one request attempt (default: 1m, plus 1m per 8 MiB of part)")
	f.StringVarP(&o.Output, "output", "o", "text", "result format: text or json (one JSON object per file on stdout)")
	f.BoolVar(&o.Progress, "progress", false, "show progress on stderr in JSON mode too")
	f.BoolVar(&o.DryRun, "dry-run", false, "check the dataset and rights, print the plan, upload nothing")
	f.BoolVar(&o.NoResume, "no-resume", false, "abort a failed or interrupted upload instead of keeping it to resume")
	f.BoolVar(&o.Force, "force", false, "upload even when the resource already has this file's size and SHA-256")
	return cmd
}

// fileRecord is one file's outcome, printed as a text line or a JSON object.
type fileRecord struct {
	File       string  `json:"file"`
	Dataset    string  `json:"dataset"`
	ResourceID string  `json:"resource_id"`
	URL        string  `json:"url,omitempty"`
	Bucket     string  `json:"bucket"`
	Key        string  `json:"key"`
	Size       int64   `json:"size"`
	SHA256     string  `json:"sha256,omitempty"`
	Parts      int     `json:"parts"`
	PartSize   int64   `json:"part_size"`
	Status     string  `json:"status"` // created, updated, skipped, failed, planned
	Uploaded   bool    `json:"uploaded"`
	Error      string  `json:"error,omitempty"`
	Duration   float64 `json:"duration_s"`

	err  error
	name string
}

// uploadRun is the state of one upload command.
type uploadRun struct {
	o        *UploadOptions
	client   *ckan.Client
	settings *ckanSettings
	source   *creds.Source
	user     *ckan.User
	dataset  *ckan.Dataset
	target   creds.Target
	api      upload.API
	up       *upload.Uploader
	disp     display
	regMu    sync.Mutex // CKAN registrations into one dataset, one at a time

	journal    *journal.Store
	journalDir string
	partSize   int64
}

func (o *UploadOptions) validate() error {
	if o.Dataset == "" {
		return usageErrorf("--dataset is required (the dataset's name or id)")
	}
	if o.Output != "text" && o.Output != "json" {
		return usageErrorf("--output must be text or json, not %q", o.Output)
	}
	if o.Concurrency < 1 || o.Concurrency > 64 {
		return usageErrorf("--concurrency must be between 1 and 64")
	}
	if o.Retries < 1 {
		return usageErrorf("--retries must be at least 1")
	}
	if o.PublicURLBase != "" && !strings.HasPrefix(o.PublicURLBase, "https://") && !strings.HasPrefix(o.PublicURLBase, "http://") {
		return usageErrorf("--public-url-base must be an http(s) URL")
	}
	return nil
}

func runUpload(ctx context.Context, o *UploadOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	partSize, err := upload.ParseSize(o.PartSize)
	if err != nil {
		return usageErrorf("--part-size: %v", err)
	}
	if _, err := upload.NewPlan(0, partSize); err != nil {
		return usageErrorf("--part-size: %v", err)
	}
	files, err := o.selectFiles()
	if err != nil {
		return err
	}
	if len(files) > 1 && (o.Name != "" || o.ResourceID != "") {
		return usageErrorf("--name and --resource-id apply to one file, and %d were given", len(files))
	}
	if files[0].Path == "-" && o.Name == "" {
		return usageErrorf("uploading standard input (-) needs --name, the resource's name")
	}
	if o.Name != "" {
		files[0].Name = o.Name
	}

	settings, err := resolveCKAN(o.Deps, o.Global)
	if err != nil {
		return err
	}
	r := &uploadRun{o: o, settings: settings, partSize: partSize}
	if r.client, err = settings.client(o.Deps, o.Global); err != nil {
		return err
	}
	if r.user, err = whoAmI(ctx, r.client, settings); err != nil {
		return err
	}
	if r.dataset, err = r.resolveDataset(ctx); err != nil {
		return err
	}

	if r.api, err = r.s3(ctx); err != nil {
		return err
	}
	r.up = upload.New(r.api, upload.Options{
		PartSize: partSize, Concurrency: o.Concurrency, MaxAttempts: o.Retries, MaxRetryTime: o.RetryMaxTime,
		RequestTimeout: o.RequestTimeout, KeepOnFailure: !o.NoResume,
		RefreshCredentials: r.source.Invalidate,
	})
	if r.journalDir, err = journal.Dir(o.Getenv); err != nil {
		return err
	}
	if r.journal, err = journal.Open(r.journalDir); err != nil {
		return err
	}

	jobs := make([]*fileJob, len(files))
	for i, f := range files {
		if jobs[i], err = r.plan(f); err != nil {
			return err
		}
	}
	if o.DryRun {
		return r.printPlan(jobs)
	}
	return r.uploadAll(ctx, jobs)
}

// notef tells the person something they should know (unless --quiet).
func (r *uploadRun) notef(format string, a ...any) {
	if r.o.Global.Quiet {
		return
	}
	if r.disp != nil {
		r.disp.logf(format, a...)
		return
	}
	fmt.Fprintf(r.o.Stderr, "ckanup: "+format+"\n", a...)
}

func (r *uploadRun) logf(format string, a ...any) {
	if r.o.Global.Verbose {
		fmt.Fprintf(r.o.Stderr, "ckanup: "+format+"\n", a...)
	}
}

// resolveDataset finds the dataset and checks that the user may edit it.
func (r *uploadRun) resolveDataset(ctx context.Context) (*ckan.Dataset, error) {
	d, err := r.client.PackageShow(ctx, r.o.Dataset)
	switch {
	case ckan.IsNotFound(err):
		return nil, withHint(fmt.Errorf("dataset %q not found on %s: %w", r.o.Dataset, r.client.SiteURL(), err),
			"check the dataset's name (the last part of its URL) or id")
	case ckan.IsForbidden(err):
		return nil, withHint(fmt.Errorf("dataset %q on %s: %w", r.o.Dataset, r.client.SiteURL(), err),
			"the dataset is private and user "+r.user.Name+" is not a member of its organization")
	case err != nil:
		return nil, fmt.Errorf("look up dataset %q: %w", r.o.Dataset, err)
	}
	right, err := r.client.CanEdit(ctx, r.user, d)
	if err != nil {
		return nil, fmt.Errorf("check edit rights on dataset %s: %w", d.Name, err)
	}
	if !right.Allowed {
		return nil, withHint(fmt.Errorf("dataset %s: %w: %s", d.Name, errNotEditable, right.Reason),
			"ask an admin of the dataset's organization to make you an editor, or use another user's token")
	}
	r.logf("CKAN %s: user %s may edit dataset %s (%s)", r.client.SiteURL(), r.user.Name, d.Name, right.Reason)
	return d, nil
}

// s3 resolves the credentials and target and returns the S3 client.
func (r *uploadRun) s3(ctx context.Context) (upload.API, error) {
	src, err := r.credentials(ctx)
	if err != nil {
		return nil, err
	}
	r.source, r.target = src, src.Target
	if r.target.DatasetPrefix == "" {
		r.target.DatasetPrefix = scope.DatasetPrefix(r.target.KeyPrefix, r.dataset.OwnerOrg, r.dataset.ID)
	}
	r.logf("S3: bucket %s at %s, credentials from the %s", r.target.Bucket, where(r.target), src.Kind)
	return newS3Client(src), nil
}

func (r *uploadRun) onRefresh(expires time.Time) {
	r.logf("credentials refreshed, valid until %s", expires.Local().Format(time.RFC3339))
}

// credentials picks the source: a token endpoint, STS AssumeRole, or the AWS
// SDK chain, in that order.
func (r *uploadRun) credentials(ctx context.Context) (*creds.Source, error) {
	o := r.o
	if tokenURL := r.settings.tokenEndpoint(o.TokenURL, o.Getenv); tokenURL != "" {
		if set := o.S3.explicit(); len(set) > 0 {
			return nil, usageErrorf("%s: the token endpoint decides the S3 target; drop these flags or --token-url", strings.Join(set, ", "))
		}
		src, err := creds.FromEndpoint(ctx, creds.EndpointOptions{URL: tokenURL, Token: r.settings.Token, Dataset: r.dataset.ID,
			HTTP: o.HTTPClient, OnRefresh: r.onRefresh})
		if errors.Is(err, creds.ErrDenied) {
			return nil, withHint(err, "the token endpoint only serves editors of datasets in the organizations it is enabled for")
		}
		if err != nil {
			return nil, err
		}
		if want := r.dataset.OwnerOrg + "/" + r.dataset.ID + "/"; !strings.HasSuffix(src.Target.DatasetPrefix, want) {
			return nil, fmt.Errorf("the token endpoint scoped the credentials to %q, not to dataset %s", src.Target.DatasetPrefix, r.dataset.Name)
		}
		return src, nil
	}
	src, err := o.S3.source(ctx, o.Deps)
	if err != nil {
		return nil, err
	}
	roleARN := firstNonEmpty(o.RoleARN, o.Getenv("CKANUP_ROLE_ARN"))
	if roleARN == "" {
		return src, nil
	}
	prefix := scope.DatasetPrefix(src.Target.KeyPrefix, r.dataset.OwnerOrg, r.dataset.ID)
	policy, err := scope.SessionPolicy(src.Target.Bucket, prefix)
	if err != nil {
		return nil, err
	}
	host := r.client.SiteURL()
	if u, err := url.Parse(host); err == nil {
		host = u.Host
	}
	assumed, err := creds.AssumeRole(src, creds.AssumeRoleOptions{RoleARN: roleARN, SessionName: scope.SessionName(r.user.Name, host),
		Duration: o.SessionDuration, Policy: policy, OnRefresh: r.onRefresh})
	if err != nil {
		return nil, err
	}
	if _, err := assumed.Config.Credentials.Retrieve(ctx); err != nil {
		return nil, withHint(fmt.Errorf("assume role %s: %w", roleARN, err), "check the role's trust policy allows your AWS identity to assume it")
	}
	assumed.Target.DatasetPrefix = prefix
	return assumed, nil
}

// fileJob is one planned file.
type fileJob struct {
	in         inputFile
	resourceID string
	existing   bool
	resource   *ckan.Resource // the resource to update, when existing
	key        string
	url        string
	plan       upload.Plan
	format     string
	mimetype   string
}

func (r *uploadRun) plan(f inputFile) (*fileJob, error) {
	j := &fileJob{in: f}
	switch {
	case r.o.ResourceID != "":
		for i, res := range r.dataset.Resources {
			if res.ID == r.o.ResourceID {
				j.resourceID, j.existing, j.resource = res.ID, true, &r.dataset.Resources[i]
			}
		}
		if !j.existing {
			return nil, failure.Wrap(failure.NotFound, fmt.Errorf("resource %s is not in dataset %s", r.o.ResourceID, r.dataset.Name))
		}
	default:
		for i, res := range r.dataset.Resources {
			if res.Name == f.Name && res.State != "deleted" {
				j.resourceID, j.existing, j.resource = res.ID, true, &r.dataset.Resources[i]
				break
			}
		}
		if !j.existing {
			j.resourceID = uuid.NewSHA1(resourceNamespace, []byte(r.client.SiteURL()+"\n"+r.dataset.ID+"\n"+f.Name)).String()
		}
	}
	j.key = r.target.DatasetPrefix + j.resourceID + "/" + scope.KeyName(f.Name)
	if len(j.key) > 1024 {
		return nil, usageErrorf("%s: the object key would be %d bytes, over S3's 1,024: use a shorter --name or a shallower directory", f.Path, len(j.key))
	}
	j.url = objectURL(r.target, r.o.PublicURLBase, j.key)
	j.format, j.mimetype = fileformat.Of(f.Name)
	if r.o.Format != "" {
		j.format = r.o.Format
	}
	if f.Path == "-" {
		j.plan = upload.Plan{Size: -1, PartSize: r.partSize, Parts: -1, Multipart: true}
		return j, nil
	}
	p, err := r.up.Plan(f.Size)
	if err != nil {
		return nil, usageErrorf("%s: %v", f.Path, err)
	}
	j.plan = p
	return j, nil
}

// objectURL is the URL recorded on the resource.
func objectURL(t creds.Target, publicBase, key string) string {
	switch {
	case publicBase != "":
		return strings.TrimSuffix(publicBase, "/") + "/" + scope.EscapeKey(key)
	case t.Endpoint != "" && t.PathStyle:
		return t.Endpoint + "/" + t.Bucket + "/" + scope.EscapeKey(key)
	case t.Endpoint != "":
		scheme, host, _ := strings.Cut(t.Endpoint, "://")
		return scheme + "://" + t.Bucket + "." + host + "/" + scope.EscapeKey(key)
	default:
		return fmt.Sprintf("https://%s.s3.%s.amazonaws.com/%s", t.Bucket, t.Region, scope.EscapeKey(key))
	}
}

func (r *uploadRun) record(j *fileJob) *fileRecord {
	return &fileRecord{File: j.in.Path, Dataset: r.dataset.Name, ResourceID: j.resourceID, URL: j.url,
		Bucket: r.target.Bucket, Key: j.key, Size: j.in.Size, Parts: j.plan.Parts, PartSize: j.plan.PartSize, name: j.in.Name}
}

func (r *uploadRun) printPlan(jobs []*fileJob) error {
	if r.o.Output == "text" {
		fmt.Fprintf(r.o.Stdout, "Dry run: %d file(s) to dataset %s (%s) on %s as %s; nothing will be uploaded.\n",
			len(jobs), r.dataset.Name, r.dataset.ID, r.client.SiteURL(), r.user.Name)
	}
	for _, j := range jobs {
		rec := r.record(j)
		rec.Status = "planned"
		if r.o.Output == "json" {
			if err := json.NewEncoder(r.o.Stdout).Encode(rec); err != nil {
				return err
			}
			continue
		}
		action := "create resource"
		if j.existing {
			action = "update resource"
		}
		how := "1 request"
		switch {
		case j.plan.Size < 0:
			how = fmt.Sprintf("streamed in parts of %s (at most %s)", upload.FormatSize(j.plan.PartSize), upload.FormatSize(upload.MaxStreamSize(j.plan.PartSize)))
		case j.plan.Multipart:
			how = fmt.Sprintf("%d parts of %s", j.plan.Parts, upload.FormatSize(j.plan.PartSize))
		}
		fmt.Fprintf(r.o.Stdout, "  %s  %s  %s, %s  %s %s\n    → s3://%s/%s\n", j.in.Path, upload.FormatSize(j.in.Size), how,
			j.format, action, j.resourceID, r.target.Bucket, j.key)
	}
	return nil
}

func (r *uploadRun) displayMode() string {
	switch {
	case r.o.Global.Quiet:
		return "none"
	case r.o.Output == "json" && !r.o.Progress:
		return "none"
	case r.o.IsTerminal(r.o.Stderr):
		return "bar"
	}
	return "lines"
}

// uploadAll sends the files, a few at a time, sharing the engine's request pool,
// and registers each as it is verified.
func (r *uploadRun) uploadAll(ctx context.Context, jobs []*fileJob) error {
	r.disp = newDisplay(r.o.Stderr, r.displayMode(), r.o.Global.Verbose, 30*time.Second)
	results := make(chan *fileRecord)
	slots := make(chan struct{}, r.o.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				rec := r.record(j)
				rec.Status, rec.err = "failed", ctx.Err()
				results <- rec
				return
			}
			defer func() { <-slots }()
			results <- r.uploadOne(ctx, j)
		}()
	}
	go func() { wg.Wait(); close(results) }()

	var failed []*fileRecord
	ok := 0
	for rec := range results {
		if rec.err != nil {
			rec.Error = rec.err.Error()
			failed = append(failed, rec)
		} else {
			ok++
		}
		r.disp.pause()
		r.printRecord(rec)
	}
	r.disp.close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case len(failed) == 0:
		return nil
	case ok > 0:
		return &exitError{code: exitPartial, err: fmt.Errorf("%d of %d files failed", len(failed), len(jobs))}
	}
	code := exitCode(failed[0].err)
	for _, f := range failed[1:] {
		if exitCode(f.err) != code {
			code = exitFailure
		}
	}
	return &exitError{code: code}
}

func (r *uploadRun) printRecord(rec *fileRecord) {
	if rec.err != nil {
		fmt.Fprintf(r.o.Stderr, "ckanup: error: %s: %v\n", rec.File, rec.err)
		if h := hint.Of(rec.err); h != "" {
			fmt.Fprintf(r.o.Stderr, "ckanup: %s\n", h)
		}
	}
	if r.o.Output == "json" {
		_ = json.NewEncoder(r.o.Stdout).Encode(rec)
		return
	}
	if rec.err != nil {
		fmt.Fprintf(r.o.Stdout, "failed   %s\n", rec.File)
		return
	}
	if rec.Status == "skipped" {
		fmt.Fprintf(r.o.Stdout, "skipped  %s: resource %s of %s already has this file (same size and sha256 %s)\n", rec.File, rec.ResourceID, rec.Dataset, rec.SHA256)
		return
	}
	how := "uploaded"
	if !rec.Uploaded {
		how = "already in S3"
	}
	fmt.Fprintf(r.o.Stdout, "%-8s %s → %s resource %s (%s, %s, sha256 %s) %s\n", rec.Status, rec.File, rec.Dataset,
		rec.ResourceID, upload.FormatSize(rec.Size), how, rec.SHA256, rec.URL)
}

// uploadOne sends one file (unless the resource or the object already holds it),
// resuming an interrupted upload of it, and registers it.
func (r *uploadRun) uploadOne(ctx context.Context, j *fileJob) *fileRecord {
	rec := r.record(j)
	start := r.o.Now()
	prog := r.disp.track(j.in.Name, j.in.Size)
	defer prog.done()
	fail := func(err error) *fileRecord {
		rec.Status, rec.err = "failed", err
		rec.Duration = r.o.Now().Sub(start).Seconds()
		return rec
	}

	if j.in.Path == "-" {
		return r.finish(ctx, j, rec, start, func() (*upload.Result, error) {
			return r.up.UploadStream(ctx, r.o.Stdin, upload.Job{Bucket: r.target.Bucket, Key: j.key, ContentType: j.mimetype,
				Observer: prog, Metadata: r.objectMetadata(j)})
		})
	}
	if j.resource != nil && !r.o.Force {
		sum, same, err := sameAsResource(j.in.Path, j.resource)
		if err != nil {
			return fail(err)
		}
		if same {
			rec.Status, rec.SHA256 = "skipped", sum
			rec.Duration = r.o.Now().Sub(start).Seconds()
			prog.Transferred(j.in.Size)
			return rec
		}
	}

	job := upload.Job{
		Path: j.in.Path, Bucket: r.target.Bucket, Key: j.key, ContentType: j.mimetype, Observer: prog,
		Metadata: r.objectMetadata(j),
	}
	var jr *journalRecorder
	if j.plan.Multipart {
		state, err := journal.StateOf(j.in.Path)
		if err != nil {
			return fail(fmt.Errorf("read %s: %w", j.in.Path, err))
		}
		lock, entry, err := r.openEntry(ctx, j, state)
		if err != nil {
			return fail(err)
		}
		defer lock.Unlock()
		if entry == nil {
			entry = &journal.Entry{Site: r.client.SiteURL(), DatasetID: r.dataset.ID, DatasetName: r.dataset.Name,
				ResourceID: j.resourceID, ResourceName: j.in.Name, Bucket: r.target.Bucket, Key: j.key,
				Endpoint: r.target.Endpoint, File: state, Args: r.o.Global.Args, Started: r.o.Now().UTC()}
		} else if !entry.Completed {
			job.Resume = resumeOf(entry)
			r.notef("%s: resuming the interrupted upload %s (%s)", j.in.Path, entry.UploadID, describeEntry(entry))
		}
		jr = &journalRecorder{st: r.journal, id: journal.ID(r.client.SiteURL(), r.dataset.ID, state.Path), e: entry}
		job.Recorder = jr
	}

	var res *upload.Result
	found, err := false, error(nil)
	if job.Resume == nil {
		res, found, err = r.up.Match(ctx, job)
		if found {
			r.logf("%s: s3://%s/%s already holds this file; registering it without uploading", j.in.Path, res.Bucket, res.Key)
			prog.Transferred(res.Size)
		}
	}
	if err == nil && !found {
		res, err = r.up.Upload(ctx, job)
		if errors.Is(err, upload.ErrUploadGone) {
			r.notef("%s: %v (aborted by a bucket lifecycle rule or by hand); starting afresh", j.in.Path, err)
			job.Resume = nil
			res, err = r.up.Upload(ctx, job)
		}
	}
	if jr != nil {
		if ferr := jr.flush(); ferr != nil {
			r.notef("%s: could not write the upload journal: %v", j.in.Path, ferr)
		}
	}
	if err != nil {
		var me *upload.MultipartError
		if errors.As(err, &me) && !me.Aborted && me.AbortErr == nil {
			return fail(withHint(r.explainS3(err), "the upload is kept: run the same command again to resume it: "+resumeCommand(r.o.Global.Args)))
		}
		if jr != nil {
			_ = r.journal.Delete(jr.id)
		}
		return fail(r.explainS3(err))
	}
	rec = r.registered(ctx, j, rec, res)
	if rec.err == nil && jr != nil {
		if err := r.journal.Delete(jr.id); err != nil {
			r.notef("%s: %v", j.in.Path, err)
		}
	}
	rec.Duration = r.o.Now().Sub(start).Seconds()
	return rec
}

// finish runs an upload that keeps no journal and registers its result.
func (r *uploadRun) finish(ctx context.Context, j *fileJob, rec *fileRecord, start time.Time, send func() (*upload.Result, error)) *fileRecord {
	res, err := send()
	if err != nil {
		rec.Status, rec.err = "failed", r.explainS3(err)
	} else {
		rec = r.registered(ctx, j, rec, res)
	}
	rec.Duration = r.o.Now().Sub(start).Seconds()
	return rec
}

// registered registers a verified object and fills in the record.
func (r *uploadRun) registered(ctx context.Context, j *fileJob, rec *fileRecord, res *upload.Result) *fileRecord {
	rec.Uploaded = !res.Reused
	rec.Size, rec.SHA256, rec.Parts, rec.PartSize = res.Size, res.SHA256, res.Parts, res.PartSize
	status, err := r.register(ctx, j, res)
	if err != nil {
		rec.Status = "failed"
		rec.err = withHint(fmt.Errorf("uploaded to s3://%s/%s, but registering it in CKAN failed: %w", res.Bucket, res.Key, err),
			"the object is in place: re-run the same command to register it without uploading again")
		return rec
	}
	rec.Status = status
	return rec
}

func (r *uploadRun) objectMetadata(j *fileJob) map[string]string {
	return map[string]string{
		"ckan-site":        r.client.SiteURL(),
		"ckan-dataset-id":  r.dataset.ID,
		"ckan-resource-id": j.resourceID,
		"ckan-user":        r.user.Name,
	}
}

// sameAsResource says whether the resource already describes exactly this file:
// same size and the same "sha256:" hash. The file is hashed only when the sizes agree.
func sameAsResource(path string, res *ckan.Resource) (string, bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false, err
	}
	want, isSHA := strings.CutPrefix(res.Hash, "sha256:")
	if res.Size == nil || *res.Size != fi.Size() || !isSHA {
		return "", false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", false, fmt.Errorf("hash %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return sum, strings.EqualFold(sum, want), nil
}

// register creates or updates the resource. Registrations into a dataset are
// serialised: CKAN before 2.9.6 lost resources created concurrently.
func (r *uploadRun) register(ctx context.Context, j *fileJob, res *upload.Result) (string, error) {
	fields := map[string]any{
		"name":          j.in.Name,
		"url":           j.url,
		"format":        j.format,
		"mimetype":      j.mimetype,
		"size":          res.Size,
		"hash":          "sha256:" + res.SHA256,
		"last_modified": r.o.Now().UTC().Format("2006-01-02T15:04:05"),
		"s3_bucket":     res.Bucket,
		"s3_key":        res.Key,
	}
	if r.o.Desc != "" {
		fields["description"] = r.o.Desc
	}
	fields["id"] = j.resourceID
	r.regMu.Lock()
	defer r.regMu.Unlock()
	if j.existing {
		if _, err := r.client.ResourcePatch(ctx, fields); err != nil {
			return "", fmt.Errorf("resource_patch %s: %w", j.resourceID, err)
		}
		return "updated", nil
	}
	fields["package_id"] = r.dataset.ID
	if _, err := r.client.ResourceCreate(ctx, fields); err != nil {
		return "", fmt.Errorf("resource_create %s: %w", j.resourceID, err)
	}
	return "created", nil
}

// explainS3 adds what to do to the S3 errors a person can fix.
func (r *uploadRun) explainS3(err error) error {
	switch {
	case upload.APICode(err) == "NoSuchBucket":
		return withHint(err, fmt.Sprintf("bucket %q does not exist there: check --bucket / CKANUP_BUCKET and the region or endpoint", r.target.Bucket))
	case upload.IsAccessDenied(err):
		return withHint(err, fmt.Sprintf("the AWS credentials were refused for s3://%s/%s: check them, their permissions and the bucket policy", r.target.Bucket, r.target.KeyPrefix))
	case errors.Is(err, upload.ErrSourceChanged):
		return withHint(err, "nothing was registered; upload the file again once it is no longer being written")
	}
	return err
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
