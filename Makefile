.PHONY: demo test build vet

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
