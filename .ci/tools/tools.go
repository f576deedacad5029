//go:build tools

// Package tools pins buf, which .ci/run builds from the Go module proxy. It lives in its
// own module so buf's many dependencies stay out of cix's go.mod. The protoc plugins are
// `tool` directives of the main module, so they always match its protobuf runtime.
package tools

import (
	_ "github.com/bufbuild/buf/cmd/buf"
)
