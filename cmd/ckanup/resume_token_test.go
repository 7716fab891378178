package main

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A runner whose credentials come from the token endpoint, killed mid-upload
// and restarted with its state directory gone, finds the interrupted upload
// by asking the token endpoint (GET /v1/uploads: the scoped credentials may
// not list the bucket) and sends only the parts S3 lacks.
func TestKilledUploadResumesWithoutStateThroughTokenEndpoint(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	// The token endpoint hands ckanup the throttle's address as the S3
	// endpoint, so that ckanup's own S3 requests are slowed and counted there;
	// the endpoint's own listing goes to the store directly.
	th := &throttle{}
	ps := httptest.NewServer(th.handler(e.s3URL))
	t.Cleanup(ps.Close)
	e.s3URL = ps.URL
	withTokenEndpoint(t, e, time.Hour)

	var listings, directListings atomic.Int32
	endpoint, err := url.Parse(e.vars["CKANUP_TOKEN_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(endpoint)
	tp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/uploads" {
			listings.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(tp.Close)
	e.vars["CKANUP_TOKEN_URL"] = tp.URL + "/"
	th.inject(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.Method == http.MethodGet && r.URL.Query().Has("uploads") {
			directListings.Add(1)
		}
		return false
	})

	stateDir := e.vars["XDG_STATE_HOME"]
	f, acked := killedMidway(t, e, th)
	var journals []string
	_ = filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			journals = append(journals, p)
		}
		return nil
	})
	if len(journals) == 0 {
		t.Fatalf("no journal in the state directory %s after the kill", stateDir)
	}
	if err := os.RemoveAll(stateDir); err != nil { // the journal is gone
		t.Fatal(err)
	}

	before := listings.Load()
	resumesSendingOnlyMissingParts(t, e, th, f, acked, "found in S3")
	if listings.Load() == before {
		t.Error("the re-run did not ask the token endpoint for the open uploads")
	}
	if n := directListings.Load(); n != 0 {
		t.Errorf("ckanup listed the bucket's multipart uploads itself %d times; with a token endpoint it must ask the endpoint", n)
	}
	key, _ := e.checkRegistered("acceptance-dataset", "big.bin", f)["s3_key"].(string)
	if want := "portal/" + e.world.AcceptanceOrg.ID + "/" + e.world.AcceptanceDataset.ID + "/"; !strings.HasPrefix(key, want) {
		t.Errorf("key %q is not under the dataset's prefix %s from the token endpoint", key, want)
	}
}
