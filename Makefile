.PHONY: demo test build vet bench bench-smoke docs snapshot

# Upload a sample file end to end against the local sandbox.
demo:
	go run ./cmd/ckanup demo

# Check prerequisites, build and start the test servers, vet, gofmt, go test -race,
# fuzz briefly, govulncheck, goreleaser's snapshot release (see README, Development).
test:
	./scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -o ckanup ./cmd/ckanup

vet:
	go vet ./...

# Measure ckanup against aws-cli, rclone, a bare SDK loop and curl on versitygw
# (about 35 minutes on 2 cores) and write docs/performance.md. Pass flags with BENCHFLAGS,
# e.g. make bench BENCHFLAGS='-cases https-1g -rounds 3'.
bench:
	go run ./bench $(BENCHFLAGS)

# Every benchmark client once on a tiny input; checks each object arrives intact.
bench-smoke:
	go run ./bench -smoke

# Regenerate docs/reference/ from the commands (TestReferenceDocsUpToDate checks it).
docs:
	go run ./cmd/ckanup gen-docs --markdown docs/reference

# The release build without publishing: six archives, .deb and .rpm in dist/
# (goreleaser v2.15.1: go install github.com/goreleaser/goreleaser/v2@v2.15.1).
snapshot:
	goreleaser release --snapshot --clean
