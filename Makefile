.PHONY: demo test build vet bench bench-smoke

# Upload a sample file end to end against the local sandbox.
demo:
	go run ./cmd/ckanup demo

# Install and start the S3 test servers, vet, gofmt, go test -race, fuzz briefly.
test:
	./scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -o ckanup ./cmd/ckanup

vet:
	go vet ./...

# Measure ckanup against aws-cli, rclone, a bare SDK loop and curl on versitygw
# (about 20 minutes) and write docs/performance.md. Pass flags with BENCHFLAGS,
# e.g. make bench BENCHFLAGS='-cases https-1g -rounds 3'.
bench:
	go run ./bench $(BENCHFLAGS)

# Every benchmark client once on a tiny input; checks each object arrives intact.
bench-smoke:
	go run ./bench -smoke
