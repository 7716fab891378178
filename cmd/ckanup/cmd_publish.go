package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/catalog"
	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/datapackage"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/publish"
	"github.com/ckanup/ckanup/internal/shard"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/spf13/cobra"
)

// PublishOptions are the publish command's flags and dependencies; the
// transfer flags are upload's.
type PublishOptions struct {
	UploadOptions
	Org        string
	Plan       bool
	Prune      bool
	WriteBack  bool
	Shard      string
	ShardCount int
}

func newPublishCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	o := &PublishOptions{UploadOptions: UploadOptions{Deps: deps, Global: g}}
	cmd := &cobra.Command{
		Use:   "publish DATAPACKAGE...",
		Short: "Publish Frictionless data packages as CKAN datasets",
		Long: `Publish each data package — a datapackage.json descriptor, or a directory
holding one — as a CKAN dataset: the dataset named by the descriptor's name is
created in --org when missing, otherwise the metadata fields the descriptor
sets (title, description → notes, licenses[0].name → license_id, keywords →
tags) are updated with package_patch, leaving every other field alone.

Each resource with a local path goes through the same flow as 'ckanup upload'
(parallel checksummed parts, skip, resume, journal) and is registered under
the descriptor's resource name (else its file name), with its description,
format and mediatype; a resource whose path is an http(s) URL is registered as
a link. A second run changes nothing and sends nothing.

--plan prints what a run would do and changes nothing: the datasets to create
or update with the fields that change (old → new), the resources to create,
update or skip, and the resources CKAN holds that the descriptor no longer
lists, which are deleted only with --prune.

--shard I/N publishes only the datasets whose name hashes (FNV-1a) to I
modulo N, so N machines never write one dataset. In a Kubernetes Indexed Job
the index comes from JOB_COMPLETION_INDEX and the count from
CKANUP_SHARD_COUNT (or --shard-count); a CI matrix passes --shard or
CKANUP_SHARD. See docs/scale-out.md.

--write-back fills each local resource's bytes and hash ("sha256:…") into
its descriptor, keeping the rest of the file as it is.

CKAN and S3 settings are upload's: see 'ckanup upload --help'. The format of
the descriptor, by example: docs/publish.md.

` + exitCodesHelp,
		Example: `  ckanup publish air-quality --org demo-org --plan
  ckanup publish air-quality --org demo-org
  ckanup publish air-quality/datapackage.json --plan -o json
  ckanup publish air-quality --org demo-org --prune --write-back
  ckanup publish air-quality --org demo-org --shard 1/4`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("name at least one datapackage.json or directory holding one")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = args
			if err := o.applySettings(cmd); err != nil {
				return err
			}
			return runPublish(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Org, "org", "", "organization (name or id) to create missing datasets in")
	f.BoolVar(&o.Plan, "plan", false, "print what a run would do; change nothing")
	f.BoolVar(&o.Prune, "prune", false, "delete the resources a dataset holds that its descriptor no longer lists")
	f.BoolVar(&o.WriteBack, "write-back", false, "fill bytes and hash (sha256:…) of local resources into the descriptors")
	f.StringVar(&o.Shard, "shard", "", "publish only shard I of N (I/N, from 0), by a hash of the dataset name (env CKANUP_SHARD; JOB_COMPLETION_INDEX in a Kubernetes Indexed Job)")
	f.IntVar(&o.ShardCount, "shard-count", 0, "number of shards when the index comes from JOB_COMPLETION_INDEX (env CKANUP_SHARD_COUNT)")
	o.registerTransferFlags(cmd)
	return cmd
}

// publishRun is the state of one publish command.
type publishRun struct {
	o        *PublishOptions
	client   *ckan.Client
	settings *ckanSettings
	user     *ckan.User
	journal  *uploadJournal
	partSize int64
	disp     display
	sum      *summary // the files' outcomes over every data package
}

