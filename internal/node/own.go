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
	// peak is the most entries m has held since it was made: a Go map keeps the room of
	// its peak after its entries are deleted (some 48 bytes per entry), so once it holds
	// a small part of its peak it is copied into a smaller one (shrink).
	peak int
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
		o.peak = max(o.peak, len(o.m))
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
		o.shrink()
	}
	o.mu.Unlock()
	return v, ok
}

func (o *ownSet) forget(k [32]byte) {
	o.mu.Lock()
	delete(o.m, k)
	o.shrink()
	o.mu.Unlock()
}

// shrinkFrom is the peak from which the set is copied into a smaller map once it holds
// a sixteenth of it; below it the room kept is at most some 200 KB.
const shrinkFrom = 1 << 12

// shrink copies m into a map of its size once it holds a sixteenth of its peak: the
// copy costs as many insertions as the entries it moves, at most a sixteenth of those
// made since the last copy. o.mu is held.
func (o *ownSet) shrink() {
	if o.peak < shrinkFrom || len(o.m) > o.peak/16 {
		return
	}
	m := make(map[[32]byte]*Verified, len(o.m))
	for k, v := range o.m {
		m[k] = v
	}
	o.m, o.peak = m, len(m)
}
