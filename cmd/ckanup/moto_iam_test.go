package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ckanup/ckanup/internal/tokenserver"
)

// startMotoWithAuth runs moto's server with IAM enforcement: the first
// `setup` requests are free (they create users, roles and policies), every
// later one must be signed by a known key and allowed by its policies.
func startMotoWithAuth(t *testing.T, setup int) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	if exec.Command("python3", "-c", "import moto.server").Run() != nil {
		if os.Getenv("CKANUP_IT_REQUIRE") == "1" {
			t.Fatal("moto is not installed")
		}
		t.Skip("moto not installed")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), fmt.Sprintf("INITIAL_NO_AUTH_ACTION_COUNT=%d", setup))
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return url
		}
		if i > 150 {
			t.Fatalf("moto did not start:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMotoSTSWithIAMEnforced: the token endpoint's own identity may only assume
// the uploads role, and the credentials it hands out work under signature and
// policy checks.
func TestMotoSTSWithIAMEnforced(t *testing.T) {
	if os.Getenv("CKANUP_IT_MOTO_URL") == "" && os.Getenv("CKANUP_IT_REQUIRE") != "1" {
		t.Skip("run scripts/test.sh for the moto tests")
	}
	moto := startMotoWithAuth(t, 6)
	ctx := context.Background()
	root := credentials.NewStaticCredentialsProvider("AKIAROOTSETUP0000000", "setup-secret", "")
	im := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), Credentials: root})
	// 1–2: the server's user and its key.
	if _, err := im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ckanup-server")}); err != nil {
		t.Fatal(err)
	}
	key, err := im.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ckanup-server")})
	if err != nil {
		t.Fatal(err)
	}
	doc := func(stmts ...map[string]any) string {
		b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
		return string(b)
	}
	// 3: the server may assume the role, and inspect the bucket for the tests.
	role := "arn:aws:iam::123456789012:role/ckanup-uploads"
	if _, err := im.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("ckanup-server"), PolicyName: aws.String("server"),
		PolicyDocument: aws.String(doc(map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role},
			map[string]any{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))}); err != nil {
		t.Fatal(err)
	}
	// 4–5: the role, trusting the server's user, allowed under the key prefix.
	if _, err := im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ckanup-uploads"),
		AssumeRolePolicyDocument: aws.String(doc(map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::123456789012:user/ckanup-server"}, "Action": "sts:AssumeRole"}))}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ckanup-uploads"), PolicyName: aws.String("uploads"),
		PolicyDocument: aws.String(doc(map[string]any{"Effect": "Allow", "Action": []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObject"}, "Resource": "arn:aws:s3:::iam-bucket/portal/*"}))}); err != nil {
		t.Fatal(err)
	}
	serverKey := credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	// 6: the bucket.
	admin := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), UsePathStyle: true, Credentials: serverKey})
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("iam-bucket")}); err != nil {
		t.Fatal(err)
	}
	// From here on moto checks every request.
	if _, err := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIANOBODY0000000000", "nope", "")}).ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Fatal("moto accepted an unknown key: IAM is not enforced")
	}

	e := newTestEnv(t, moto, aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "iam-bucket")
	stsClient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), Credentials: serverKey})
	e.vars["CKANUP_TOKEN_URL"] = startTokenServer(t, e, tokenserver.Config{Bucket: "iam-bucket", RoleARN: role, KeyPrefix: "portal",
		EnabledOrgs: []string{"acceptance-org"}, Duration: 15 * time.Minute, S3Endpoint: moto}, stsClient, admin)
	delete(e.vars, "CKANUP_BUCKET")
	delete(e.vars, "AWS_ENDPOINT_URL_S3")
	t.Setenv("AWS_ACCESS_KEY_ID", "") // the upload uses only what the endpoint hands out
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	f := makeFile(t, t.TempDir(), "iam.bin", 11<<20)
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != 0 {
		t.Fatalf("upload through moto STS with IAM enforced: exit %d\n%s", r.code, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "iam.bin", f)

	// A role the server may not assume: the endpoint answers 502, no credentials.
	other := startTokenServer(t, e, tokenserver.Config{Bucket: "iam-bucket", RoleARN: "arn:aws:iam::123456789012:role/someone-elses",
		EnabledOrgs: []string{"*"}, Duration: 15 * time.Minute}, stsClient, admin)
	req, _ := http.NewRequest(http.MethodPost, other+"/v1/credentials", strings.NewReader(`{"dataset": "acceptance-dataset"}`))
	req.Header.Set("Authorization", e.world.Editor.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("assuming a role the server may not: %v %v", resp, err)
	}
}
