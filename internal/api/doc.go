// Package api is the gRPC edge of a cix node: it implements cix.node.v1's NodeService and
// AdminService on top of package node, maps domain errors to gRPC status codes in one
// place (status.go), and assembles the server with health, reflection, logging and panic
// recovery.
package api
