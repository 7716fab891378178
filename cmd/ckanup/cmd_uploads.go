package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/publish"
	"github.com/ckanup/ckanup/internal/scope"
	"github.com/ckanup/ckanup/internal/upload"
	"github.com/spf13/cobra"
)

// UploadsOptions are the flags of `uploads list` and `uploads abort`.
type UploadsOptions struct {
	*Deps
	Global    *GlobalOptions
	S3        S3Flags
	TokenURL  string
	Dataset   string
	Output    string
	OlderThan time.Duration
	All       bool
	DryRun    bool
	IDs       []string
}

func newUploadsCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "uploads",
		Short: "List and abort multipart uploads in progress or abandoned",
		Long: `Multipart uploads that were interrupted and not resumed keep their parts in S3,
billed, until they are completed or aborted. 'ckanup uploads list' shows them —
from this machine's journal and from the bucket — and 'ckanup uploads abort'
removes them. See docs/cleanup.md for the bucket lifecycle rule that is the
server-side safety net.`,
	}
	cmd.AddCommand(newUploadsListCmd(deps, g), newUploadsAbortCmd(deps, g))
	return cmd
}

func newUploadsListCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	o := &UploadsOptions{Deps: deps, Global: g}
	cmd := &cobra.Command{
		Use:   "list [--dataset D]",
		Short: "List multipart uploads not completed",
		Long: `List the multipart uploads under the key prefix (of one dataset with --dataset):
key, start, parts and bytes in S3, and whether this machine can resume it.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, _, err := o.S3.resolve(cmd, o.Deps, o.Global); err != nil {
				return err
			}
			return runUploadsList(cmd.Context(), o)
		},
	}
	o.register(cmd)
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "text or json")
	return cmd
}

func (o *UploadsOptions) register(cmd *cobra.Command) {
	o.S3.register(cmd)
	cmd.Flags().StringVarP(&o.Dataset, "dataset", "d", "", "only the uploads of this dataset (name or id; required with a token endpoint)")
	cmd.Flags().StringVar(&o.TokenURL, "token-url", "", "list through this ckanup token endpoint (env CKANUP_TOKEN_URL, else the login profile)")
}

func newUploadsAbortCmd(deps *Deps, g *GlobalOptions) *cobra.Command {
	o := &UploadsOptions{Deps: deps, Global: g}
	cmd := &cobra.Command{
		Use:   "abort [UPLOAD_ID...] [--older-than 24h] [--all] [--dataset D]",
		Short: "Abort multipart uploads and drop their journal entries",
		Long: `Abort the multipart uploads named, or all those started more than --older-than
ago, or --all of them (under the key prefix, or of one dataset with --dataset),
and drop their journal entries. --dry-run shows what would go.

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if _, _, _, err := o.S3.resolve(cmd, o.Deps, o.Global); err != nil {
				return err
			}
			if len(o.IDs) == 0 && !o.All && o.OlderThan == 0 {
				return usageErrorf("name the uploads to abort, or pass --older-than DURATION or --all")
			}
			return runUploadsAbort(cmd.Context(), o)
		},
	}
	o.register(cmd)
	cmd.Flags().DurationVar(&o.OlderThan, "older-than", 0, "abort uploads started longer ago than this (e.g. 24h)")
	cmd.Flags().BoolVar(&o.All, "all", false, "abort every upload under the prefix")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "show what would be aborted")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "text or json")
	return cmd
}

