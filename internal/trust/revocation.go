package trust

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Revoked is what one verified revocation notice withdraws, from EffectiveAt on (as the
// time a message was stored). Exactly one of KeyID, Node (alone) and SealMinVersion
// says what.
type Revoked struct {
	// Administration that issued the notice; it revokes only its own keys.
	Administration string
	// Node whose keys are revoked: the one certificate KeyID if set, else every
	// certificate of the node issued before EffectiveAt.
	Node string
	// KeyID of one node certificate.
	KeyID string
	// SealMinVersion retires every seal version below it.
	SealMinVersion int
	// EffectiveAt is the first storage time at which the revocation applies.
	EffectiveAt time.Time
}

// Validate checks that r names exactly one target of its administration.
func (r Revoked) Validate() error {
	switch {
	case !adminRE.MatchString(r.Administration):
		return fmt.Errorf("administration %q is not an ISO 3166 alpha-2 code", r.Administration)
	case r.EffectiveAt.IsZero():
		return errors.New("no effective time")
	case r.SealMinVersion < 0:
		return fmt.Errorf("seal minimum version %d", r.SealMinVersion)
	case r.SealMinVersion > 0:
		if r.Node != "" || r.KeyID != "" {
			return errors.New("a seal retirement names no node or key")
		}
	case !ValidNodeName(r.Node):
		return fmt.Errorf("node %q is not a node name", r.Node)
	case r.KeyID != "" && !validKeyID(r.KeyID):
		return fmt.Errorf("key id %q is not a hex SHA-256", r.KeyID)
	}
	return nil
}

func validKeyID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Revoke applies a verified revocation notice: from r.EffectiveAt on, what it names no
// longer verifies. Applying the same notice twice changes nothing; several notices on
// the same key keep the earliest effective time.
func (v *Verifier) Revoke(r Revoked) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	v.revoked.add(r)
	return nil
}

// Revoked says why the key certified by chain is revoked for a message stored at t, or
// "" when it is not. A node checks its own key with it before signing.
func (v *Verifier) Revoked(chain [][]byte, t time.Time) (string, error) {
	if len(chain) == 0 {
		return "", errors.New("no certificate")
	}
	c, err := v.chain(KeyID(chain[0]), chain)
	if err != nil {
		return "", err
	}
	return v.revoked.check(c, t), nil
}

// RevocationGeneration changes whenever a revocation is applied: a result of Revoked
// stays true while it does not change.
func (v *Verifier) RevocationGeneration() uint64 { return v.revoked.gen.Load() }

// revocations holds what notices revoked. Lookups are on the verification path of
// every message, so they take a read lock and a map lookup or two.
type revocations struct {
	gen   atomic.Uint64 // counts notices applied, so callers can cache a check
	mu    sync.RWMutex
	keys  map[string]time.Time   // node key id -> effective
	nodes map[string][]time.Time // ADMIN/node -> effective times (certificates issued before)
	seals map[string][]sealRetirement
}

type sealRetirement struct {
	min int
	at  time.Time
}

func newRevocations() *revocations {
	return &revocations{keys: map[string]time.Time{}, nodes: map[string][]time.Time{}, seals: map[string][]sealRetirement{}}
}

func (rs *revocations) add(r Revoked) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	defer rs.gen.Add(1)
	switch {
	case r.SealMinVersion > 0:
		rs.seals[r.Administration] = append(rs.seals[r.Administration], sealRetirement{r.SealMinVersion, r.EffectiveAt})
	case r.KeyID != "":
		if t, ok := rs.keys[r.KeyID]; !ok || r.EffectiveAt.Before(t) {
			rs.keys[r.KeyID] = r.EffectiveAt
		}
	default:
		k := r.Administration + "/" + r.Node
		for _, t := range rs.nodes[k] {
			if t.Equal(r.EffectiveAt) {
				return
			}
		}
		rs.nodes[k] = append(rs.nodes[k], r.EffectiveAt)
	}
}

// check says why c is revoked for a message stored at t, or "" when it is not.
func (rs *revocations) check(c *cachedChain, t time.Time) string {
	p := c.principal
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if p.SealVersion != 0 {
		for _, s := range rs.seals[p.Administration] {
			if p.SealVersion < s.min && !t.Before(s.at) {
				return fmt.Sprintf("%s retired (minimum version %d) since %s", p.Name(), s.min, stamp(s.at))
			}
		}
		return ""
	}
	if at, ok := rs.keys[p.KeyID]; ok && !t.Before(at) {
		return fmt.Sprintf("key %s of %s revoked since %s", short(p.KeyID), p.Name(), stamp(at))
	}
	for _, at := range rs.nodes[p.Administration+"/"+p.Node] {
		if c.issuedAt.Before(at) && !t.Before(at) {
			return fmt.Sprintf("certificates of %s issued before %s revoked", p.Name(), stamp(at))
		}
	}
	return ""
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
