package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// item is one value of a publish input.
type item struct {
	n     int // 1-based position in the input
	line  int // line where the value starts
	alert *alertv1.Alert
	// err is set when the value could not be decoded; it is not sent.
	err error
	// fatal is set when the input cannot be read past this item (broken JSON).
	fatal bool
}

// alertDecoder reads successive JSON values (one pretty-printed alert, or JSON lines)
// and decodes each as a cix.alert.v1.Alert. Unknown fields are an error.
type alertDecoder struct {
	lr      *lineReader
	dec     *json.Decoder
	n       int
	prevEnd int64
	done    bool
}

func newAlertDecoder(r io.Reader) *alertDecoder {
	lr := &lineReader{r: bufio.NewReaderSize(r, 256<<10)}
	return &alertDecoder{lr: lr, dec: json.NewDecoder(lr)}
}

// next returns the next item, or nil at the end of the input (or after a fatal item).
func (d *alertDecoder) next() *item {
	if d.done {
		return nil
	}
	var raw json.RawMessage
	err := d.dec.Decode(&raw)
	if errors.Is(err, io.EOF) {
		d.done = true
		return nil
	}
	d.n++
	if err != nil {
		d.done = true
		it := &item{n: d.n, fatal: true}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			it.line = d.lr.lineAt(se.Offset)
			it.err = fmt.Errorf("invalid JSON: %w; input not read further", err)
		} else {
			it.line = d.lr.lineAt(d.prevEnd + 1)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				it.err = errors.New("input ends inside a JSON value")
			} else {
				it.err = fmt.Errorf("read input: %w", err)
			}
		}
		return it
	}
	end := d.dec.InputOffset()
	d.prevEnd = end
	it := &item{n: d.n, line: d.lr.lineAt(end - int64(len(raw)))}
	a := &alertv1.Alert{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(raw, a); err != nil {
		it.err = fmt.Errorf("decode alert: %w", err)
		return it
	}
	it.alert = a
	return it
}

// bytesRead is how much of the input has been read, for progress.
func (d *alertDecoder) bytesRead() int64 { return d.lr.off.Load() }

// lineReader counts lines as the JSON decoder reads: it keeps the offsets of the
// newlines read but not yet passed by lineAt, so memory stays bounded by the
// decoder's read-ahead.
type lineReader struct {
	r     io.Reader
	off   atomic.Int64 // bytes read so far (read by the progress display)
	nl    []int64      // offsets of newlines at or after the last lineAt offset
	lines int          // newlines before the last lineAt offset
}

func (lr *lineReader) Read(p []byte) (int, error) {
	n, err := lr.r.Read(p)
	base := lr.off.Load()
	for i, c := range p[:n] {
		if c == '\n' {
			lr.nl = append(lr.nl, base+int64(i))
		}
	}
	lr.off.Add(int64(n))
	return n, err
}

// lineAt returns the 1-based line of byte offset off. Offsets must not decrease from
// one call to the next.
func (lr *lineReader) lineAt(off int64) int {
	i := 0
	for i < len(lr.nl) && lr.nl[i] < off {
		i++
	}
	lr.lines += i
	lr.nl = lr.nl[i:]
	return lr.lines + 1
}