func runPublish(ctx context.Context, o *PublishOptions) error {
	if err := o.validateTransfer(); err != nil {
		return err
	}
	if o.Plan && o.WriteBack {
		return usageErrorf("--plan changes nothing, --write-back writes the descriptors: choose one")
	}
	partSize, err := upload.ParseSize(o.PartSize)
	if err != nil {
		return usageErrorf("--part-size: %v", err)
	}
	if _, err := upload.NewPlan(0, partSize); err != nil {
		return usageErrorf("--part-size: %v", err)
	}
	sh, from, err := shard.Resolve(o.Shard, o.ShardCount, o.Getenv)
	if err != nil {
		return &usageError{err}
	}
	pkgs, err := loadPackages(o.Paths)
	if err != nil {
		return err
	}
	var mine []*datapackage.Package
	for _, p := range pkgs {
		if sh.Owns(p.Name) {
			mine = append(mine, p)
		}
	}
	r := &publishRun{o: o, partSize: partSize}
	if from != "" {
		r.notef("shard %s (from %s): %d of %d dataset(s)", sh, from, len(mine), len(pkgs))
	}
	if len(mine) == 0 {
		return nil
	}

	if r.settings, err = resolveCKAN(o.Deps, o.Global); err != nil {
		return err
	}
	if r.client, err = r.settings.client(o.Deps, o.Global); err != nil {
		return err
	}
	if r.user, err = whoAmI(ctx, r.client, r.settings); err != nil {
		return err
	}
	if o.Plan {
		return r.plan(ctx, mine)
	}
	if r.journal, err = openJournal(o.Deps); err != nil {
		return err
	}
	return r.publishAll(ctx, mine)
}

