package publish

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/journal"
	"github.com/ckanup/ckanup/internal/upload"
)

// OpenUpload is a multipart upload the store holds, not completed or aborted.
type OpenUpload struct {
	UploadID  string
	Key       string
	Initiated time.Time
}

// UploadLister is the part of the S3 client that listing and aborting uploads
// calls; *s3.Client satisfies it.
type UploadLister interface {
	s3.ListMultipartUploadsAPIClient
	s3.ListPartsAPIClient
	Aborter
}

// StoreUploads lists the open multipart uploads in bucket under prefix, every
// page (ListMultipartUploads, through the SDK's paginator). Listing needs
// s3:ListBucketMultipartUploads on the bucket; a refusal carries a hint naming
// it and the token endpoint.
func StoreUploads(ctx context.Context, api s3.ListMultipartUploadsAPIClient, bucket, prefix string) ([]OpenUpload, error) {
	var out []OpenUpload
	pages := s3.NewListMultipartUploadsPaginator(api, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, hint.With(fmt.Errorf("list multipart uploads in s3://%s/%s: %w", bucket, prefix, err),
				"listing uploads needs s3:ListBucketMultipartUploads on the bucket, or a token endpoint (--token-url)")
		}
		for _, u := range page.Uploads {
			out = append(out, OpenUpload{UploadID: aws.ToString(u.UploadId), Key: aws.ToString(u.Key), Initiated: aws.ToTime(u.Initiated)})
		}
	}
	return out, nil
}

// UploadInfo is one multipart upload, as the store and this machine's journal
// know it.
type UploadInfo struct {
	UploadID  string    `json:"upload_id"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	Started   time.Time `json:"started"`
	Parts     int       `json:"parts"`
	Bytes     int64     `json:"bytes"`
	InStore   bool      `json:"in_store"`
	File      string    `json:"file,omitempty"`
	Dataset   string    `json:"dataset,omitempty"`
	Resumable string    `json:"resumable"`
	Resume    string    `json:"resume_command,omitempty"`
	Status    string    `json:"status,omitempty"` // abort: aborted, would abort, failed
	Error     string    `json:"error,omitempty"`

	// JournalID is the journal entry of the upload ("" when this machine has none).
	JournalID string `json:"-"`
}

// UploadsQuery says which uploads Uploads describes.
type UploadsQuery struct {
	Bucket, Endpoint string
	// Prefix limits the uploads to keys below it ("" for the whole bucket).
	Prefix string
	// Open are the uploads the store holds under Prefix (StoreUploads, or the
	// token endpoint's listing).
	Open []OpenUpload
	// Journal is this machine's journal (nil: none).
	Journal *journal.Store
}

// Uploads describes the open uploads of q, with their parts and bytes in S3
// (ListParts, through the SDK's paginator), merged with the journal's entries
// for the same bucket and prefix: which file each belongs to, and whether this
// machine can resume it. Sorted by start time.
func Uploads(ctx context.Context, api s3.ListPartsAPIClient, q UploadsQuery) ([]*UploadInfo, error) {
	byID := map[string]*UploadInfo{}
	var out []*UploadInfo
	for _, su := range q.Open {
		info := &UploadInfo{UploadID: su.UploadID, Bucket: q.Bucket, Key: su.Key, Started: su.Initiated, InStore: true,
			Resumable: "no: not started from this machine"}
		var err error
		if info.Parts, info.Bytes, err = countParts(ctx, api, info); err != nil {
			return nil, err
		}
		byID[info.UploadID] = info
		out = append(out, info)
	}
	if q.Journal != nil {
		entries, err := q.Journal.List()
		if err != nil {
			return nil, err
		}
		for _, l := range entries {
			e := l.Entry
			if e == nil || e.Bucket != q.Bucket || e.Endpoint != q.Endpoint || !strings.HasPrefix(e.Key, q.Prefix) {
				continue
			}
			info := byID[e.UploadID]
			if info == nil {
				info = &UploadInfo{UploadID: e.UploadID, Bucket: e.Bucket, Key: e.Key, Started: e.Started, Parts: len(e.Parts), Bytes: e.BytesDone()}
				out = append(out, info)
			}
			info.JournalID, info.File, info.Dataset = l.ID, e.File.Path, e.DatasetName
			info.Resume = ResumeCommand(e.Args)
			if e.Dir != "" {
				// Relative paths in the arguments are relative to where the
				// upload started: resume from there, wherever this runs.
				info.Resume = "cd " + shellQuote(e.Dir) + " && " + info.Resume
			}
			switch now, err := journal.StateOf(e.File.Path); {
			case !info.InStore && e.Completed:
				info.Resumable = "completed: re-run to register it"
			case !info.InStore:
				info.Resumable = "no: gone from S3"
			case err != nil:
				info.Resumable = "no: " + err.Error()
			case e.File.Changed(now) != "":
				info.Resumable = "no: the file changed"
			default:
				info.Resumable = "yes"
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

func countParts(ctx context.Context, api s3.ListPartsAPIClient, info *UploadInfo) (int, int64, error) {
	var n int
	var bytes int64
	pages := s3.NewListPartsPaginator(api, &s3.ListPartsInput{Bucket: aws.String(info.Bucket), Key: aws.String(info.Key), UploadId: aws.String(info.UploadID)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if upload.APICode(err) == "NoSuchUpload" {
			return 0, 0, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("list parts of %s: %w", info.UploadID, err)
		}
		for _, p := range out.Parts {
			n++
			bytes += aws.ToInt64(p.Size)
		}
	}
	return n, bytes, nil
}

// Abort aborts each upload (unless dryRun) and drops its journal entry, setting
// Status ("aborted", "would abort" or "failed", with Error) on each. It returns
// how many could not be aborted.
func Abort(ctx context.Context, api Aborter, st *journal.Store, list []*UploadInfo, dryRun bool) int {
	failed := 0
	for _, u := range list {
		if dryRun {
			u.Status = "would abort"
			continue
		}
		if u.InStore {
			if err := AbortUpload(ctx, api, u.Bucket, u.Key, u.UploadID); err != nil {
				u.Status, u.Error = "failed", err.Error()
				failed++
				continue
			}
		}
		if u.JournalID != "" && st != nil {
			_ = st.Delete(u.JournalID)
		}
		u.Status = "aborted"
	}
	return failed
}
