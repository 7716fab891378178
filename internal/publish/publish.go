// Package publish is ckanup's publishing flow for one dataset: it decides which
// resource each file becomes and where its object goes, whether the file can be
// skipped, matched to an object already in S3, or resumed from an interrupted
// multipart upload, sends it with the upload engine, and registers the verified
// object as a CKAN resource. It also lists and aborts the multipart uploads a
// run left behind.
//
// The command line (cmd/ckanup) gives it options and an Events sink for the
// display; this package never prints. The shape follows restic's
// internal/archiver under cmd/restic/cmd_backup.go.
package publish

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/fileformat"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/scope"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/google/uuid"
)

// resourceNamespace derives stable resource ids from (site, dataset, name), so a
// re-run after a failed registration finds the object it already uploaded.
var resourceNamespace = uuid.MustParse("6f1d7a52-3c5e-4c1e-9a57-2b8f0e3d4c61")

// StdinPath is the File.Path of standard input.
const StdinPath = "-"

// Statuses of a Record.
const (
	StatusCreated = "created"
	StatusUpdated = "updated"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
	// StatusInterrupted is a file the run's cancellation (Ctrl-C, SIGTERM)
	// stopped; its Err is an *InterruptedError.
	StatusInterrupted = "interrupted"
	StatusPlanned     = "planned"
)

// CKAN is the part of the CKAN client the flow calls; *ckan.Client satisfies it.
type CKAN interface {
	SiteURL() string
	// ResourceCreateFields and ResourcePatchFields register one file;
	// PackageRevise many at once (CKAN ≥ 2.9).
	ResourceCreateFields(ctx context.Context, f ckan.ResourceFields) (*ckan.Resource, error)
	ResourcePatchFields(ctx context.Context, f ckan.ResourceFields) (*ckan.Resource, error)
	PackageRevise(ctx context.Context, rev ckan.Revision) (*ckan.Dataset, error)
	// ResourceShow tells whether an id is free before a resource is created
	// with it; PackageShow reads the dataset back after a failed batch.
	ResourceShow(ctx context.Context, id string) (*ckan.Resource, error)
	PackageShow(ctx context.Context, id string) (*ckan.Dataset, error)
}

// Events hears what a run does, for the display. Calls may come from several
// goroutines.
type Events interface {
	// Track starts following one file of size bytes (-1: unknown, standard
	// input); Finish is called on what it returns once the file's outcome is
	// known.
	Track(name string, size int64) Progress
	// Notef reports something the person should know (a resumed upload, an
	// upload found gone, a journal that could not be written).
	Notef(format string, a ...any)
	// Logf reports a step, shown with --verbose.
	Logf(format string, a ...any)
}

// Progress follows one file: the engine's Observer, plus its end.
type Progress interface {
	upload.Observer
	// Finish marks the file's end with one of the Status* values.
	Finish(status string)
}

// File is one local file (or standard input) to publish.
type File struct {
	Path string // as found on disk; StdinPath for standard input
	Name string // the resource name
	Size int64  // bytes; -1 for standard input
	// Description, Format and Mimetype, when set, are this file's resource
	// fields, over Options.Description and Format and the guess from the
	// file name (a data package descriptor gives them per resource).
	Description, Format, Mimetype string
	// ObjectName is the last element of the object key; default Name. A data
	// package resource named "readings" keeps its file's "readings.csv".
	ObjectName string
}

