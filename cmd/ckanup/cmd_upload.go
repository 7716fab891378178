package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/fileset"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/publish"
	"github.com/ckanup/ckanup/internal/s3client"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/spf13/cobra"
)

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

	PartSize    string
	Concurrency int
	// ConcurrencyAuto is --concurrency auto: the pool starts at Concurrency
	// and adapts (upload.Options.AdaptiveConcurrency).
	ConcurrencyAuto bool
	Retries         int
	RetryMaxTime    time.Duration
	RequestTimeout  time.Duration

	Output   string
	Progress bool
	DryRun   bool
	NoResume bool
	Force    bool
	// RegisterBatch is the most files registered in one CKAN call (hidden
	// --register-batch; 1: one resource_create/patch per file).
	RegisterBatch int
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

Re-running the same command is safe: a file is skipped only when its resource
already points at the object this run would write (same URL, bucket and key)
and that object holds the file (size and checksum); otherwise it is sent or
registered again, and --verbose says why. An interrupted upload (Ctrl-C, a
crash, a lost connection) resumes, sending only the parts S3 lacks; an object
uploaded but not registered is registered without being sent again.

ckanup writes only to the resource named: --resource-id, the dataset's
resource of the same name, or a new resource whose id no resource on the site
holds (a renamed or moved resource is never taken over). It sets url_type to
"" so CKAN serves the object's URL, reads every registration back, and does not
repoint a resource backed by the DataStore or another extension. Many files are
registered in one package_revise call (CKAN 2.9 and later), one at a time
where that is missing.

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
			if err := o.applySettings(cmd); err != nil {
				return err
			}
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
	registerFilterFlags(cmd, &o.Filter)
	o.registerTransferFlags(cmd)
	f.BoolVar(&o.DryRun, "dry-run", false, "check the dataset and rights, print the plan, upload nothing")
	return cmd
}

// registerTransferFlags adds the flags upload and publish share: the S3
// target and credentials, the transfer, the output.
func (o *UploadOptions) registerTransferFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	o.S3.register(cmd)
	f.StringVar(&o.TokenURL, "token-url", "", "ckanup token endpoint giving dataset-scoped credentials and the target (env CKANUP_TOKEN_URL, else the login profile)")
	f.StringVar(&o.RoleARN, "role-arn", "", "assume this IAM role with STS, scoped to the dataset's prefix (env CKANUP_ROLE_ARN)")
	f.DurationVar(&o.SessionDuration, "session-duration", time.Hour, "lifetime of credentials from --role-arn")
	f.StringVar(&o.PublicURLBase, "public-url-base", "", "public base URL of the objects (a CDN or custom domain) for the resource URL (env CKANUP_PUBLIC_URL_BASE, else the login profile)")
	f.StringVar(&o.PartSize, "part-size", "5MiB", "part size (5MiB–5GiB; grown when a file would need more than 10,000 parts; env CKANUP_PART_SIZE, else the login profile)")
	o.Concurrency = upload.DefaultConcurrency
	f.Var(concurrencyFlag{&o.Concurrency, &o.ConcurrencyAuto}, "concurrency", "requests in flight, shared by all files: 1 to 64, or auto to grow from 4 while throughput rises, up to 32, for high round-trip links (env CKANUP_CONCURRENCY, else the login profile)")
	f.IntVar(&o.Retries, "retries", 10, "attempts per request before giving up")
	f.DurationVar(&o.RetryMaxTime, "retry-max-time", 5*time.Minute, "longest time spent retrying one request")
	f.DurationVar(&o.RequestTimeout, "request-timeout", 0, "timeout of one request attempt (default: 1m, plus 1m per 8 MiB of part)")
	f.StringVarP(&o.Output, "output", "o", "text", "result format: text or json (one JSON object per file on stdout)")
	f.BoolVar(&o.Progress, "progress", false, "show progress on stderr in JSON mode too")
	f.BoolVar(&o.NoResume, "no-resume", false, "abort a failed or interrupted upload instead of keeping it to resume")
	f.BoolVar(&o.Force, "force", false, "upload even when the resource already has this file's size and SHA-256")
	f.IntVar(&o.RegisterBatch, "register-batch", publish.DefaultBatchSize, "most files registered in one package_revise call (1: one call per file)")
	_ = f.MarkHidden("register-batch")
}

