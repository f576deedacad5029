package daemon_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
)

// linkProxy forwards TCP connections to target; cutting it closes them and, while it is
// down, closes new ones at once: a leaf link that drops.
type linkProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex // guards below
	down   bool
	conns  map[net.Conn]struct{}
	cuts   int
	dialed int
}

func startLinkProxy(t *testing.T, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut(true)
	})
	return p
}

func (p *linkProxy) addr() string { return p.ln.Addr().String() }

func (p *linkProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *linkProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *linkProxy) pipe(c net.Conn) {
	if !p.track(c) {
		return
	}
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(u) {
		c.Close()
		return
	}
	p.mu.Lock()
	p.dialed++
	p.mu.Unlock()
	closeBoth := func() {
		c.Close()
		u.Close()
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, u)
		p.mu.Unlock()
	}
	go func() { _, _ = io.Copy(u, c); closeBoth() }()
	_, _ = io.Copy(c, u)
	closeBoth()
}

// cut closes every connection through the proxy and sets whether new ones are refused.
func (p *linkProxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	p.cuts++
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *linkProxy) setUp() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestLeafLinkFlapping: every member's leaf link to the hub drops again and again for a
// minute (each on its own schedule: cut, down 0-2 s, up 1-4 s) while NL publishes to all
// members, to the benelux group and to DE alone. Every alert NL acknowledged then arrives
// at BE and DE exactly once, in order per scope, and nothing is quarantined anywhere.
// How long delivery takes to resume after the flapping stops is logged, not asserted:
// JetStream sourcing across the hub resumes on its own schedule (tens of seconds).
func TestLeafLinkFlapping(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of flapping")
	}
	f := startFedNet(t, withLinkProxies)
	nl := f.node("NL")
	subs := map[string]*subscription{
		"BE": subscribe(t, f.node("BE"), &nodev1.SubscribeRequest{}),
		"DE": subscribe(t, f.node("DE"), &nodev1.SubscribeRequest{}),
	}
	scopes := []struct {
		name string
		au   *alertv1.Audience
		to   []string // receivers among BE and DE
	}{
		{"all", &alertv1.Audience{AllMembers: true}, []string{"BE", "DE"}},
		{"benelux", &alertv1.Audience{Groups: []string{"benelux"}}, []string{"BE"}},
		{"DE", &alertv1.Audience{Administrations: []string{"DE"}}, []string{"DE"}},
	}
	sent := map[string][]string{} // scope → ids in the order NL acknowledged them
	scopeOf := map[string]string{}
	send := func(i int) {
		s := scopes[i%len(scopes)]
		id := publish(t, nl, alertFor(s.au)).Id
		sent[s.name] = append(sent[s.name], id)
		scopeOf[id] = s.name
	}

	const flapping = 60 * time.Second
	stop := make(chan struct{})
	var flappers sync.WaitGroup
	for i, code := range []string{"NL", "BE", "DE"} {
		p := f.proxies[code]
		rng := rand.New(rand.NewPCG(uint64(i)+1, 8)) // a fixed schedule per link
		flappers.Add(1)
		go func() {
			defer flappers.Done()
			for {
				select { // up
				case <-stop:
					return
				case <-time.After(time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))):
				}
				p.cut(true)
				select { // down
				case <-stop:
					p.setUp()
					return
				case <-time.After(time.Duration(rng.Int64N(int64(2 * time.Second)))):
				}
				p.setUp()
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(25 * time.Millisecond)
	n := 0
	for time.Since(start) < flapping {
		send(n)
		n++
		<-tick.C
	}
	tick.Stop()
	close(stop)
	flappers.Wait()
	calm := time.Now()
	for i := range scopes { // one more per scope once the links are steady
		send(n + i)
	}
	for code, p := range f.proxies {
		p.mu.Lock()
		t.Logf("%s's link cut %d times, %d connections to the hub", code, p.cuts, p.dialed)
		p.mu.Unlock()
	}
	t.Logf("NL acknowledged %d alerts during %v of flapping (all %d, benelux %d, DE %d)",
		n, flapping, len(sent["all"]), len(sent["benelux"]), len(sent["DE"]))

	want := func(code string) map[string][]string {
		w := map[string][]string{}
		for _, s := range scopes {
			for _, to := range s.to {
				if to == code {
					w[s.name] = sent[s.name]
				}
			}
		}
		return w
	}
	// Each receiver gets every alert meant for it, once, in order per scope. The
	// deadline is generous: the links only just stopped flapping.
	deadline := calm.Add(5 * time.Minute)
	for _, code := range []string{"BE", "DE"} {
		w := want(code)
		total := 0
		for _, ids := range w {
			total += len(ids)
		}
		got := map[string][]string{}
		seen := map[string]bool{}
		var last time.Time
		for len(seen) < total {
			a := subs[code].nextAlert(t, time.Until(deadline))
			id := a.GetAlert().GetId()
			s, ok := scopeOf[id]
			if !ok || seen[id] || w[s] == nil {
				t.Fatalf("%s received %s (scope %q, seen before: %v), not an alert for it or twice", code, id, s, seen[id])
			}
			seen[id] = true
			got[s] = append(got[s], id)
			last = time.Now()
		}
		for s, ids := range w {
			if strings.Join(got[s], ",") != strings.Join(ids, ",") {
				t.Fatalf("%s: scope %s arrived out of order", code, s)
			}
		}
		t.Logf("%s had all %d alerts %v after the links settled", code, total, last.Sub(calm).Round(time.Millisecond))
	}

	// Nothing was stored twice: after an end marker in every scope, each receiver's feed
	// from its start holds exactly what was sent to it.
	ends := map[string]string{}
	for _, s := range scopes {
		ends[s.name] = publish(t, nl, alertFor(s.au)).Id
		scopeOf[ends[s.name]] = s.name
	}
	for _, code := range []string{"BE", "DE"} {
		w := want(code)
		sub := subscribe(t, f.node(code), &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_EARLIEST})
		got := map[string][]string{}
		for pending := len(w); pending > 0; {
			id := sub.nextAlert(t, time.Until(deadline)).GetAlert().GetId()
			s := scopeOf[id]
			if id == ends[s] {
				pending--
				continue
			}
			got[s] = append(got[s], id)
		}
		for s, ids := range w {
			if strings.Join(got[s], ",") != strings.Join(ids, ",") {
				t.Fatalf("%s's feed holds %d alerts of scope %s, want the %d sent, once and in order", code, len(got[s]), s, len(ids))
			}
		}
		for s := range got {
			if w[s] == nil {
				t.Fatalf("%s's feed holds alerts of scope %s, not meant for it", code, s)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, code := range []string{"NL", "BE", "DE"} {
		q, err := f.node(code).admin.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(q.GetMessages()) != 0 {
			t.Fatalf("%s quarantined %d messages, first %v", code, len(q.GetMessages()), q.GetMessages()[0])
		}
	}
}
