package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// regularFileSize returns the size of r when it is a regular file, else 0.
func regularFileSize(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}

// Progress display settings.
const (
	progressRedraw = 100 * time.Millisecond // at most this often on a terminal
	progressEvery  = 10000                  // items between lines otherwise
	progressWidth  = 20                     // characters of the bar
)

// progress shows how a bulk publish advances. On a terminal it redraws one line with
// \r at most every 100ms (with a bar when the input size is known); otherwise it prints
// a line every 10,000 items.
type progress struct {
	w     io.Writer
	tty   bool
	total int64        // input size in bytes, 0 when unknown
	read  func() int64 // input bytes read so far
	now   func() time.Time
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, tty bool, total int64, read func() int64, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &progress{w: w, tty: tty, total: total, read: read, now: now, start: t, last: t}
}

// update is called after each result with the counts so far.
func (p *progress) update(c *counts) {
	done := c.total()
	if !p.tty {
		if done%progressEvery == 0 {
			fmt.Fprintf(p.w, "progress: %s\n", p.status(c))
		}
		return
	}
	now := p.now()
	if now.Sub(p.last) < progressRedraw {
		return
	}
	p.last = now
	// Short enough for an 80-column terminal: a wrapped line cannot be redrawn.
	line := fmt.Sprintf("%d done, %d dup, %d failed, %.0f/s", c.total(), c.duplicates, c.failed, p.rate(c))
	if p.total > 0 && p.read != nil {
		frac := min(float64(p.read())/float64(p.total), 1)
		n := int(frac * progressWidth)
		line = fmt.Sprintf("[%s%s] %3.0f%%  %s", strings.Repeat("#", n), strings.Repeat(".", progressWidth-n), 100*frac, line)
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

func (p *progress) status(c *counts) string {
	return fmt.Sprintf("%d items: published %d, duplicates %d, failed %d (%.0f alerts/s)",
		c.total(), c.published, c.duplicates, c.failed, p.rate(c))
}

func (p *progress) rate(c *counts) float64 {
	if el := p.now().Sub(p.start).Seconds(); el > 0 {
		return float64(c.total()) / el
	}
	return 0
}

// finish clears the progress line on a terminal.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// counts are the outcomes of a publish so far.
type counts struct {
	published, duplicates, failed int
}

func (c *counts) total() int { return c.published + c.duplicates + c.failed }