// loadPackages reads every descriptor; two naming one dataset are refused.
func loadPackages(paths []string) ([]*datapackage.Package, error) {
	var pkgs []*datapackage.Package
	seen := map[string]string{}
	for _, arg := range paths {
		p, err := datapackage.Load(arg)
		var fe *datapackage.FieldError
		switch {
		case errors.As(err, &fe):
			return nil, &usageError{hint.With(err, "fix the descriptor; the format by example: docs/publish.md")}
		case errors.Is(err, fs.ErrNotExist):
			return nil, failure.Wrap(failure.NotFound, fmt.Errorf("data package %s: %w", arg, err))
		case err != nil:
			return nil, failure.Wrap(failure.Usage, fmt.Errorf("data package %s: %w", arg, err))
		}
		if other, dup := seen[p.Name]; dup {
			return nil, usageErrorf("%s and %s both describe dataset %q", other, p.File, p.Name)
		}
		seen[p.Name] = p.File
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func (r *publishRun) notef(format string, a ...any) {
	if r.o.Global.Quiet {
		return
	}
	if r.disp != nil {
		r.disp.logf(format, a...)
		return
	}
	fmt.Fprintf(r.o.Stderr, "ckanup: "+format+"\n", a...)
}

func (r *publishRun) catalogOptions() catalog.Options {
	return catalog.Options{Org: r.o.Org, Prune: r.o.Prune, Force: r.o.Force}
}

// planDataset plans one data package and checks the user may edit the dataset.
func (r *publishRun) planDataset(ctx context.Context, pkg *datapackage.Package) (*catalog.Plan, error) {
	co := r.catalogOptions()
	co.HashFiles = r.o.Plan
	p, err := catalog.PlanDataset(ctx, r.client, pkg, co)
	if err != nil {
		return nil, err
	}
	if d := p.Current; d != nil {
		if _, err := publish.CheckEditable(ctx, r.client, r.user, d); err != nil {
			return nil, err
		}
	} else if _, err := publish.CheckCanCreateIn(ctx, r.client, r.user, r.o.Org); err != nil {
		return nil, fmt.Errorf("%s: create dataset %s: %w", pkg.File, pkg.Name, err)
	}
	return p, nil
}

// plan prints what a run would do.
func (r *publishRun) plan(ctx context.Context, pkgs []*datapackage.Package) error {
	total := map[string]int{}
	for _, pkg := range pkgs {
		p, err := r.planDataset(ctx, pkg)
		if err != nil {
			return err
		}
		for k, v := range p.Counts() {
			total[k] += v
		}
		if r.o.Output == "json" {
			if err := json.NewEncoder(r.o.Stdout).Encode(p); err != nil {
				return err
			}
			continue
		}
		printPlan(r.o.Stdout, p)
	}
	if r.o.Output == "text" {
		fmt.Fprintf(r.o.Stdout, "Plan on %s as %s: datasets: %s; resources: %s; not in the descriptors: %s.\n",
			r.client.SiteURL(), r.user.Name,
			countsOf(total, "dataset ", catalog.Create, catalog.Update, catalog.Unchanged),
			countsOf(total, "resource ", catalog.Create, catalog.Update, catalog.Skip),
			countsOf(total, "unlisted ", catalog.Delete, catalog.Keep))
	}
	return nil
}

// countLabels words the plan's summary.
var countLabels = map[string]string{catalog.Create: "to create", catalog.Update: "to update", catalog.Unchanged: "unchanged",
	catalog.Skip: "unchanged", catalog.Delete: "to delete", catalog.Keep: "kept"}

func countsOf(n map[string]int, prefix string, actions ...string) string {
	var parts []string
	for _, a := range actions {
		parts = append(parts, fmt.Sprintf("%d %s", n[prefix+a], countLabels[a]))
	}
	return strings.Join(parts, ", ")
}

func printPlan(w io.Writer, p *catalog.Plan) {
	where := ""
	if p.Action == catalog.Create {
		where = " in organization " + p.Organization
	}
	fmt.Fprintf(w, "%s dataset %s%s (%s)\n", p.Action, p.Dataset, where, p.Descriptor)
	for _, ch := range p.Changes {
		fmt.Fprintf(w, "    %s: %s → %s\n", ch.Field, show(ch.Old), show(ch.New))
	}
	for _, rp := range append(p.Resources, p.Unlisted...) {
		what := rp.Kind + " " + rp.Source
		if rp.Kind == catalog.KindFile {
			what += " (" + upload.FormatSize(rp.Size) + ")"
		}
		note := ""
		switch rp.Action {
		case catalog.Keep:
			what, note = "not in the descriptor", " (deleted with --prune)"
		case catalog.Delete:
			what = "not in the descriptor"
		case catalog.Skip:
			note = " (already as described)"
		}
		fmt.Fprintf(w, "  %-7s resource %s: %s%s\n", rp.Action, rp.Name, what, note)
		for _, ch := range rp.Changes {
			fmt.Fprintf(w, "      %s: %s → %s\n", ch.Field, show(ch.Old), show(ch.New))
		}
	}
}

// show renders a field value in a plan: nil (a field not set yet) as "-".
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// datasetRecord is a dataset's line in JSON output.
type datasetRecord struct {
	Type    string           `json:"type"` // "dataset"
	Dataset string           `json:"dataset"`
	ID      string           `json:"id,omitempty"`
	Status  string           `json:"status"` // created, updated, unchanged, failed, interrupted
	Changes []catalog.Change `json:"changes,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// publishAll publishes each data package in turn and decides the exit status.
func (r *publishRun) publishAll(ctx context.Context, pkgs []*datapackage.Package) error {
	o := r.o
	r.disp = newDisplay(o.Stderr, (&uploadRun{o: &o.UploadOptions}).displayMode(), o.Global.Verbose, 30*time.Second, o.Now)
	r.sum = newSummary(o.Now())
	defer func() {
		r.disp.close()
		r.sum.end(o.Now(), r.disp.bytesSent(), ctx.Err() != nil)
		_ = r.sum.print(o.Stdout, o.Stderr, o.Output, o.Global.Quiet)
	}()
	var failed []error
	ok := 0
	for _, pkg := range pkgs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		counted := r.sum.datasets()
		n, err := r.publishOne(ctx, pkg)
		if err != nil && r.sum.datasets() == counted {
			r.sum.addDataset(failedOrInterrupted(err)) // failed before its dataset was reported
		}
		if err != nil {
			r.disp.logf("error: %v", err)
			if h := hint.Of(err); h != "" {
				r.disp.logf("%s", h)
			}
			failed = append(failed, err)
			continue
		}
		if n > 0 {
			failed = append(failed, &exitError{code: exitPartial, err: fmt.Errorf("%d resource(s) of %s failed", n, pkg.Name)})
			continue
		}
		ok++
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(failed) == 0 {
		return nil
	}
	// Some data packages done, or some resources done: partial. Otherwise the
	// failures' common exit code, else 1.
	code := exitCode(failed[0])
	for _, err := range failed[1:] {
		if exitCode(err) != code {
			code = exitFailure
		}
	}
	if ok > 0 || code == exitPartial {
		return &exitError{code: exitPartial, err: fmt.Errorf("%d of %d data package(s) not fully published; run the same command again to finish", len(failed), len(pkgs))}
	}
	if len(failed) == 1 {
		return &exitError{code: code} // its message is printed above
	}
	return &exitError{code: code, err: fmt.Errorf("%d of %d data package(s) failed", len(failed), len(pkgs))}
}

// failedOrInterrupted is the status of a dataset that err stopped:
// "interrupted" when err is the run's cancellation (Ctrl-C, SIGTERM).
func failedOrInterrupted(err error) string {
	if errors.Is(err, context.Canceled) {
		return publish.StatusInterrupted
	}
	return publish.StatusFailed
}

// publishOne plans and applies one data package; it returns the number of
// resources that failed, or the dataset-level error.
func (r *publishRun) publishOne(ctx context.Context, pkg *datapackage.Package) (int, error) {
	o := r.o
	p, err := r.planDataset(ctx, pkg)
	if err != nil {
		return 0, err
	}
	up := &uploadRun{o: &o.UploadOptions, client: r.client, settings: r.settings, user: r.user, disp: r.disp}
	res, err := catalog.Apply(ctx, r.client, p, catalog.ApplyOptions{
		Options: r.catalogOptions(),
		Files: func(ctx context.Context, d *ckan.Dataset) (*publish.Publisher, error) {
			up.dataset = d
			pub, err := up.publisher(ctx, r.partSize, r.journal)
			up.pub = pub
			return pub, err
		},
		OnDataset: func(d *ckan.Dataset, err error) {
			status := map[string]string{catalog.Create: "created", catalog.Update: "updated", catalog.Unchanged: "unchanged"}[p.Action]
			dr := datasetRecord{Type: "dataset", Dataset: p.Dataset, Status: status, Changes: p.Changes}
			if d != nil {
				dr.ID = d.ID
			}
			if err != nil {
				dr.Status, dr.Error = failedOrInterrupted(err), err.Error()
			}
			r.printDataset(dr)
			r.sum.addDataset(dr.Status)
		},
		OnRecord: func(rec *publish.Record) {
			r.disp.pause()
			up.printRecord(rec)
			r.sum.add(rec.Status)
		},
		OnOutcome: func(oc *catalog.Outcome) {
			r.disp.pause()
			r.printOutcome(oc)
		},
	})
	if err != nil {
		return 0, err
	}
	if o.WriteBack && len(res.Fills) > 0 {
		changed, werr := datapackage.WriteBack(pkg.File, res.Fills)
		switch {
		case werr != nil:
			return 0, fmt.Errorf("write bytes and hash into %s: %w", pkg.File, werr)
		case changed:
			r.notef("%s: wrote bytes and hash of %d resource(s)", pkg.File, len(res.Fills))
		}
	}
	return res.Failed, nil
}

func (r *publishRun) printDataset(dr datasetRecord) {
	if r.o.Output == "json" {
		_ = json.NewEncoder(r.o.Stdout).Encode(dr)
		return
	}
	var fields []string
	for _, ch := range dr.Changes {
		fields = append(fields, ch.Field)
	}
	sort.Strings(fields)
	detail := ""
	if len(fields) > 0 && dr.Status == "updated" {
		detail = " (" + strings.Join(fields, ", ") + ")"
	}
	fmt.Fprintf(r.o.Stdout, "%-8s dataset %s%s\n", dr.Status, dr.Dataset, detail)
}

func (r *publishRun) printOutcome(oc *catalog.Outcome) {
	if oc.Err != nil {
		r.disp.logf("error: %s: %v", oc.Name, oc.Err)
	}
	if r.o.Output == "json" {
		_ = json.NewEncoder(r.o.Stdout).Encode(oc)
		return
	}
	id := ""
	if oc.ResourceID != "" {
		id = " " + oc.ResourceID
	}
	fmt.Fprintf(r.o.Stdout, "%-8s %s resource %s%s of %s: %s\n", oc.Status, oc.Kind, oc.Name, id, oc.Dataset, oc.Source)
}
