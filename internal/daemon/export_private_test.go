package daemon

import "github.com/nats-io/nats.go"

// PrivateConn is the node's connection to its leaf's private account (nil outside
// federation mode), for the tests.
func (d *Daemon) PrivateConn() *nats.Conn { return d.pc }

// SetSourceRestarts turns the restarts of stalled inbound sources on or off (on by
// default), for tests measuring nats-server's own recovery; it returns the setting before.
func SetSourceRestarts(on bool) bool { return !sourceRestartsOff.Swap(!on) }
