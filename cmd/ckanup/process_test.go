package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ckanup/ckanup/internal/s3store"
)

// Tests in this file run the real ckanup binary as a child process and kill it
// with SIGKILL at chosen moments, as a crash or power cut would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func ckanupBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ckanup-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ckanup")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// throttle is a reverse proxy in front of an S3 endpoint that slows part
// uploads and counts them. It keeps the client's Host header, which SigV4 signs.
type throttle struct {
	delay     atomic.Int64 // per UploadPart, nanoseconds
	parts     atomic.Int32 // UploadPart requests received
	partsDone atomic.Int32 // UploadPart requests answered 200
	dataReqs  atomic.Int32 // PutObject + UploadPart received
	inFlight  atomic.Int32 // requests being forwarded
	mu        sync.Mutex
	onPart    func(done int32)
	// fault, when set, may answer a request instead of the store (it returns
	// true), or act on it and let it through (false).
	fault func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool
}

// inject sets the fault function (nil: none).
func (th *throttle) inject(f func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.fault = f
}

// hook sets the function called after each acknowledged part (nil: none).
func (th *throttle) hook(f func(done int32)) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.onPart = f
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (th *throttle) handler(target string) http.Handler {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client killed mid-request is expected here
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.inFlight.Add(1)
		defer th.inFlight.Add(-1)
		th.mu.Lock()
		fault := th.fault
		th.mu.Unlock()
		if fault != nil && fault(w, r, rp) {
			return
		}
		isPart := r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
		if r.Method == http.MethodPut {
			th.dataReqs.Add(1)
		}
		if !isPart {
			rp.ServeHTTP(w, r)
			return
		}
		th.parts.Add(1)
		time.Sleep(time.Duration(th.delay.Load()))
		sr := &statusRecorder{ResponseWriter: w, status: 200}
		rp.ServeHTTP(sr, r)
		if sr.status == 200 {
			done := th.partsDone.Add(1)
			th.mu.Lock()
			f := th.onPart
			th.mu.Unlock()
			if f != nil {
				f(done)
			}
		}
	})
}

// newProxiedEnv is a test environment whose S3 traffic goes through a throttle,
// to versitygw when the test script started one, else to an in-process store.
func newProxiedEnv(t *testing.T) (*testEnv, *throttle) {
	t.Helper()
	target, key, secret := os.Getenv("CKANUP_IT_VERSITYGW_URL"), os.Getenv("CKANUP_IT_VERSITYGW_KEY"), os.Getenv("CKANUP_IT_VERSITYGW_SECRET")
	bucket := fmt.Sprintf("proc-%d", time.Now().UnixNano()%1e12)
	if target == "" {
		st, err := s3store.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		st.AccessKey = testAccessKey
		hs := httptest.NewServer(st)
		t.Cleanup(hs.Close)
		target, key, secret = hs.URL, testAccessKey, testSecretKey
	}
	th := &throttle{}
	ps := httptest.NewServer(th.handler(target))
	t.Cleanup(ps.Close)
	e := newTestEnv(t, ps.URL, key, secret, bucket)
	if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return e, th
}

// start runs the ckanup binary in the test environment.
func (e *testEnv) start(args ...string) (*exec.Cmd, *strings.Builder) {
	e.t.Helper()
	cmd := exec.Command(ckanupBinary(e.t), args...)
	env := os.Environ()
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd, &out
}

// killedMidway starts an upload of a 40 MiB file (8 parts), slowed by the
// throttle, and SIGKILLs it once 3 parts are acknowledged. It returns the file
// and the number of parts acknowledged before the kill.
func killedMidway(t *testing.T, e *testEnv, th *throttle) (string, int32) {
	t.Helper()
	f := makeFile(t, t.TempDir(), "big.bin", 40<<20)
	th.delay.Store(int64(150 * time.Millisecond))
	killed := make(chan int32, 1)
	var once sync.Once
	cmd, out := e.start("upload", f, "--dataset", "acceptance-dataset")
	th.hook(func(done int32) {
		if done >= 3 {
			once.Do(func() {
				killed <- done
				cmd.Process.Signal(syscall.SIGKILL)
			})
		}
	})
	err := cmd.Wait()
	th.hook(nil)
	th.delay.Store(0)
	// Let the requests of the dead process drain, as they would long before a
	// lifecycle rule or a person acts on the upload.
	for i := 0; i < 100 && th.inFlight.Load() > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case done := <-killed:
		if err == nil {
			t.Fatalf("the upload finished before the kill:\n%s", out)
		}
		// Answers still on the wire when the process died count as done too.
		return f, max(done, th.partsDone.Load())
	default:
		t.Fatalf("the upload ended before 3 parts were acknowledged: %v\n%s", err, out)
	}
	return "", 0
}

func TestKilledUploadResumes(t *testing.T) {
	e, th := newProxiedEnv(t)
	f, acked := killedMidway(t, e, th)
	resumesSendingOnlyMissingParts(t, e, th, f, acked, "resuming the interrupted upload")
}

