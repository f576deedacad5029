// Package freeport picks loopback TCP ports for servers whose configuration must name
// their port before they start: a hub and leaves that find each other by port, a leaf
// restarted where its peers look for it, a Vault server started as a child process.
//
// A port the kernel gives a listener on port 0 comes from the ephemeral range, the same
// range it gives every outgoing connection a local port from. Between the pick and the
// server's bind, a connection of this or another process (a parallel test package) can
// take it, and the server then does not start. Port picks from below that range, where
// the kernel never assigns a port on its own, at random, and checks that it can listen
// on it; it never returns the same port twice in one process.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

const (
	lowest         = 10000 // below it are the well-known and registered ports most services use
	ephemeralStart = 32768 // Linux's default start of the ephemeral range
)

var (
	once   sync.Once
	mu     sync.Mutex
	given  = map[int]bool{}
	lo, hi int // the range Port picks from; hi == 0: the kernel picks
)

func setRange() {
	lo, hi = lowest, ephemeralLow()
	if hi-lo < 1000 {
		hi = 0 // an unusual ephemeral range: fall back to the kernel's pick
	}
}

// Port returns a loopback TCP port that was free a moment ago, outside the ephemeral
// range, not returned before by this process.
func Port() (int, error) {
	once.Do(setRange)
	mu.Lock()
	defer mu.Unlock()
	if hi == 0 {
		return ephemeral()
	}
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if given[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue // in use
		}
		if err := l.Close(); err != nil {
			return 0, err
		}
		given[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free port found below the ephemeral range")
}

// MustPort is Port for tests: it panics when no port is found.
func MustPort() int {
	p, err := Port()
	if err != nil {
		panic(err)
	}
	return p
}

// MustAddr is MustPort as a loopback address, 127.0.0.1:<port>.
func MustAddr() string { return "127.0.0.1:" + strconv.Itoa(MustPort()) }

// ephemeralLow reads the start of the kernel's ephemeral port range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return ephemeralStart
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return ephemeralStart
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return ephemeralStart
	}
	return lo
}

func ephemeral() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
