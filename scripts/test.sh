#!/usr/bin/env bash
# The project's test command: installs what is missing, starts the S3 servers the
# integration tests need (versitygw, moto), runs go vet, a gofmt check, the race-
# enabled tests and a short run of every fuzz target, then stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSITYGW_VERSION=v1.8.0
GOVULNCHECK_VERSION=v1.9.0
# Releases are built with this toolchain (see .goreleaser.yaml): it carries the
# standard library fixes that the machine's own Go may lack.
RELEASE_TOOLCHAIN=go1.27.3
# SeaweedFS enforces STS session policies (moto does not). Its weed command does
# not `go install` (replace directives), so it is built from a writable copy of
# the module's source and cached: about 7 minutes and 2.7 GB of RAM the first time.
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ckanup-test"
FUZZTIME=${FUZZTIME:-10s}
work=$(mktemp -d "${TMPDIR:-/tmp}/ckanup-test.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf '==> %s\n' "$*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # url name logfile
  for _ in $(seq 1 150); do
    if python3 - "$1" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass  # any HTTP answer means the server is up
PY
    sleep 0.2
  done
  echo "$2 did not start; its log:" >&2
  cat "$3" >&2
  exit 1
}

# --- SeaweedFS weed, built in the background while the other tests run
mkdir -p "$cache"
weed="$cache/weed-$WEED_VERSION"
weed_build=""
if ! [ -x "$weed" ]; then
  log "building SeaweedFS weed $WEED_VERSION in the background (about 7 minutes the first time)"
  (
    set -e
    dir=$(go mod download -json "github.com/seaweedfs/seaweedfs@$WEED_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    cp -r "$dir" "$work/seaweedfs-src"
    chmod -R u+w "$work/seaweedfs-src"
    cd "$work/seaweedfs-src"
    go build -o "$weed.tmp" ./weed
    mv "$weed.tmp" "$weed"
  ) >"$work/weed-build.log" 2>&1 &
  weed_build=$!
  pids+=("$weed_build")
fi

# --- MinIO (store matrix), part 1 of 2: its server is built from the Go module's
# source in the background, into the cache (GOBIN is a temporary directory there,
# so an interrupted run leaves the go build cache warm and no half-written binary
# in use). About 40 minutes of 2 busy shared cores the first time; cached after.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
minio="$cache/minio-$MINIO_VERSION"
minio_build=""
if ! [ -x "$minio" ]; then
  log "building MinIO $MINIO_VERSION in the background (long the first time; cached in $cache)"
  (
    set -e
    GOBIN="$minio.building" go install "github.com/minio/minio@$MINIO_VERSION"
    mv "$minio.building/minio" "$minio"
    rmdir "$minio.building"
  ) >"$work/minio-build.log" 2>&1 &
  minio_build=$!
  pids+=("$minio_build")
fi
# --- end of MinIO part 1

# --- versitygw (real S3 semantics: signatures, Content-MD5, checksums, part order)
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
vgw="$gobin/versitygw"
if ! [ -x "$vgw" ] || ! go version -m "$vgw" 2>/dev/null | grep -Eq "^\s+mod\s+github.com/versity/versitygw\s+$VERSITYGW_VERSION\b"; then
  log "installing versitygw $VERSITYGW_VERSION (a few minutes the first time)"
  go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
fi
vgw_port=$(free_port)
mkdir -p "$work/versitygw"
vgw_key=ckanupit$RANDOM$RANDOM
vgw_secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$vgw" -p "127.0.0.1:$vgw_port" -a "$vgw_key" -s "$vgw_secret" posix "$work/versitygw" >"$work/versitygw.log" 2>&1 &
pids+=($!)

# --- moto (lenient S3 and STS)
if ! python3 -c 'import moto.server' 2>/dev/null; then
  echo "moto is not installed for python3 (pip install 'moto[server]')" >&2
  exit 1
fi
moto_port=$(free_port)
python3 -m moto.server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)

wait_http "http://127.0.0.1:$vgw_port/" versitygw "$work/versitygw.log"
wait_http "http://127.0.0.1:$moto_port/" moto "$work/moto.log"
log "versitygw on :$vgw_port, moto on :$moto_port"