// resumesSendingOnlyMissingParts re-runs the upload of f, killed after acked
// of its 8 parts, and checks that the run says resumeNote, sends only the
// missing parts, and leaves one resource holding f and no open upload.
func resumesSendingOnlyMissingParts(t *testing.T, e *testEnv, th *throttle, f string, acked int32, resumeNote string) {
	t.Helper()
	if e.openUploads() != 1 {
		t.Fatalf("%d open uploads after the kill", e.openUploads())
	}
	before := th.parts.Load()
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != 0 || !strings.Contains(r.stderr, resumeNote) {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	second := th.parts.Load() - before
	if missing := 8 - acked; second > missing {
		t.Errorf("the re-run sent %d parts; only %d were missing", second, missing)
	}
	e.checkRegistered("acceptance-dataset", "big.bin", f)
	if e.openUploads() != 0 || len(e.ckan.Resources("acceptance-dataset")) != 1 {
		t.Errorf("open uploads %d, resources %d", e.openUploads(), len(e.ckan.Resources("acceptance-dataset")))
	}
}

// A runner restarted with an empty state directory finds the interrupted
// upload in S3 itself (the key is deterministic) and sends only the parts S3
// lacks, checked against the file by their CRC32C.
func TestKilledUploadResumesWithoutState(t *testing.T) {
	e, th := newProxiedEnv(t)
	f, acked := killedMidway(t, e, th)
	e.vars["XDG_STATE_HOME"] = t.TempDir() // the journal is gone
	resumesSendingOnlyMissingParts(t, e, th, f, acked, "found in S3")
}

func TestKilledBeforeRegistration(t *testing.T) {
	e, th := newProxiedEnv(t)
	f := makeFile(t, t.TempDir(), "done.bin", 12<<20)
	procs := make(chan *os.Process, 1)
	e.ckan.SetIntercept(func(w http.ResponseWriter, r *http.Request, action string) bool {
		if action == "resource_create" {
			p := <-procs
			p.Signal(syscall.SIGKILL)
			procs <- p
			time.Sleep(100 * time.Millisecond)
			return true
		}
		return false
	})
	cmd, out := e.start("upload", f, "--dataset", "acceptance-dataset")
	procs <- cmd.Process
	if err := cmd.Wait(); err == nil {
		t.Fatalf("not killed:\n%s", out)
	}
	e.ckan.SetIntercept(nil)
	if len(e.ckan.Resources("acceptance-dataset")) != 0 {
		t.Fatal("registered before the kill")
	}
	before := th.dataReqs.Load()
	r := e.upload(f, "--dataset", "acceptance-dataset", "--output", "json")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || recs[0].Status != "created" || recs[0].Uploaded {
		t.Fatalf("re-run: exit %d %+v\n%s", r.code, recs, r.stderr)
	}
	if n := th.dataReqs.Load() - before; n != 0 {
		t.Errorf("the re-run sent %d data requests; the object was already complete", n)
	}
	e.checkRegistered("acceptance-dataset", "done.bin", f)
}

func TestFileChangedBetweenRuns(t *testing.T) {
	e, th := newProxiedEnv(t)
	f, _ := killedMidway(t, e, th)
	makeFile(t, filepath.Dir(f), "big.bin", 41<<20) // new content, new size
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != 0 || !strings.Contains(r.stderr, "size changed") || !strings.Contains(r.stderr, "aborting that upload and starting afresh") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "big.bin", f)
	if e.openUploads() != 0 {
		t.Errorf("the old upload was left behind")
	}
}

func TestUploadAbortedBehindOurBack(t *testing.T) {
	e, th := newProxiedEnv(t)
	f, _ := killedMidway(t, e, th)
	out, err := e.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil || len(out.Uploads) != 1 {
		t.Fatalf("%v %v", out, err)
	}
	u := out.Uploads[0]
	if _, err := e.s3.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: aws.String(e.bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
		t.Fatal(err)
	}
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != 0 || !strings.Contains(r.stderr, "no longer exists") || !strings.Contains(r.stderr, "starting afresh") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "big.bin", f)
}

func TestCorruptJournal(t *testing.T) {
	e, th := newProxiedEnv(t)
	f, _ := killedMidway(t, e, th)
	m, _ := filepath.Glob(filepath.Join(e.vars["XDG_STATE_HOME"], "ckanup", "uploads", "*.json"))
	if len(m) != 1 {
		t.Fatalf("journal entries %v", m)
	}
	b, _ := os.ReadFile(m[0])
	if err := os.WriteFile(m[0], b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != 0 || !strings.Contains(r.stderr, "corrupt") || !strings.Contains(r.stderr, "kept a copy") || !strings.Contains(r.stderr, "ckanup uploads list") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e.checkRegistered("acceptance-dataset", "big.bin", f)
}

func TestSecondProcessOnSameFileIsRefused(t *testing.T) {
	e, th := newProxiedEnv(t)
	f := makeFile(t, t.TempDir(), "big.bin", 40<<20)
	th.delay.Store(int64(300 * time.Millisecond))
	started := make(chan struct{})
	var once sync.Once
	th.hook(func(int32) { once.Do(func() { close(started) }) })
	cmd, out := e.start("upload", f, "--dataset", "acceptance-dataset")
	<-started
	r := e.upload(f, "--dataset", "acceptance-dataset")
	if r.code != exitBusy || !strings.Contains(r.stderr, "another ckanup process is uploading this file") {
		t.Errorf("second process: exit %d\n%s", r.code, r.stderr)
	}
	th.delay.Store(0)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first process: %v\n%s", err, out)
	}
	e.checkRegistered("acceptance-dataset", "big.bin", f)
}
