package cli

import (
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressNotATerminal(t *testing.T) {
	var b strings.Builder
	clock := &fakeClock{t: time.Unix(0, 0)}
	p := newProgress(&b, false, 0, nil, clock.now)
	c := &counts{}
	for i := 1; i <= 25000; i++ {
		if i%3 == 0 {
			c.failed++
		} else {
			c.published++
		}
		clock.t = clock.t.Add(time.Millisecond)
		p.update(c)
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || lines[0] != "progress: 10000 items: published 6667, duplicates 0, failed 3333 (1000 alerts/s)" ||
		!strings.HasPrefix(lines[1], "progress: 20000 items: ") {
		t.Fatalf("progress lines:\n%s", b.String())
	}
}

func TestProgressTerminal(t *testing.T) {
	var b strings.Builder
	clock := &fakeClock{t: time.Unix(0, 0)}
	read := int64(0)
	p := newProgress(&b, true, 1000, func() int64 { return read }, clock.now)
	c := &counts{}
	for i := 1; i <= 100; i++ { // 10ms apart: a redraw every 10 items at most
		c.published++
		read = int64(i * 10)
		clock.t = clock.t.Add(10 * time.Millisecond)
		p.update(c)
	}
	p.finish()
	out := b.String()
	if n := strings.Count(out, "\r\033[K"); n != 11 { // 10 redraws and the final clear
		t.Fatalf("%d redraws:\n%q", n, out)
	}
	if !strings.Contains(out, "[##########..........]  50%  50 done, 0 dup, 0 failed, 100/s") {
		t.Fatalf("no half-way bar in %q", out)
	}
	if !strings.HasSuffix(out, "\r\033[K") || strings.Contains(out, "\n") {
		t.Fatalf("terminal output %q", out)
	}
}