// listUploads gathers the uploads under the prefix from the store (directly, or
// through the token endpoint) and from the journal.
func listUploads(ctx context.Context, o *UploadsOptions) (*s3.Client, *journal.Store, []*publish.UploadInfo, error) {
	client, target, open, err := o.storeUploads(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	dir, err := journal.Dir(o.Getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := journal.Open(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	list, err := publish.Uploads(ctx, client, publish.UploadsQuery{Bucket: target.Bucket, Endpoint: target.Endpoint,
		Prefix: target.DatasetPrefix, Open: open, Journal: st})
	return client, st, list, err
}

// storeUploads lists the open uploads in the bucket under the prefix (the
// dataset's with --dataset): through the token endpoint when there is one, with
// the server's permissions, else with ListMultipartUploads.
func (o *UploadsOptions) storeUploads(ctx context.Context) (*s3.Client, creds.Target, []publish.OpenUpload, error) {
	var dataset *ckan.Dataset
	// The CKAN settings are needed for --dataset and for a token endpoint; a
	// plain listing of the bucket works without them.
	settings, serr := resolveCKAN(o.Deps, o.Global)
	tokenURL := settings.tokenEndpoint(o.TokenURL, o.Getenv)
	if serr != nil && (o.Dataset != "" || tokenURL != "") {
		return nil, creds.Target{}, nil, serr
	}
	if o.Dataset != "" {
		c, err := settings.client(o.Deps, o.Global)
		if err != nil {
			return nil, creds.Target{}, nil, err
		}
		if dataset, err = c.PackageShow(ctx, o.Dataset); err != nil {
			return nil, creds.Target{}, nil, explainCKANReach(fmt.Errorf("look up dataset %q: %w", o.Dataset, err), c.SiteURL(), settings.URLSource)
		}
	}
	if tokenURL != "" {
		if dataset == nil {
			return nil, creds.Target{}, nil, usageErrorf("--dataset is required with a token endpoint: it lists one dataset's uploads")
		}
		src, err := creds.FromEndpoint(ctx, creds.EndpointOptions{URL: tokenURL, Token: settings.Token, Dataset: dataset.ID, HTTP: o.HTTPClient})
		if err != nil {
			return nil, creds.Target{}, nil, err
		}
		open, err := endpointUploads(ctx, tokenURL, settings.Token, dataset.ID, o.HTTPClient)
		if err != nil {
			return nil, creds.Target{}, nil, err
		}
		return newS3Client(src), src.Target, open, nil
	}
	src, err := o.S3.source(ctx, o.Deps)
	if err != nil {
		return nil, creds.Target{}, nil, err
	}
	t := src.Target
	switch {
	case dataset != nil:
		t.DatasetPrefix = scope.DatasetPrefix(t.KeyPrefix, dataset.OwnerOrg, dataset.ID)
	case t.KeyPrefix != "":
		t.DatasetPrefix = t.KeyPrefix + "/"
	}
	client := newS3Client(src)
	open, err := publish.StoreUploads(ctx, client, t.Bucket, t.DatasetPrefix)
	return client, t, open, publish.ExplainS3(t, err)
}

func runUploadsList(ctx context.Context, o *UploadsOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return usageErrorf("--output must be text or json")
	}
	_, _, list, err := listUploads(ctx, o)
	if err != nil {
		return err
	}
	return printUploads(o, list)
}

func printUploads(o *UploadsOptions, list []*publish.UploadInfo) error {
	if o.Output == "json" {
		enc := json.NewEncoder(o.Stdout)
		for _, u := range list {
			if err := enc.Encode(u); err != nil {
				return err
			}
		}
		return nil
	}
	if len(list) == 0 {
		fmt.Fprintln(o.Stdout, "No multipart uploads in progress.")
		return nil
	}
	// `uploads list` says whether each upload can be resumed here; `uploads
	// abort` what became of each (its Status), in a column of its own.
	abort := false
	for _, u := range list {
		abort = abort || u.Status != ""
	}
	column := "RESUMABLE HERE"
	if abort {
		column = "OUTCOME"
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "UPLOAD ID\tSTARTED\tPARTS\tBYTES\t%s\tKEY\n", column)
	for _, u := range list {
		id := u.UploadID
		if len(id) > 20 {
			id = id[:17] + "..."
		}
		value := u.Resumable
		if abort {
			value = u.Status
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", id, u.Started.Local().Format("2006-01-02 15:04"), u.Parts, upload.FormatSize(u.Bytes), value, u.Key)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, u := range list {
		switch {
		case abort && u.Error != "":
			fmt.Fprintf(o.Stderr, "ckanup: error: abort %s (%s): %s\n", u.UploadID, u.Key, u.Error)
		case !abort && u.Resumable == "yes":
			fmt.Fprintf(o.Stdout, "resume %s: %s\n", u.UploadID, u.Resume)
		}
	}
	return nil
}

func runUploadsAbort(ctx context.Context, o *UploadsOptions) error {
	client, st, list, err := listUploads(ctx, o)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, id := range o.IDs {
		wanted[id] = true
	}
	cutoff := o.Now().Add(-o.OlderThan)
	var chosen []*publish.UploadInfo
	for _, u := range list {
		switch {
		case len(wanted) > 0 && !wanted[u.UploadID]:
			continue
		case o.OlderThan > 0 && !u.Started.Before(cutoff):
			continue
		}
		delete(wanted, u.UploadID)
		chosen = append(chosen, u)
	}
	for id := range wanted {
		return failure.Wrap(failure.NotFound, fmt.Errorf("no upload %s under this prefix (see `ckanup uploads list`)", id))
	}
	failed := publish.Abort(ctx, client, st, chosen, o.DryRun)
	if err := printUploads(o, chosen); err != nil {
		return err
	}
	if failed > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d uploads could not be aborted", failed, len(chosen))}
	}
	return nil
}

// endpointUploads lists a dataset's open multipart uploads through a token
// endpoint, with the server's permissions.
func endpointUploads(ctx context.Context, tokenURL, token, datasetID string, hc *http.Client) ([]publish.OpenUpload, error) {
	listed, err := creds.ListEndpointUploads(ctx, tokenURL, token, datasetID, hc)
	if err != nil {
		return nil, err
	}
	open := make([]publish.OpenUpload, len(listed))
	for i, u := range listed {
		open[i] = publish.OpenUpload{UploadID: u.UploadID, Key: u.Key, Initiated: u.Initiated}
	}
	return open, nil
}
