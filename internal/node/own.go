package node

import (
	"crypto/sha256"
	"sync"
)

// ownSetMax bounds the signed messages remembered (about 200 bytes each).
const ownSetMax = 1 << 18

// ownSet remembers the messages this node signed and is publishing, keyed by the SHA-256
// of subject and envelope, so that its own receiver stores them without verifying again
// the signature it has just made: byte-for-byte the same message on the same subject
// passed every check when it was prepared. Anything else, including these bytes on
// another subject or after a restart, is verified as usual. When full, new messages
// are not remembered and are verified.
type ownSet struct {
	mu sync.Mutex
	m  map[[32]byte]*Verified
}

func newOwnSet() *ownSet { return &ownSet{m: map[[32]byte]*Verified{}} }

func ownKey(subject string, data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(data)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (o *ownSet) add(k [32]byte, v *Verified) {
	o.mu.Lock()
	if len(o.m) < ownSetMax {
		o.m[k] = v
	}
	o.mu.Unlock()
}

// take returns and forgets what is known of a remembered message: its signer, id,
// origin and the alert it supersedes, without the decoded alert.
func (o *ownSet) take(k [32]byte) (*Verified, bool) {
	o.mu.Lock()
	v, ok := o.m[k]
	if ok {
		delete(o.m, k)
	}
	o.mu.Unlock()
	return v, ok
}

func (o *ownSet) forget(k [32]byte) {
	o.mu.Lock()
	delete(o.m, k)
	o.mu.Unlock()
}
