package node

import (
	"encoding/binary"
	"testing"
)

// TestOwnSetShrinks: once the set holds a sixteenth of its peak it is copied into a map
// of its size (a Go map keeps the room of its peak), and nothing remembered is lost.
func TestOwnSetShrinks(t *testing.T) {
	o := newOwnSet()
	key := func(i int) (k [32]byte) {
		binary.BigEndian.PutUint64(k[:], uint64(i))
		return k
	}
	const n = 3 * shrinkFrom
	for i := range n {
		o.add(key(i), &Verified{id: string(rune('a' + i%26))})
	}
	if o.peak != n {
		t.Fatalf("peak %d after %d additions", o.peak, n)
	}
	keep := n / 32 // below a sixteenth of the peak
	for i := keep; i < n; i++ {
		if _, ok := o.take(key(i)); !ok {
			t.Fatalf("entry %d lost", i)
		}
	}
	if len(o.m) != keep || o.peak > n/16 {
		t.Fatalf("after taking all but %d: %d entries, peak %d; want the map copied (peak at most %d)", keep, len(o.m), o.peak, n/16)
	}
	for i := range keep {
		if v, ok := o.take(key(i)); !ok || v.id != string(rune('a'+i%26)) {
			t.Fatalf("entry %d after the copy: %v %v", i, v, ok)
		}
	}
	// Below shrinkFrom the map is kept.
	small := newOwnSet()
	for i := range shrinkFrom - 1 {
		small.add(key(i), &Verified{})
	}
	for i := range shrinkFrom - 1 {
		small.forget(key(i))
	}
	if small.peak != shrinkFrom-1 {
		t.Fatalf("a set below %d entries was copied: peak %d", shrinkFrom, small.peak)
	}
}
