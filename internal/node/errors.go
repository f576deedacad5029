package node

import (
	"errors"
	"fmt"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
)

// Errors callers branch on. The API maps them to gRPC codes.
var (
	// ErrPermission: the caller may not do this (for example publish for another
	// administration).
	ErrPermission = errors.New("permission denied")
	// ErrNotFound: no such alert in this node's feed.
	ErrNotFound = errors.New("not found")
	// ErrOutOfRange: a cursor beyond the end of the feed.
	ErrOutOfRange = errors.New("out of range")
	// ErrUnavailable: a dependency (stream, key) is unavailable; retry later.
	ErrUnavailable = errors.New("unavailable")
	// ErrNoSigningKey: the node has no key it may sign with (certificate expired while
	// its issuer was unreachable, or revoked). Its message is safe to show to clients.
	ErrNoSigningKey = errors.New("no usable signing key")
	// ErrStoreFull (with ErrUnavailable): the alert stream refused to store an alert for
	// lack of space; nothing was stored.
	ErrStoreFull = bus.ErrStoreFull
	// ErrUnsupported: the operation is not available in the node's configuration (for
	// example notices on the federation layout).
	ErrUnsupported = errors.New("not supported")
)

// invalid returns a validation error for one field of a request.
func invalid(field, format string, args ...any) error {
	return &alert.ValidationError{Subject: "request", Violations: []alert.FieldViolation{{Field: field, Description: fmt.Sprintf(format, args...)}}}
}
