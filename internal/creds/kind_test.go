package creds

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The token endpoint's answers carry their kind for the upload engine: a 403
// during a refresh is final, a 503 is worth a retry.
func TestEndpointErrorKind(t *testing.T) {
	for status, want := range map[int]string{401: "auth", 403: "auth", 404: "not-found", 400: "permanent", 409: "permanent",
		408: "temporary", 429: "temporary", 500: "temporary", 502: "temporary", 503: "temporary", 501: "permanent"} {
		if got := (&EndpointError{Status: status}).ErrorKind(); got != want {
			t.Errorf("HTTP %d: %s, want %s", status, got, want)
		}
	}
}

type seqProvider struct{ keys []string }

func (p *seqProvider) Retrieve(context.Context) (aws.Credentials, error) {
	k := p.keys[0]
	if len(p.keys) > 1 {
		p.keys = p.keys[1:]
	}
	return aws.Credentials{AccessKeyID: k, SecretAccessKey: "s-" + k, Source: "test"}, nil
}

// invalidate reloads the chain; the refused key coming back is an error that
// says so; a second refusal just after a renewal (a part signed with the old
// key) does not count against the new key.
func TestChainProviderReload(t *testing.T) {
	loads := 0
	reloads := []*seqProvider{{keys: []string{"NEW1"}}, {keys: []string{"NEW1"}}}
	p := &chainProvider{cur: &seqProvider{keys: []string{"OLD0"}}, load: func(context.Context) (aws.CredentialsProvider, error) {
		loads++
		return reloads[loads-1], nil
	}}
	ctx := context.Background()
	if c, _ := p.Retrieve(ctx); c.AccessKeyID != "OLD0" {
		t.Fatalf("first key %s", c.AccessKeyID)
	}
	p.invalidate()
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "NEW1" || loads != 1 {
		t.Fatalf("after invalidate: %s %v (%d loads)", c.AccessKeyID, err, loads)
	}
	p.invalidate() // a late refusal of a request signed with OLD0
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "NEW1" || loads != 1 {
		t.Fatalf("late refusal: %s %v (%d loads)", c.AccessKeyID, err, loads)
	}

	same := &chainProvider{cur: &seqProvider{keys: []string{"AKIDSAME1234"}}, load: func(context.Context) (aws.CredentialsProvider, error) {
		return &seqProvider{keys: []string{"AKIDSAME1234"}}, nil
	}}
	same.Retrieve(ctx)
	same.invalidate()
	_, err := same.Retrieve(ctx)
	var se *SameCredentialsError
	if !errors.As(err, &se) || !errors.Is(err, ErrNoCredentials) || se.ErrorKind() != "auth" || !strings.Contains(err.Error(), "…1234") || strings.Contains(err.Error(), "s-AKID") {
		t.Fatalf("same key back: %v", err)
	}
}