// Options configure a Publisher for one dataset. Zero values mean the
// documented defaults.
type Options struct {
	CKAN    CKAN
	Dataset *ckan.Dataset
	// User is the CKAN user name, recorded in the object's metadata.
	User string
	// Target is the bucket and the dataset's key prefix (Target.DatasetPrefix).
	Target creds.Target
	// S3 is the client the engine uses; AbortMultipartUpload is called on it
	// when an interrupted upload no longer fits its file.
	S3       upload.API
	Uploader *upload.Uploader
	// Journal records multipart uploads so a later run resumes them; nil keeps
	// none. JournalDir is named in messages.
	Journal    *journal.Store
	JournalDir string
	// FindUploads lists the open multipart uploads whose key begins with key
	// (StoreUploads, or the token endpoint's listing), so that an upload
	// interrupted on a machine whose journal is gone is resumed from S3 alone.
	// nil: only the journal is consulted.
	FindUploads func(ctx context.Context, key string) ([]OpenUpload, error)
	// ObjectURL is the URL registered on the resource for an object key.
	ObjectURL func(key string) string

	// Description and Format set those resource fields (Format: default from
	// the file name's extension).
	Description, Format string
	// ResourceID names the existing resource to update (one file only).
	ResourceID string
	// Force sends the file even when the resource already describes it.
	Force bool
	// Args are the command line, repeated in "run it again" messages.
	Args []string
	// FilesInFlight bounds the files sent at once (the engine's request pool
	// bounds requests). Default 4.
	FilesInFlight int
	// Stdin is read for File.Path StdinPath.
	Stdin io.Reader
	// BatchSize is the most files Run registers in one package_revise call;
	// 1 registers each file on its own. Default DefaultBatchSize. A call
	// refused as too large (HTTP 413, a proxy's body limit) is split in two.
	BatchSize int
	// BatchWait is the shortest time a verified file waits for others before
	// Run registers it (see Run for the longer waits). Default 5 s.
	BatchWait time.Duration
	// After is the timer behind BatchWait. Default time.After.
	After func(time.Duration) <-chan time.Time
	// Now is the clock. Default time.Now.
	Now    func() time.Time
	Events Events
}

// DefaultBatchSize is the most files registered in one package_revise call
// by default: about 600 KB of JSON, under the 1 MB body limit of nginx's
// default client_max_body_size; a smaller limit is found by splitting.
const DefaultBatchSize = 1000

// Publisher publishes files into one dataset.
type Publisher struct {
	o     Options
	regMu sync.Mutex // registrations into the dataset, one at a time
	// noRevise is set once the portal has refused package_revise.
	noRevise atomic.Bool
	// batchSize is the most files in one call: BatchSize, halved by a call
	// refused as too large.
	batchSize atomic.Int64
	// byName finds the dataset's first live resource of a name (built once:
	// reading every resource for every file was quadratic).
	byName     map[string]int
	byNameOnce sync.Once
}

// New returns a Publisher for o.
func New(o Options) *Publisher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FilesInFlight <= 0 {
		o.FilesInFlight = 4
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 5 * time.Second
	}
	if o.Events == nil {
		o.Events = nopEvents{}
	}
	p := &Publisher{o: o}
	p.batchSize.Store(int64(o.BatchSize))
	return p
}

// Item is one planned file: the resource it becomes and the object it goes to.
// Run holds an Item for every file not yet started (Each plans each file as
// it is taken): it is kept small.
type Item struct {
	// File is the file with its Description, Format and Mimetype resolved to
	// the resource fields registered: the file's own, else Options' (Format,
	// Description), else the guess from the file name (fileformat.Of).
	// Description "" sends none.
	File       File
	ResourceID string
	// Resource is the dataset's resource this file updates; nil when a new
	// resource is created.
	Resource *ckan.Resource
	Plan     upload.Plan
	// prefix is the dataset's key prefix (shared by every item), for Key.
	prefix string
}

// Key is the item's object key, <dataset prefix><resource id>/<object name>
// (scope.ObjectKey), checked against S3's limit when the item was planned.
// Neither the key nor the object URL is kept with the item: of 10,000 planned
// items, the key was a fifth of the memory and the URL a sixth. Each call
// builds the key again.
func (it *Item) Key() string {
	key, _ := scope.ObjectKey(it.prefix, it.ResourceID, it.File.objectName())
	return key
}

// objectName is the last element of the object key: ObjectName, else Name.
func (f File) objectName() string {
	if f.ObjectName != "" {
		return f.ObjectName
	}
	return f.Name
}