export CKANUP_IT_VERSITYGW_URL="http://127.0.0.1:$vgw_port"
export CKANUP_IT_VERSITYGW_KEY="$vgw_key"
export CKANUP_IT_VERSITYGW_SECRET="$vgw_secret"
export CKANUP_IT_MOTO_URL="http://127.0.0.1:$moto_port"
export CKANUP_IT_REQUIRE=1
export CKANUP_IT_LARGE=${CKANUP_IT_LARGE:-1}

log "go vet"
go vet ./...
log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
log "go test -race"
go test -race -count=1 -timeout 20m ./...

if [ -n "$weed_build" ]; then
  log "waiting for the SeaweedFS build"
  wait "$weed_build" || { echo "building SeaweedFS failed:" >&2; tail -50 "$work/weed-build.log" >&2; exit 1; }
fi
log "STS session policies enforced by SeaweedFS"
CKANUP_IT_WEED="$weed" CKANUP_IT_REQUIRE_WEED=1 go test -race -count=1 -run 'TestSeaweedFS' ./cmd/ckanup

# --- MinIO (store matrix), part 2 of 2: wait for the build, start the server on
# a free port, run the store matrix against it, stop it.
if [ -n "$minio_build" ]; then
  log "waiting for the MinIO build"
  wait "$minio_build" || { echo "building MinIO failed:" >&2; tail -50 "$work/minio-build.log" >&2; exit 1; }
fi
minio_port=$(free_port)
minio_console=$(free_port)
mkdir -p "$work/minio"
minio_key=ckanupit$RANDOM$RANDOM
minio_secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
MINIO_ROOT_USER="$minio_key" MINIO_ROOT_PASSWORD="$minio_secret" MINIO_BROWSER=off \
  "$minio" server --quiet --address "127.0.0.1:$minio_port" --console-address "127.0.0.1:$minio_console" "$work/minio" >"$work/minio.log" 2>&1 &
minio_pid=$!
pids+=("$minio_pid")
wait_http "http://127.0.0.1:$minio_port/minio/health/live" MinIO "$work/minio.log"
log "store matrix on MinIO (:$minio_port), versitygw, moto and the strict no-checksum double"
CKANUP_IT_MINIO_URL="http://127.0.0.1:$minio_port" CKANUP_IT_MINIO_KEY="$minio_key" CKANUP_IT_MINIO_SECRET="$minio_secret" \
  CKANUP_IT_REQUIRE_MINIO=1 go test -race -count=1 -run 'TestStoreMatrix|TestStoreChecks' ./internal/s3client
kill "$minio_pid" 2>/dev/null || true
# --- end of MinIO part 2

log "fuzz targets, $FUZZTIME each"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    log "  $pkg $target"
    # The fuzzing engine can report "context deadline exceeded" when a worker
    # stalls on a busy machine without any input failing; that alone earns one
    # more try. A real finding says "Failing input written to" and fails at once.
    for try in 1 2; do
      if go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" "$pkg" >"$work/fuzz.log" 2>&1; then
        break
      fi
      if [ "$try" = 2 ] || grep -q "Failing input written to" "$work/fuzz.log" || ! grep -q "context deadline exceeded" "$work/fuzz.log"; then
        cat "$work/fuzz.log" >&2
        exit 1
      fi
      log "  $target: the fuzzing engine stalled without a failing input; once more"
    done
  done
done
log "govulncheck $GOVULNCHECK_VERSION with $RELEASE_TOOLCHAIN, offline database built from golang.org/x/vulndb@latest"
vulndb_dir=$(go mod download -json golang.org/x/vulndb@latest | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["Dir"] + " " + d["Version"])')
vulndb_ver=${vulndb_dir#* }
vulndb_dir=${vulndb_dir% *}
GOTOOLCHAIN=$RELEASE_TOOLCHAIN GOBIN="$work/bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
GOTOOLCHAIN=$RELEASE_TOOLCHAIN go run "golang.org/x/vulndb/cmd/indexdb@$vulndb_ver" -vulns "$vulndb_dir/data/osv" -out "$work/vulndb"
GOTOOLCHAIN=$RELEASE_TOOLCHAIN "$work/bin/govulncheck" -db "file://$work/vulndb" ./...

log "all tests passed"
