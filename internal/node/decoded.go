package node

import (
	"bytes"
	"sync"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
)

// decodedSize is how many feed positions decodedCache remembers: readers following the
// feed within that distance of each other share their decoding.
const decodedSize = 1024

// decodedCache remembers the last decoded feed entries, by position. A node has several
// readers of its feed that follow it together (each Subscribe client, the search
// index, the watchlists); with it they decode (and decrypt) each alert once instead of
// once each. The messages it hands out are shared: decodeEntry builds a VerifiedAlert
// per reader around them, and nothing may modify the Alert or the Envelope of a
// VerifiedAlert (no code does: a reclassification is set on the VerifiedAlert, and
// filters clone the alert they change). Proto messages are safe for concurrent
// reading, marshalling included.
type decodedCache struct {
	mu   sync.Mutex
	slot [decodedSize]decodedEntry
}

type decodedEntry struct {
	seq uint64
	raw []byte // the envelope bytes decoded: a position holds other bytes after a feed reset
	env *envelopev1.Envelope
	a   *alertv1.Alert
}

// get returns the decoding of raw at position seq if it is remembered.
func (c *decodedCache) get(seq uint64, raw []byte) (*envelopev1.Envelope, *alertv1.Alert, bool) {
	c.mu.Lock()
	d := c.slot[seq%decodedSize]
	c.mu.Unlock()
	if d.env == nil || d.seq != seq || !bytes.Equal(d.raw, raw) {
		return nil, nil, false
	}
	return d.env, d.a, true
}

// put remembers the decoding of raw at position seq, in place of the position that
// shared its slot.
func (c *decodedCache) put(seq uint64, raw []byte, env *envelopev1.Envelope, a *alertv1.Alert) {
	c.mu.Lock()
	c.slot[seq%decodedSize] = decodedEntry{seq: seq, raw: raw, env: env, a: a}
	c.mu.Unlock()
}
