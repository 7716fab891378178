package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/publish"
)

func TestUploadsListAndAbort(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	ctx := context.Background()
	f := makeFile(t, t.TempDir(), "kept.bin", 16<<20)
	if r := e.interruptAt("2", f, "--dataset", "acceptance-dataset"); r.code != exitInterrupted {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	ds := e.world.AcceptanceDataset.ID
	create := func(key string) string {
		out, err := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.UploadId)
	}
	old := create(e.world.AcceptanceOrg.ID + "/" + ds + "/r-old/old.csv")
	other := create("elsewhere/x.csv")
	time.Sleep(3 * time.Second)
	fresh := create(e.world.AcceptanceOrg.ID + "/" + ds + "/r-new/new.csv")

	r := e.run(ctx, "", "uploads", "list", "--dataset", "acceptance-dataset", "-o", "json")
	if r.code != 0 {
		t.Fatalf("list: exit %d\n%s", r.code, r.stderr)
	}
	var list []publish.UploadInfo
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var u publish.UploadInfo
		if err := dec.Decode(&u); err != nil {
			t.Fatal(err)
		}
		list = append(list, u)
	}
	if len(list) != 3 {
		t.Fatalf("listed %d uploads under the dataset, want 3:\n%s", len(list), r.stdout)
	}
	var kept publish.UploadInfo
	for _, u := range list {
		if u.UploadID == other {
			t.Errorf("an upload outside the dataset's prefix was listed")
		}
		if u.File == f {
			kept = u
		}
	}
	if kept.Resumable != "yes" || kept.Parts < 1 || kept.Bytes < 5<<20 || !strings.Contains(kept.Resume, "ckanup upload --concurrency 1 "+f) {
		t.Errorf("the interrupted upload: %+v", kept)
	}
	// The resume command starts where the upload started, so relative paths
	// in it hold from any directory.
	if wd, _ := os.Getwd(); !strings.HasPrefix(kept.Resume, "cd "+wd+" && ckanup ") {
		t.Errorf("resume command %q does not start in %s", kept.Resume, wd)
	}

	r = e.run(ctx, "", "uploads", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "RESUMABLE HERE") || !strings.Contains(r.stdout, "elsewhere/x.csv") || !strings.Contains(r.stdout, "resume "+kept.UploadID) {
		t.Errorf("text list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	if r := e.run(ctx, "", "uploads", "abort"); r.code != exitUsage {
		t.Errorf("abort with no selection: exit %d", r.code)
	}
	r = e.run(ctx, "", "uploads", "abort", "--dataset", "acceptance-dataset", "--older-than", "2s", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would abort") || e.openUploads() != 4 {
		t.Fatalf("dry run: exit %d, %d open\n%s%s", r.code, e.openUploads(), r.stdout, r.stderr)
	}
	r = e.run(ctx, "", "uploads", "abort", "--dataset", "acceptance-dataset", "--older-than", "2s")
	if r.code != 0 || strings.Count(r.stdout, "aborted") != 2 {
		t.Fatalf("abort --older-than: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The outcome has its own column, not the one that says whether an upload can be resumed.
	if header := strings.SplitN(r.stdout, "\n", 2)[0]; !strings.Contains(header, "OUTCOME") || strings.Contains(header, "RESUMABLE") || strings.Contains(r.stdout, "resume ") {
		t.Errorf("abort table:\n%s", r.stdout)
	}
	left := map[string]bool{}
	out, _ := e.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	for _, u := range out.Uploads {
		left[aws.ToString(u.UploadId)] = true
	}
	if len(left) != 2 || !left[fresh] || !left[other] || left[old] {
		t.Errorf("left %v", left)
	}
	// The journal entry of the aborted upload is gone: the next upload starts afresh.
	r = e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != 0 || strings.Contains(r.stderr, "resuming") {
		t.Errorf("upload after abort: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run(ctx, "", "uploads", "abort", fresh, other)
	if r.code != 0 || e.openUploads() != 0 {
		t.Errorf("abort by id: exit %d, %d open\n%s", r.code, e.openUploads(), r.stderr)
	}
	if r := e.run(ctx, "", "uploads", "abort", "no-such-id"); r.code != exitNotFound {
		t.Errorf("unknown id: exit %d", r.code)
	}
}
