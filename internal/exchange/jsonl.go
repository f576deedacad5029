package exchange

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cix-exchange/cix/internal/envelope"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// maxLine bounds one line of a JSON lines file.
const maxLine = envelope.MaxEnvelopeSize

// readLines calls fn with each non-blank line and its number. A line longer than
// maxLine, or a read error, ends the input with an error for that line.
func readLines(r io.Reader, fn func(n int, line []byte) bool) *RowError {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !fn(n, line) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		reason := "unreadable: " + err.Error()
		if errors.Is(err, bufio.ErrTooLong) {
			reason = fmt.Sprintf("line longer than %d bytes", maxLine)
		}
		return &RowError{Row: n + 1, Reason: reason + "; not read further"}
	}
	return nil
}

// ReadJSONL reads one cix.alert.v1.Alert in the protobuf JSON mapping per line. Blank
// lines are skipped; unknown fields are errors.
func ReadJSONL(r io.Reader) []Row {
	var rows []Row
	end := readLines(r, func(n int, line []byte) bool {
		if len(rows) == MaxImportRows {
			rows = append(rows, Row{N: n, Errors: []RowError{{Row: n, Reason: fmt.Sprintf("more than %d rows; not read further", MaxImportRows)}}})
			return false
		}
		a := &alertv1.Alert{}
		if err := protojson.Unmarshal(line, a); err != nil {
			rows = append(rows, Row{N: n, Errors: []RowError{{Row: n, Reason: "not a cix.alert.v1.Alert in JSON: " + strings.TrimPrefix(err.Error(), "proto: ")}}})
			return true
		}
		rows = append(rows, Row{N: n, Alert: a})
		return true
	})
	if end != nil {
		rows = append(rows, Row{N: end.Row, Errors: []RowError{*end}})
	}
	return rows
}