// objectURL is the URL registered on the item's resource: Options.ObjectURL of
// its key.
func (p *Publisher) objectURL(it *Item) string { return p.o.ObjectURL(it.Key()) }

// Existing reports whether the item updates a resource the dataset holds.
func (it *Item) Existing() bool { return it.Resource != nil }

// Record is one file's outcome, printed as a text line or a JSON object.
type Record struct {
	Type       string `json:"type"` // always "file"
	File       string `json:"file"`
	Dataset    string `json:"dataset"`
	ResourceID string `json:"resource_id"`
	URL        string `json:"url,omitempty"`
	Bucket     string `json:"bucket"`
	Key        string `json:"key"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256,omitempty"`
	Parts      int    `json:"parts"`
	PartSize   int64  `json:"part_size"`
	Status     string `json:"status"` // created, updated, skipped, failed, interrupted, planned
	// Reason says why an existing resource's file was skipped, or sent or
	// registered again.
	Reason   string  `json:"reason,omitempty"`
	Uploaded bool    `json:"uploaded"`
	Error    string  `json:"error,omitempty"`
	Duration float64 `json:"duration_s"`
	Checksum string  `json:"checksum,omitempty"` // crc32c, crc64nvme, md5 or off: how the requests were protected

	// Name is the resource name; Err the failure behind Status "failed" or
	// "interrupted".
	Name string `json:"-"`
	Err  error  `json:"-"`
}