// uploadRun is the state of one upload command: the wiring around the
// publishing flow, and what its display needs.
type uploadRun struct {
	o        *UploadOptions
	client   *ckan.Client
	settings *ckanSettings
	source   *creds.Source
	user     *ckan.User
	dataset  *ckan.Dataset
	target   creds.Target
	pub      *publish.Publisher
	up       *upload.Uploader
	disp     display
}

func (o *UploadOptions) validate() error {
	if o.Dataset == "" {
		return usageErrorf("--dataset is required (the dataset's name or id)")
	}
	return o.validateTransfer()
}

// validateTransfer checks the flags of registerTransferFlags.
func (o *UploadOptions) validateTransfer() error {
	if o.Output != "text" && o.Output != "json" {
		return usageErrorf("--output must be text or json, not %q", o.Output)
	}
	if o.Concurrency < 1 || o.Concurrency > upload.MaxConcurrency {
		return usageErrorf("--concurrency must be a whole number from 1 to %d, or %s", upload.MaxConcurrency, upload.ConcurrencyAuto)
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
	r := &uploadRun{o: o, settings: settings}
	if r.client, err = settings.client(o.Deps, o.Global); err != nil {
		return err
	}
	if r.user, err = whoAmI(ctx, r.client, settings); err != nil {
		return err
	}
	if r.dataset, err = r.resolveDataset(ctx); err != nil {
		return err
	}

	jr, err := openJournal(o.Deps)
	if err != nil {
		return err
	}
	if r.pub, err = r.publisher(ctx, partSize, jr); err != nil {
		return err
	}
	file := func(i int) publish.File {
		return publish.File{Path: files[i].Path, Name: files[i].Name, Size: files[i].Size}
	}
	if o.DryRun {
		pf := make([]publish.File, len(files))
		for i := range files {
			pf[i] = file(i)
		}
		items, err := r.pub.Plan(pf)
		if err != nil {
			return err
		}
		return r.printPlan(items)
	}
	if err := r.pub.Check(len(files), file); err != nil {
		return err
	}
	return r.uploadAll(ctx, files)
}

// uploadJournal is the journal store and its directory.
type uploadJournal struct {
	st  *journal.Store
	dir string
}

func openJournal(deps *Deps) (*uploadJournal, error) {
	dir, err := journal.Dir(deps.Getenv)
	if err != nil {
		return nil, err
	}
	st, err := journal.Open(dir)
	if err != nil {
		return nil, err
	}
	return &uploadJournal{st: st, dir: dir}, nil
}

// publisher resolves the credentials and target for r.dataset and returns the
// publishing flow for it.
func (r *uploadRun) publisher(ctx context.Context, partSize int64, jr *uploadJournal) (*publish.Publisher, error) {
	o := r.o
	api, err := r.s3(ctx)
	if err != nil {
		return nil, err
	}
	engine, err := o.S3.engineOptions(o.Deps, upload.Options{
		PartSize: partSize, Concurrency: o.Concurrency, MaxAttempts: o.Retries, MaxRetryTime: o.RetryMaxTime,
		RequestTimeout: o.RequestTimeout, KeepOnFailure: !o.NoResume,
		RefreshCredentials: r.source.Invalidate, SignedPayloads: s3client.SignsPayloads(r.target),
		AdaptiveConcurrency: o.ConcurrencyAuto, OnConcurrency: r.concurrencyChanged,
	}, r.notef)
	if err != nil {
		return nil, err
	}
	up := upload.New(api, engine)
	r.up = up
	filesInFlight := o.Concurrency
	if o.ConcurrencyAuto {
		// Small files take one request each: enough of them in flight to
		// fill the pool as far as it may grow.
		filesInFlight = upload.DefaultConcurrencyCeiling
	}
	return publish.New(publish.Options{
		CKAN: r.client, Dataset: r.dataset, User: r.user.Name, Target: r.target, S3: api, Uploader: up,
		FindUploads: r.findUploads(api),
		Journal:     jr.st, JournalDir: jr.dir,
		ObjectURL:   objectURLs(r.source.Config, r.target, o.PublicURLBase),
		Description: o.Desc, Format: o.Format, ResourceID: o.ResourceID, Force: o.Force,
		Args: o.Global.Args, FilesInFlight: filesInFlight, BatchSize: o.RegisterBatch, Stdin: o.Stdin, Now: o.Now, Events: uploadEvents{r, ctx},
	}), nil
}

// concurrencyChanged reports a decision of --concurrency auto with --verbose.
func (r *uploadRun) concurrencyChanged(ch upload.ConcurrencyChange) {
	rate := func(v float64) string { return upload.FormatSize(int64(v)) + "/s" }
	switch {
	case ch.Reason == upload.ReasonThrottled:
		r.logf("concurrency auto: %d → %d requests in flight: %s; it grows no more", ch.From, ch.To, ch.Reason)
	case ch.Reason == upload.ReasonCeiling:
		r.logf("concurrency auto: staying at %d requests in flight, the ceiling (%s)", ch.To, rate(ch.Rate))
	case ch.Reason == upload.ReasonFlat:
		r.logf("concurrency auto: %d → %d requests in flight, staying there: %s at %d is not 15%% above %s at %d", ch.From, ch.To, rate(ch.Rate), ch.From, rate(ch.Best), ch.To)
	case ch.Best == 0:
		r.logf("concurrency auto: %d → %d requests in flight (%s at %d)", ch.From, ch.To, rate(ch.Rate), ch.From)
	default:
		r.logf("concurrency auto: %d → %d requests in flight (%s at %d, up from %s)", ch.From, ch.To, rate(ch.Rate), ch.From, rate(ch.Best))
	}
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

// logf reports a step with --verbose. While files are sent it goes through
// the display, which serialises the writes of every goroutine.
func (r *uploadRun) logf(format string, a ...any) {
	if !r.o.Global.Verbose {
		return
	}
	if r.disp != nil {
		r.disp.logf(format, a...)
		return
	}
	fmt.Fprintf(r.o.Stderr, "ckanup: "+format+"\n", a...)
}

// resolveDataset finds the dataset and checks that the user may edit it.
func (r *uploadRun) resolveDataset(ctx context.Context) (*ckan.Dataset, error) {
	d, why, err := publish.EditableDataset(ctx, r.client, r.user, r.o.Dataset)
	if err != nil {
		return nil, err
	}
	r.logf("CKAN %s: user %s may edit dataset %s (%s)", r.client.SiteURL(), r.user.Name, d.Name, why)
	return d, nil
}

// s3 resolves the credentials and target and returns the S3 client.
func (r *uploadRun) s3(ctx context.Context) (*s3.Client, error) {
	src, err := r.credentials(ctx)
	if err != nil {
		return nil, err
	}
	r.source, r.target = src, src.Target
	r.logf("S3: bucket %s at %s, credentials from the %s", r.target.Bucket, where(r.target), src.Kind)
	return newS3Client(src), nil
}

func (r *uploadRun) onRefresh(expires time.Time) {
	r.logf("credentials refreshed, valid until %s", expires.Local().Format(time.RFC3339))
}

// credentials picks the source: a token endpoint, STS AssumeRole, or the AWS
// SDK chain, in that order (publish.Credentials).
func (r *uploadRun) credentials(ctx context.Context) (*creds.Source, error) {
	o := r.o
	tokenURL := r.settings.tokenEndpoint(o.TokenURL, o.Getenv)
	if set := o.S3.explicit(); tokenURL != "" && len(set) > 0 {
		return nil, usageErrorf("%s: the token endpoint decides the S3 target; drop these flags or --token-url", strings.Join(set, ", "))
	}
	return publish.Credentials(ctx, publish.CredentialsOptions{
		TokenURL: tokenURL, Token: r.settings.Token, HTTP: o.HTTPClient,
		Chain:   func(ctx context.Context) (*creds.Source, error) { return o.S3.source(ctx, o.Deps) },
		RoleARN: firstNonEmpty(o.RoleARN, o.Getenv("CKANUP_ROLE_ARN")), SessionDuration: o.SessionDuration,
		Site: r.client.SiteURL(), User: r.user.Name, Dataset: r.dataset, OnRefresh: r.onRefresh,
	})
}

func (r *uploadRun) printPlan(jobs []*publish.Item) error {
	if r.o.Output == "text" {
		fmt.Fprintf(r.o.Stdout, "Dry run: %d file(s) to dataset %s (%s) on %s as %s; nothing will be uploaded.\n",
			len(jobs), r.dataset.Name, r.dataset.ID, r.client.SiteURL(), r.user.Name)
	}
	for _, j := range jobs {
		rec := r.pub.Record(j)
		rec.Status = publish.StatusPlanned
		if r.o.Output == "json" {
			if err := json.NewEncoder(r.o.Stdout).Encode(rec); err != nil {
				return err
			}
			continue
		}
		action := "create resource"
		if j.Existing() {
			action = "update resource"
		}
		how := "1 request"
		switch {
		case j.Plan.Size < 0:
			how = fmt.Sprintf("streamed in parts of %s (at most %s)", upload.FormatSize(j.Plan.PartSize), upload.FormatSize(upload.MaxStreamSize(j.Plan.PartSize)))
		case j.Plan.Multipart:
			how = fmt.Sprintf("%d parts of %s", j.Plan.Parts, upload.FormatSize(j.Plan.PartSize))
		}
		size := "unknown size" // standard input
		if j.File.Size >= 0 {
			size = upload.FormatSize(j.File.Size)
		}
		fmt.Fprintf(r.o.Stdout, "  %s  %s  %s, %s  %s %s\n    → s3://%s/%s\n", j.File.Path, size, how,
			j.File.Format, action, j.ResourceID, r.target.Bucket, j.Key())
	}
	return printPlanSummary(r.o.Stdout, r.o.Output, len(jobs), r.o.Now())
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

// uploadAll publishes the files, printing each record as its file finishes,
// and decides the exit status. It lets go of each entry of files as the file
// is taken.
func (r *uploadRun) uploadAll(ctx context.Context, files []inputFile) error {
	r.disp = newDisplay(r.o.Stderr, r.displayMode(), r.o.Global.Verbose, 30*time.Second, r.o.Now)
	r.disp.begin(len(files), plannedBytes(files))
	sum := newSummary(r.o.Now())
	// Each keeps nothing of a finished file: the outcome is tallied here.
	var ended, failed, code int
	r.pub.Each(ctx, len(files), func(i int) publish.File {
		f := files[i]
		files[i] = inputFile{}
		return publish.File{Path: f.Path, Name: f.Name, Size: f.Size}
	}, func(rec *publish.Record) {
		r.disp.pause()
		r.printRecord(rec)
		sum.add(rec.Status)
		ended++
		if rec.Err == nil {
			return
		}
		switch c := exitCode(rec.Err); {
		case failed == 0:
			code = c
		case c != code:
			code = exitFailure
		}
		failed++
	})
	r.disp.close()
	sum.end(r.o.Now(), r.disp.bytesSent(), ctx.Err() != nil)
	if r.o.ConcurrencyAuto && r.up != nil {
		sum.Concurrency = r.up.Concurrency()
	}
	_ = sum.print(r.o.Stdout, r.o.Stderr, r.o.Output, r.o.Global.Quiet)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case failed == 0:
		return nil
	case failed < ended:
		return &exitError{code: exitPartial, err: fmt.Errorf("%d of %d files failed", failed, ended)}
	}
	return &exitError{code: code}
}

// errorf prints an error line on stderr, through the display while there is
// one (other goroutines write their status lines through it too).
func (r *uploadRun) errorf(format string, a ...any) {
	if r.disp != nil {
		r.disp.logf(format, a...)
		return
	}
	fmt.Fprintf(r.o.Stderr, "ckanup: "+format+"\n", a...)
}

func (r *uploadRun) printRecord(rec *publish.Record) {
	if rec.Status == publish.StatusInterrupted {
		r.errorf("%s: %v", rec.File, rec.Err) // the message says it was interrupted: not an error of the file
	} else if rec.Err != nil {
		r.errorf("error: %s: %v", rec.File, rec.Err)
	}
	if rec.Err != nil {
		if h := hint.Of(rec.Err); h != "" {
			r.errorf("%s", h)
		}
	}
	if r.o.Output == "json" {
		_ = json.NewEncoder(r.o.Stdout).Encode(rec)
		return
	}
	if rec.Err != nil {
		fmt.Fprintf(r.o.Stdout, "%-8s %s\n", rec.Status, rec.File) // failed or interrupted
		return
	}
	if rec.Status == "skipped" {
		fmt.Fprintf(r.o.Stdout, "skipped  %s: %s; sha256 %s\n", rec.File, rec.Reason, rec.SHA256)
		return
	}
	how := "uploaded"
	if !rec.Uploaded {
		how = "already in S3"
	}
	fmt.Fprintf(r.o.Stdout, "%-8s %s → %s resource %s (%s, %s, sha256 %s) %s\n", rec.Status, rec.File, rec.Dataset,
		rec.ResourceID, upload.FormatSize(rec.Size), how, rec.SHA256, rec.URL)
}

// findUploads lists the open multipart uploads of an object key: through the
// token endpoint when there is one (its credentials cannot list the bucket),
// else with ListMultipartUploads.
func (r *uploadRun) findUploads(client *s3.Client) func(context.Context, string) ([]publish.OpenUpload, error) {
	if tokenURL := r.settings.tokenEndpoint(r.o.TokenURL, r.o.Getenv); tokenURL != "" {
		return func(ctx context.Context, _ string) ([]publish.OpenUpload, error) {
			return endpointUploads(ctx, tokenURL, r.settings.Token, r.dataset.ID, r.o.HTTPClient)
		}
	}
	return func(ctx context.Context, key string) ([]publish.OpenUpload, error) {
		return publish.StoreUploads(ctx, client, r.target.Bucket, key)
	}
}

// uploadEvents passes the publishing flow's events to the display.
type uploadEvents struct {
	r   *uploadRun
	ctx context.Context // a file failed after its cancellation was interrupted
}

func (e uploadEvents) Track(name string, size int64) publish.Progress {
	return trackedFile{e.r.disp.track(name, size), e.ctx}
}
func (e uploadEvents) Notef(format string, a ...any) { e.r.notef(format, a...) }
func (e uploadEvents) Logf(format string, a ...any)  { e.r.logf(format, a...) }

type trackedFile struct {
	*fileProgress
	ctx context.Context
}

func (t trackedFile) Finish(status string) { t.finish(endStatus(t.ctx, status)) }

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// concurrencyFlag is --concurrency: a whole number, or auto (see
// upload.ParseConcurrency).
type concurrencyFlag struct {
	n    *int
	auto *bool
}

func (f concurrencyFlag) String() string {
	if f.auto != nil && *f.auto {
		return upload.ConcurrencyAuto
	}
	if f.n == nil {
		return ""
	}
	return strconv.Itoa(*f.n)
}

func (f concurrencyFlag) Set(v string) error {
	n, auto, err := upload.ParseConcurrency(v)
	if err != nil {
		return err
	}
	*f.n, *f.auto = n, auto
	return nil
}

func (f concurrencyFlag) Type() string { return "int|auto" }
