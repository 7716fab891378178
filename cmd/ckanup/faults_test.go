package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault injection between ckanup and a real S3 server (versitygw when the test
// script started one) and in front of the CKAN simulator. Each scenario checks
// that the object is byte-identical to the file, exactly one resource is
// registered with the right size and hash, and no multipart upload is left.

func (e *testEnv) checkClean(name, path string) {
	e.t.Helper()
	e.checkRegistered("acceptance-dataset", name, path)
	if n := len(e.ckan.Resources("acceptance-dataset")); n != 1 {
		e.t.Errorf("%d resources, want 1", n)
	}
	if e.openUploads() != 0 {
		e.t.Errorf("a multipart upload was left behind")
	}
}

// s3Error answers as S3 does when it refuses a request.
func s3Error(w http.ResponseWriter, status int, code, message string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, message)
}

func isPart(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
}

func TestFaultPartErrors(t *testing.T) {
	e, th := newProxiedEnv(t)
	var n atomic.Int32
	th.inject(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !isPart(r) || n.Add(1)%5 != 1 { // one in five
			return false
		}
		io.Copy(io.Discard, r.Body)
		if n.Load()%2 == 0 {
			s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error.")
		} else {
			s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		}
		return true
	})
	f := makeFile(t, t.TempDir(), "flaky.bin", 52<<20)
	r := e.upload(f, "--dataset", "acceptance-dataset", "--verbose", "--retries", "10")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "retry: flaky.bin: UploadPart part") {
		t.Errorf("retries not visible:\n%s", r.stderr)
	}
	e.checkClean("flaky.bin", f)
}

func TestFaultConnectionResetMidBody(t *testing.T) {
	e, th := newProxiedEnv(t)
	var n atomic.Int32
	th.inject(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !isPart(r) || n.Add(1) > 3 {
			return false
		}
		io.CopyN(io.Discard, r.Body, 1<<20) // part of the body, then the line drops
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
		return true
	})
	f := makeFile(t, t.TempDir(), "reset.bin", 21<<20)
	if r := e.upload(f, "--dataset", "acceptance-dataset"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.checkClean("reset.bin", f)
}

func TestFaultPartHangs(t *testing.T) {
	e, th := newProxiedEnv(t)
	var hung atomic.Int32
	th.inject(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !isPart(r) || r.URL.Query().Get("partNumber") != "2" || hung.Add(1) > 1 {
			return false
		}
		io.Copy(io.Discard, r.Body) // accepted …
		<-r.Context().Done()        // … and never answered
		return true
	})
	f := makeFile(t, t.TempDir(), "hang.bin", 16<<20)
	start := time.Now()
	r := e.upload(f, "--dataset", "acceptance-dataset", "--request-timeout", "3s", "--verbose")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "UploadPart part 2 attempt 1 failed") || !strings.Contains(r.stderr, "no answer within 3s") {
		t.Errorf("the hang was not reported as a timeout:\n%s", r.stderr)
	}
	if time.Since(start) > 2*time.Minute {
		t.Errorf("took %s", time.Since(start))
	}
	e.checkClean("hang.bin", f)
}

func TestFaultCompleteFailsAfterCompleting(t *testing.T) {
	e, th := newProxiedEnv(t)
	var once sync.Once
	th.inject(func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
		if r.Method != http.MethodPost || !r.URL.Query().Has("uploadId") {
			return false
		}
		handled := false
		once.Do(func() {
			rec := httptest.NewRecorder()
			forward.ServeHTTP(rec, r) // S3 completes the object …
			s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error.")
			handled = true // … and answers 500
		})
		return handled
	})
	f := makeFile(t, t.TempDir(), "complete.bin", 11<<20)
	if r := e.upload(f, "--dataset", "acceptance-dataset"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.checkClean("complete.bin", f)
}

// CKAN creates the resource but the answer is lost: the retry, with the same
// client-chosen id, must not make a second resource.
func TestFaultCKANCreateAnswerLost(t *testing.T) {
	e, _ := newProxiedEnv(t)
	var once sync.Once
	e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		if action != "resource_create" {
			return false
		}
		lost := false
		once.Do(func() {
			e.ckan.SetIntercept(nil)
			e.ckan.ServeHTTP(httptest.NewRecorder(), r) // created …
			w.WriteHeader(http.StatusGatewayTimeout)    // … but the proxy timed out
			w.Write([]byte("<html><body>504 Gateway Time-out</body></html>"))
			lost = true
		})
		return lost
	})
	f := makeFile(t, t.TempDir(), "once.csv", 100)
	if r := e.upload(f, "--dataset", "acceptance-dataset", "--verbose"); r.code != 0 || !strings.Contains(r.stderr, "retry: CKAN resource_create") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.checkClean("once.csv", f)
}

func TestFaultPermanentDenial(t *testing.T) {
	e, th := newProxiedEnv(t)
	var parts atomic.Int32
	th.inject(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if !isPart(r) {
			return false
		}
		parts.Add(1)
		io.Copy(io.Discard, r.Body)
		s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		return true
	})
	f := makeFile(t, t.TempDir(), "denied.bin", 40<<20)
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != exitAuth || !strings.Contains(r.stderr, "AccessDenied") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if p := parts.Load(); p > 5 {
		t.Errorf("%d part attempts: a permanent 403 must not be retried", p)
	}
	if !strings.Contains(r.stderr, "run the same command again to resume it") || len(e.ckan.Resources("acceptance-dataset")) != 0 {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestFaultS3Down(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	e.vars["AWS_ENDPOINT_URL_S3"] = "http://" + addr
	f := makeFile(t, t.TempDir(), "nowhere.bin", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := e.run(ctx, "", "upload", f, "--dataset", "acceptance-dataset", "--retries", "3", "--retry-max-time", "10s")
	if r.code != exitTemporary || !strings.Contains(r.stderr, addr) || !strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if ctx.Err() != nil {
		t.Error("the retries were not bounded")
	}
	if len(e.ckan.Resources("acceptance-dataset")) != 0 {
		t.Error("registered")
	}
}
