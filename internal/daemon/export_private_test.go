package daemon

import "github.com/nats-io/nats.go"

// PrivateConn is the node's connection to its leaf's private account (nil outside
// federation mode), for the tests.
func (d *Daemon) PrivateConn() *nats.Conn { return d.pc }
