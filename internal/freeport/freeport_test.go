package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestPortsBelowEphemeralRangeAndDistinct: ports come from below the kernel's ephemeral
// range, are never repeated, and can be listened on.
func TestPortsBelowEphemeralRangeAndDistinct(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if p < lowest || p >= ephemeralLow() {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, ephemeralLow())
		}
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("listen on port %d: %v", p, err)
		}
		l.Close()
	}
}

// TestPortSkipsPortsInUse: a port something listens on is not returned.
func TestPortSkipsPortsInUse(t *testing.T) {
	once.Do(setRange)
	mu.Lock()
	savedLo, savedHi := lo, hi
	lo, hi = 20000, 20010 // ten ports, all held but one
	mu.Unlock()
	t.Cleanup(func() { mu.Lock(); lo, hi = savedLo, savedHi; mu.Unlock() })
	free := 0
	for p := 20000; p < 20010; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue // in use elsewhere: unavailable all the same
		}
		if free == 0 && !given[p] {
			free = p
			l.Close()
			continue
		}
		t.Cleanup(func() { l.Close() })
	}
	if free == 0 {
		t.Skip("none of the ports 20000-20009 can be listened on here")
	}
	// 200 draws among ten ports: the free one is drawn (a miss has odds 0.9^200).
	p, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	if p != free {
		t.Fatalf("Port returned %d, which is in use; the free one is %d", p, free)
	}
	if _, err := Port(); err == nil {
		t.Fatal("Port returned a port when none was left")
	}
}
