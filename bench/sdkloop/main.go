// Command sdkloop is the benchmark's client-side limit: the least an
// aws-sdk-go-v2 program can do to put a file into S3. A file larger than one
// part goes up as a multipart upload (parts of -part-size bytes, -concurrency
// at once, each body an io.SectionReader over the file); a smaller file, and
// every file of -dir, is one PutObject. No checksums beyond what the signature
// needs, no read-back, no retries beyond the SDK's defaults.
//
// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; a
// self-signed endpoint certificate is trusted through SSL_CERT_FILE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

func main() {
	var (
		endpoint    = flag.String("endpoint", "", "S3 endpoint URL (required)")
		region      = flag.String("region", "us-east-1", "region for the signature")
		bucket      = flag.String("bucket", "", "bucket (required)")
		key         = flag.String("key", "", "object key of -file")
		file        = flag.String("file", "", "file to upload")
		dir         = flag.String("dir", "", "upload every regular file below this directory to -prefix + its relative path")
		prefix      = flag.String("prefix", "", "key prefix for -dir")
		partSize    = flag.Int64("part-size", 5<<20, "part size in bytes")
		concurrency = flag.Int("concurrency", 4, "requests in flight")
		unsigned    = flag.Bool("unsigned", false, "send UNSIGNED-PAYLOAD instead of hashing each body for the signature")
	)
	flag.Parse()
	if *endpoint == "" || *bucket == "" || (*file == "") == (*dir == "") {
		fmt.Fprintln(os.Stderr, "sdkloop: need -endpoint, -bucket and one of -file (with -key) or -dir")
		os.Exit(2)
	}
	client := s3.New(s3.Options{
		Region:       *region,
		BaseEndpoint: endpoint,
		UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(
			os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}, func(o *s3.Options) {
		if *unsigned {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	})
	l := &loop{s3: client, bucket: *bucket, partSize: *partSize, concurrency: *concurrency}
	ctx := context.Background()
	var err error
	if *file != "" {
		err = l.file(ctx, *file, *key)
	} else {
		err = l.dir(ctx, *dir, *prefix)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkloop:", err)
		os.Exit(1)
	}
}

type loop struct {
	s3          *s3.Client
	bucket      string
	partSize    int64
	concurrency int
}

func (l *loop) put(ctx context.Context, path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = l.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &l.bucket, Key: &key,
		Body: io.NewSectionReader(f, 0, fi.Size()), ContentLength: aws.Int64(fi.Size()),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (l *loop) file(ctx context.Context, path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size <= l.partSize {
		return l.put(ctx, path, key)
	}
	created, err := l.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &l.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("create multipart upload: %w", err)
	}
	nparts := int((size + l.partSize - 1) / l.partSize)
	parts := make([]types.CompletedPart, nparts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.concurrency)
	for i := range nparts {
		g.Go(func() error {
			off := int64(i) * l.partSize
			n := min(l.partSize, size-off)
			out, err := l.s3.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: &l.bucket, Key: &key, UploadId: created.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: io.NewSectionReader(f, off, n), ContentLength: aws.Int64(n),
			})
			if err != nil {
				return fmt.Errorf("part %d: %w", i+1, err)
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		_, aerr := l.s3.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &l.bucket, Key: &key, UploadId: created.UploadId})
		return errors.Join(err, aerr)
	}
	_, err = l.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &l.bucket, Key: &key, UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	return nil
}

func (l *loop) dir(ctx context.Context, root, prefix string) error {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.concurrency)
	for _, p := range files {
		g.Go(func() error {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			return l.put(gctx, p, prefix+filepath.ToSlash(rel))
		})
	}
	return g.Wait()
}