// Plan decides, for each file, the resource it becomes and the object key.
// The resource is the one named by Options.ResourceID, else the dataset's live
// resource of the same name, else a new one whose id is derived from the site,
// dataset and name. Errors are failure.Usage errors naming the file.
func (p *Publisher) Plan(files []File) ([]*Item, error) {
	items := make([]*Item, len(files))
	for i, f := range files {
		it, err := p.plan(f)
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	return items, nil
}

func (p *Publisher) plan(f File) (*Item, error) {
	d := p.o.Dataset
	it := &Item{File: f}
	switch {
	case p.o.ResourceID != "":
		for i, res := range d.Resources {
			if res.ID == p.o.ResourceID {
				it.ResourceID, it.Resource = res.ID, &d.Resources[i]
			}
		}
		if it.Resource == nil {
			return nil, failure.Wrap(failure.NotFound, fmt.Errorf("resource %s is not in dataset %s", p.o.ResourceID, d.Name))
		}
	default:
		p.byNameOnce.Do(func() {
			p.byName = make(map[string]int, len(d.Resources))
			for i, res := range d.Resources {
				if _, seen := p.byName[res.Name]; !seen && res.State != "deleted" {
					p.byName[res.Name] = i
				}
			}
		})
		if i, ok := p.byName[f.Name]; ok {
			it.ResourceID, it.Resource = d.Resources[i].ID, &d.Resources[i]
		}
		if it.Resource == nil {
			it.ResourceID = DerivedResourceID(p.o.CKAN.SiteURL(), d.ID, f.Name)
		}
	}
	if _, err := scope.ObjectKey(p.o.Target.DatasetPrefix, it.ResourceID, f.objectName()); err != nil {
		return nil, failure.Wrap(failure.Usage, fmt.Errorf("%s: %w: use a shorter --name or a shallower directory", f.Path, err))
	}
	it.prefix = p.o.Target.DatasetPrefix
	format, mimetype := fileformat.Of(f.Name)
	if p.o.Format != "" {
		format = p.o.Format
	}
	it.File.Format = cmp.Or(f.Format, format)
	it.File.Mimetype = cmp.Or(f.Mimetype, mimetype)
	it.File.Description = cmp.Or(f.Description, p.o.Description)
	if f.Path == StdinPath {
		it.Plan = upload.Plan{Size: -1, PartSize: p.o.Uploader.PartSize(), Parts: -1, Multipart: true}
		return it, nil
	}
	plan, err := p.o.Uploader.Plan(f.Size)
	if err != nil {
		return nil, failure.Wrap(failure.Usage, fmt.Errorf("%s: %w", f.Path, err))
	}
	it.Plan = plan
	return it, nil
}

// DerivedResourceID is the stable id of a new resource: a UUIDv5 of the site,
// the dataset id and the resource name, so that a re-run finds the object an
// earlier run uploaded under it.
func DerivedResourceID(site, datasetID, name string) string {
	return uuid.NewSHA1(resourceNamespace, []byte(site+"\n"+datasetID+"\n"+name)).String()
}

// Record returns the record of an item before anything happened to it.
func (p *Publisher) Record(it *Item) *Record {
	rec := p.unplacedRecord(it)
	rec.Key, rec.URL = it.Key(), p.objectURL(it)
	return rec
}

// unplacedRecord is Record without the object's key and URL.
func (p *Publisher) unplacedRecord(it *Item) *Record {
	return &Record{Type: "file", File: it.File.Path, Dataset: p.o.Dataset.Name, ResourceID: it.ResourceID,
		Bucket: p.o.Target.Bucket, Size: it.File.Size, Parts: it.Plan.Parts, PartSize: it.Plan.PartSize, Name: it.File.Name}
}

// Run publishes the items, FilesInFlight at a time, sharing the engine's request
// pool, and calls done with each record as soon as its file has finished
// (from one goroutine at a time). It returns every record, in the order they
// finished. Files start in the order of items. When ctx is cancelled, files
// not yet started fail with ctx's error.
//
// FilesInFlight workers take the items in turn, so memory does not grow with
// the number of files waiting (a goroutine per file held 10,000 stacks for
// 10,000 files).
//
// Verified files are registered in package_revise calls while the others
// upload, one call at a time. CKAN (2.9–2.11) validates and saves the whole
// dataset on every call, so a call costs time in proportion to the resources
// the dataset holds, however few it adds; ckanup therefore makes few calls,
// each adding every file waiting. When no call is running, the files waiting
// go to CKAN when
//   - no file is still uploading (the end of the run, or an interruption),
//   - BatchSize files wait, or
//   - the first of them has waited BatchWait, or twice as long as the last
//     call took when that is longer: calls then take at most about a third of
//     the run, and their number stays small as the dataset grows.
//
// So an interrupted run loses at most the registrations waiting, whose objects
// a re-run finds in place and registers without uploading them again.
func (p *Publisher) Run(ctx context.Context, items []*Item, done func(*Record)) []*Record {
	var all []*Record
	p.run(ctx, len(items), func(i int) (*Item, *Record) { return items[i], nil }, func(rec *Record) {
		all = append(all, rec)
		if done != nil {
			done(rec)
		}
	})
	return all
}

// Check plans n files as Plan does, file(i) giving the i-th, and keeps
// nothing: Plan's errors, before anything is sent, for Each.
func (p *Publisher) Check(n int, file func(i int) File) error {
	for i := range n {
		if _, err := p.plan(file(i)); err != nil {
			return err
		}
	}
	return nil
}

// Each publishes n files as Run does the items of Plan, calling done with
// each record as its file finishes, and keeps nothing of a file once done
// has returned. file(i) gives the i-th file when a worker takes it (in order,
// once), and the file is planned then (call Check first: a file Plan refuses
// fails here, alone). So memory does not grow with the number of files
// waiting: of 10,000 files, the planned items were 40 % of the live heap at
// its peak, and a slice of all 10,000 Files a fifth.
func (p *Publisher) Each(ctx context.Context, n int, file func(i int) File, done func(*Record)) {
	p.run(ctx, n, func(i int) (*Item, *Record) {
		f := file(i)
		it, err := p.plan(f)
		if err != nil {
			return nil, &Record{Type: "file", File: f.Path, Name: f.Name, Dataset: p.o.Dataset.Name, Size: f.Size, Status: StatusFailed, Err: err}
		}
		return it, nil
	}, done)
}

// run publishes n files; take(i) gives the i-th item, in order, once, or the
// record of a file that could not be planned.
func (p *Publisher) run(ctx context.Context, n int, take func(i int) (*Item, *Record), done func(*Record)) {
	results := make(chan *Record)
	ready := make(chan *staged)
	next := make(chan *Item)
	var wg sync.WaitGroup
	for range min(p.o.FilesInFlight, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				st, rec := p.stage(ctx, it)
				if st == nil {
					results <- rec
					continue
				}
				ready <- st // batches takes it at once, also while a call runs
			}
		}()
	}
	go func() {
		// The workers end once next is closed, after the records of the
		// files never started are sent: results stays open until then.
		defer close(next)
		for i := range n {
			it, failed := take(i)
			if failed != nil {
				results <- failed
				continue
			}
			if ctx.Err() == nil {
				select {
				case next <- it:
					continue
				case <-ctx.Done():
				}
			}
			rec := p.Record(it)
			rec.Status, rec.Err = StatusFailed, ctx.Err()
			if errors.Is(rec.Err, context.Canceled) {
				rec.Status, rec.Err = StatusInterrupted, interrupted(rec.Err, false)
			}
			results <- rec
		}
	}()
	go func() { wg.Wait(); close(ready) }()
	go func() {
		defer close(results)
		p.batches(ctx, ready, results, p.registerAll)
	}()
	for rec := range results {
		if rec.Err != nil {
			rec.Error = rec.Err.Error()
		}
		done(rec)
	}
}

