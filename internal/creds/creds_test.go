package creds

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/logging"
)

// The SDK's own logger is off, and a credentials failure is told once: the
// caches on the way do not each repeat "failed to refresh cached credentials".
func TestChainIsSilentAndSaysTheCauseOnce(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	refused := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no EC2 IMDS role found")
	}))
	src, err := FromChain(context.Background(), ChainOptions{Region: "eu-west-1", Credentials: refused})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.Config.Logger.(logging.Nop); !ok {
		t.Errorf("SDK logger %T, want logging.Nop", src.Config.Logger)
	}
	if src.Config.ClientLogMode != 0 {
		t.Errorf("client log mode %v", src.Config.ClientLogMode)
	}
	err = src.Check(context.Background())
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("Check: %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "failed to refresh cached credentials") || strings.Count(msg, "no EC2 IMDS role found") != 1 || !strings.Contains(msg, credentialsHint) {
		t.Errorf("Check: %q", msg)
	}
}
