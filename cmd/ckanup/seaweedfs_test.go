package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ckanup/ckanup/internal/tokenserver"
	"github.com/ckanup/ckanup/internal/upload"
)

// SeaweedFS's S3 gateway enforces STS session policies, which moto does not.
// These tests need its `weed` binary (CKANUP_IT_WEED; scripts/test.sh builds it
// from the module's source and caches it).

const weedRole = "arn:aws:iam::role/CkanupUploads"

// freePortPair finds a port p with p and p+10000 free (SeaweedFS puts gRPC there).
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+10000 > 65535 {
			continue
		}
		if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000)); err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// startWeed runs `weed mini` with an IAM configuration holding an admin
// identity, an STS signing key and the uploads role, and returns the S3 URL.
func startWeed(t *testing.T, bin, adminKey, adminSecret string) string {
	t.Helper()
	dir := t.TempDir()
	signing := base64.StdEncoding.EncodeToString([]byte("ckanup-test-signing-key-32-bytes!!"))
	cfg := map[string]any{
		"identities": []any{map[string]any{"name": "admin",
			"credentials": []any{map[string]string{"accessKey": adminKey, "secretKey": adminSecret}},
			"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"}}},
		"sts":    map[string]string{"tokenDuration": "1h", "maxSessionLength": "12h", "issuer": "seaweedfs-sts", "signingKey": signing},
		"policy": map[string]string{"defaultEffect": "Deny", "storeType": "memory"},
		"policies": []any{map[string]any{"name": "CkanupUploads", "document": map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{"Effect": "Allow",
				"Action":   []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObject"},
				"Resource": []string{"arn:aws:s3:::*/portal/*"}}}}}},
		"roles": []any{map[string]any{"roleName": "CkanupUploads", "roleArn": weedRole, "attachedPolicies": []string{"CkanupUploads"},
			"trustPolicy": map[string]any{"Version": "2012-10-17",
				"Statement": []any{map[string]any{"Effect": "Allow", "Principal": "*", "Action": []string{"sts:AssumeRole"}}}}}},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	iam := filepath.Join(dir, "iam.json")
	os.WriteFile(iam, b, 0o600)
	os.WriteFile(filepath.Join(dir, "security.toml"), []byte("# test\n"), 0o600)
	p := map[string]int{}
	for _, k := range []string{"master", "volume", "filer", "s3", "admin"} {
		p[k] = freePortPair(t)
	}
	// weed puts its logs, sockets and caches in os.TempDir() (or /tmp) unless
	// told otherwise: everything goes under dir, and TMPDIR points there too.
	tmp, logs := filepath.Join(dir, "tmp"), filepath.Join(dir, "logs")
	for _, d := range []string{tmp, logs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-logdir", logs, "mini",
		"-filer.localSocket", filepath.Join(dir, fmt.Sprintf("filer-%d.sock", p["filer"])),
		"-s3.localSocket", filepath.Join(dir, fmt.Sprintf("s3-%d.sock", p["s3"])),
		"-webdav.cacheDir", tmp, "-admin.dataDir", filepath.Join(dir, "admin"),
		"-master.port", fmt.Sprint(p["master"]), "-master.port.grpc", fmt.Sprint(p["master"] + 10000),
		"-volume.port", fmt.Sprint(p["volume"]), "-volume.port.grpc", fmt.Sprint(p["volume"] + 10000),
		"-filer.port", fmt.Sprint(p["filer"]), "-filer.port.grpc", fmt.Sprint(p["filer"] + 10000),
		"-s3.port", fmt.Sprint(p["s3"]), "-s3.port.grpc", fmt.Sprint(p["s3"] + 10000),
		"-s3.config", iam, "-s3.iam.config", iam, "-s3.iam.readOnly", "false",
		"-ip", "127.0.0.1", "-ip.bind", "127.0.0.1", "-dir", dir,
		fmt.Sprintf("-admin.port=%d", p["admin"]), fmt.Sprintf("-admin.port.grpc=%d", p["admin"]+10000), "-admin.port.legacy=0",
		"-webdav=false", "-s3.port.lance=0", "-s3.port.iceberg=0"}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	// SIGTERM lets weed remove the gRPC sockets it always makes in /tmp
	// (seaweedfs-<service>-grpc-<port>.sock, no flag moves them); SIGKILL
	// only if it has not stopped within WaitDelay.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	logf, _ := os.Create(filepath.Join(dir, "weed.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		logf.Close()
		// Nothing of this weed is left in /tmp: its sockets are gone or were
		// made in dir, and its logs are in logs.
		var left []string
		for _, port := range p {
			for _, pt := range []int{port, port + 10000} {
				socks, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-%d.sock", pt))
				for _, sock := range socks {
					left = append(left, sock)
					os.Remove(sock)
				}
			}
		}
		if len(left) > 0 {
			t.Errorf("weed left in /tmp: %v", left)
		}
		if infos, _ := filepath.Glob(filepath.Join(logs, "weed*.INFO*")); len(infos) == 0 {
			t.Errorf("weed wrote no log in %s (-logdir)", logs)
		}
		if glog, _ := filepath.Glob(filepath.Join(tmp, "weed*")); len(glog) > 0 {
			t.Errorf("weed wrote logs in TMPDIR, not -logdir: %v", glog)
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", p["s3"])
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get(url + "/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "weed.log"))
			t.Fatalf("weed mini did not start:\n%s", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return url
}

func TestSeaweedFSEnforcesDatasetScope(t *testing.T) {
	bin := os.Getenv("CKANUP_IT_WEED")
	if bin == "" {
		if os.Getenv("CKANUP_IT_REQUIRE_WEED") == "1" {
			t.Fatal("CKANUP_IT_WEED is not set")
		}
		t.Skip("CKANUP_IT_WEED not set: scripts/test.sh builds SeaweedFS's weed")
	}
	const adminKey, adminSecret = "ckanupadmin", "ckanup-admin-secret"
	s3URL := startWeed(t, bin, adminKey, adminSecret)
	e := newTestEnv(t, s3URL, adminKey, adminSecret, "scoped")
	ctx := context.Background()
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("scoped")}); err != nil {
		t.Fatal(err)
	}
	stsClient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3URL),
		Credentials: credentials.NewStaticCredentialsProvider(adminKey, adminSecret, "")})
	endpoint := startTokenServer(t, e, tokenserver.Config{Bucket: "scoped", RoleARN: weedRole, KeyPrefix: "portal",
		EnabledOrgs: []string{"*"}, Duration: 15 * time.Minute, S3Endpoint: s3URL}, stsClient, e.s3)

	// ckanup uploads through the endpoint, multipart included.
	e.vars["CKANUP_TOKEN_URL"] = endpoint
	delete(e.vars, "CKANUP_BUCKET")
	delete(e.vars, "AWS_ENDPOINT_URL_S3")
	f := makeFile(t, t.TempDir(), "scoped.bin", 12<<20)
	r := e.upload(f, "--dataset", "acceptance-dataset", "--verbose")
	if r.code != 0 {
		t.Fatalf("upload through SeaweedFS STS: exit %d\n%s", r.code, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "scoped.bin", f)

	// Without a token endpoint: --role-arn with the caller's own AWS identity,
	// narrowed by the same session policy.
	delete(e.vars, "CKANUP_TOKEN_URL")
	e.vars["CKANUP_BUCKET"], e.vars["AWS_ENDPOINT_URL_S3"], e.vars["CKANUP_KEY_PREFIX"] = "scoped", s3URL, "portal"
	t.Setenv("AWS_ENDPOINT_URL_STS", s3URL)
	g := makeFile(t, t.TempDir(), "assumed.bin", 6<<20)
	r = e.upload(g, "--dataset", "acceptance-dataset", "--role-arn", weedRole, "--session-duration", "15m", "--verbose")
	if r.code != 0 || !strings.Contains(r.stderr, "credentials from the STS AssumeRole "+weedRole) {
		t.Fatalf("upload with --role-arn: exit %d\n%s", r.code, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "assumed.bin", g)

	// Credentials for dataset A, used by hand.
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/v1/credentials", strings.NewReader(`{"dataset": "acceptance-dataset"}`))
	req.Header.Set("Authorization", e.world.Editor.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("credentials: %v %v", resp, err)
	}
	var c tokenserver.Credentials
	json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	scoped := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)})
	other := "portal/" + e.world.OtherOrg.ID + "/other-dataset-id/"
	// An object of dataset B, put there by the admin.
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("scoped"), Key: aws.String(other + "r/b.csv"), Body: strings.NewReader("b")}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) error {
		_, err := scoped.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("scoped"), Key: aws.String(key), Body: bytes.NewReader([]byte("x"))})
		return err
	}
	denied := func(what string, err error) {
		t.Helper()
		if err == nil || !upload.IsAccessDenied(err) {
			t.Errorf("%s: %v, want access denied", what, err)
		}
	}
	if err := put(c.KeyPrefix + "r/a.csv"); err != nil {
		t.Errorf("write under the dataset's prefix: %v", err)
	}
	denied("write under another dataset", put(other+"r/x.csv"))
	denied("write at the bucket root", put("x.csv"))
	_, err = scoped.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("scoped"), Key: aws.String(other + "r/m.bin")})
	denied("multipart upload under another dataset", err)
	_, err = scoped.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("scoped"), Key: aws.String(other + "r/b.csv")})
	denied("read another dataset's object", err)
	_, err = scoped.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("scoped"), Key: aws.String(c.KeyPrefix + "r/a.csv")})
	denied("delete in the dataset's own prefix", err)
	_, err = scoped.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("scoped"), Prefix: aws.String("portal/")})
	denied("list the bucket", err)
	_, err = scoped.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("scoped")})
	denied("list multipart uploads", err)

	// Control: the role without the session policy may write under any dataset,
	// so the refusals above are the session policy's doing.
	out, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(weedRole), RoleSessionName: aws.String("control"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	wide := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))})
	if _, err := wide.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("scoped"), Key: aws.String(other + "r/control.csv"), Body: strings.NewReader("c")}); err != nil {
		t.Errorf("the role itself could not write under another dataset (%v): the test proves nothing about the session policy", err)
	}
}
