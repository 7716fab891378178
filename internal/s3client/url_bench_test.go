package s3client

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ckanup/ckanup/internal/creds"
)

// go test -run XXX -bench ObjectURL ./internal/s3client: resolving with the
// client's options built once (ObjectURLs) against building them per key.
func BenchmarkObjectURL(b *testing.B) {
	cfg := aws.Config{Region: "eu-west-1"}
	t := creds.Target{Bucket: "bkt", Region: "eu-west-1"}
	b.Run("per-key", func(b *testing.B) {
		for b.Loop() {
			if _, err := ObjectURL(context.Background(), cfg, t, "", "portal/org/ds/res/file.csv"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("options-once", func(b *testing.B) {
		resolve := ObjectURLs(cfg, t, "")
		for b.Loop() {
			if _, err := resolve(context.Background(), "portal/org/ds/res/file.csv"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