// batches registers the staged files from ready (see Run) and sends their
// records to results, registering each batch with register (registerAll).
// It returns once every file is registered or failed.
func (p *Publisher) batches(ctx context.Context, ready <-chan *staged, results chan<- *Record, register func(context.Context, []*staged)) {
	// Registration outlives a cancelled run for the files already in place,
	// so that an interruption loses as little as possible.
	regCtx := context.WithoutCancel(ctx)
	var (
		pending  []*staged
		closed   bool // ready is drained: no file is still uploading
		inFlight bool
		wait     = p.o.BatchWait
		finished = make(chan time.Duration)
	)
	for {
		size := int(p.batchSize.Load())
		due := len(pending) > 0 && (closed || len(pending) >= size || !p.o.Now().Before(pending[0].verified.Add(wait)))
		if !inFlight && due {
			n := min(len(pending), size)
			batch := pending[:n:n]
			pending = append([]*staged(nil), pending[n:]...)
			inFlight = true
			go func() {
				start := p.o.Now()
				register(regCtx, batch)
				for _, st := range batch {
					results <- st.rec
				}
				finished <- p.o.Now().Sub(start)
			}()
			continue
		}
		if closed && !inFlight && len(pending) == 0 {
			return
		}
		var timer <-chan time.Time
		if !inFlight && len(pending) > 0 && !closed {
			timer = p.o.After(pending[0].verified.Add(wait).Sub(p.o.Now()))
		}
		in := ready
		if closed {
			in = nil
		}
		select {
		case st, ok := <-in:
			if !ok {
				closed = true
				continue
			}
			st.verified = p.o.Now()
			pending = append(pending, st)
		case took := <-finished:
			inFlight = false
			wait = max(p.o.BatchWait, 2*took)
		case <-timer:
		}
	}
}

type nopEvents struct{}

func (nopEvents) Track(string, int64) Progress { return nopProgress{} }
func (nopEvents) Notef(string, ...any)         {}
func (nopEvents) Logf(string, ...any)          {}

type nopProgress struct{ upload.NopObserver }

func (nopProgress) Finish(string) {}

// errorsAsMultipart reports err's *upload.MultipartError, if any.
func errorsAsMultipart(err error) (*upload.MultipartError, bool) {
	var me *upload.MultipartError
	ok := errors.As(err, &me)
	return me, ok
}
