# Convenience targets; the test command itself is `bash .ci/test` (no make needed).
BUF := .ci/tools/bin/buf

.PHONY: all build test generate checkgenerate lint fuzz demo clean

all: build

build:
	go build -o bin/ ./cmd/...

test:
	bash .ci/test

$(BUF): .ci/tools/go.mod
	cd .ci/tools && go build -o bin/buf github.com/bufbuild/buf/cmd/buf

generate: $(BUF)
	$(BUF) generate

lint: $(BUF)
	$(BUF) lint
	go vet ./...

# Longer fuzzing of every target (crashers are saved under testdata/fuzz).
fuzz:
	FUZZTIME=$${FUZZTIME:-2m} bash .ci/test

demo:
	go run ./cmd/cix demo

clean:
	rm -rf bin .ci/tools/bin
