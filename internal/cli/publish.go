package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var cmdPublish = &command{
	name: "publish", args: "[--json] FILE",
	summary: "publish alerts from a file of JSON or JSON lines (- for stdin)",
	help: `
Publish alerts at the node. FILE ("-" for stdin) holds one alert as JSON (the protobuf
JSON of cix.alert.v1.Alert, possibly pretty-printed) or many, one JSON value after the
other (JSON lines). Unknown fields are an error.

One alert is published with a single call and reported as "published <id> seq <n>" or
"duplicate <id> (already stored, seq <n>)". Many are streamed as they are read, with
progress on stderr, then summarised; each failure is listed with its item number, line,
status code and invalid fields. Publishing is idempotent by alert id: a file can be
published again safely.

The exit code is 1 when any item failed.`,
	flags: func(fs *flag.FlagSet) runFunc {
		jsonOut := fs.Bool("json", false, "print one JSON object per result instead of the summary")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("publish", "publish wants one FILE (- for stdin)")
			}
			return publish(ctx, e, args[0], *jsonOut)
		}
	},
}

// maxListedFailures bounds the failures kept for the summary.
const maxListedFailures = 1000

// openInput opens the file at path, or stdin for "-", and names it for messages.
func (e *env) openInput(path string) (in io.Reader, name string, closeIt func(), err error) {
	if path == "-" {
		return e.stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	return f, path, func() { _ = f.Close() }, nil
}

func publish(ctx context.Context, e *env, path string, jsonOut bool) error {
	in, name, closeIn, err := e.openInput(path)
	if err != nil {
		return err
	}
	defer closeIn()
	d := newAlertDecoder(in)
	first := d.next()
	if first == nil {
		return fmt.Errorf("%s: no alert to publish", name)
	}
	client, err := e.nodeClient()
	if err != nil {
		return err
	}
	rep := &reporter{w: e.stdout, stderr: e.stderr, json: jsonOut}
	second := d.next()
	if second == nil {
		return publishOne(ctx, e, client, first, rep)
	}
	prog := newProgress(e.stderr, isTerminal(e.stderr), regularFileSize(in), d.bytesRead, nil)
	return publishStream(ctx, client, d, []*item{first, second}, rep, prog)
}

// publishOne publishes a single alert with the unary call.
func publishOne(ctx context.Context, e *env, client nodev1.NodeServiceClient, it *item, rep *reporter) error {
	if it.err != nil {
		if rep.json {
			rep.fail(it, "", "", it.err.Error(), nil)
			return errReported
		}
		return fmt.Errorf("item %d (line %d): %w", it.n, it.line, it.err)
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.Publish(cctx, &nodev1.PublishRequest{Alert: it.alert})
	if err != nil {
		if rep.json {
			st := status.Convert(err)
			rep.fail(it, it.alert.GetId(), codeName(st.Code()), st.Message(), violations(st))
			return errReported
		}
		return callErr("publish", err)
	}
	if rep.json {
		rep.ok(it, res.GetId(), res.GetSequence(), res.GetDuplicate())
		return nil
	}
	if res.GetDuplicate() {
		fmt.Fprintf(e.stdout, "duplicate %s (already stored, seq %d)\n", res.GetId(), res.GetSequence())
	} else {
		fmt.Fprintf(e.stdout, "published %s seq %d\n", res.GetId(), res.GetSequence())
	}
	return nil
}

// publishStream publishes items on one PublishStream: a sender goroutine decodes and
// sends while this goroutine receives the results, one per sent item in order.
func publishStream(ctx context.Context, client nodev1.NodeServiceClient, d *alertDecoder, first []*item, rep *reporter, prog *progress) error {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.PublishStream(ctx)
	if err != nil {
		return callErr("publish", err)
	}
	// pending carries every item in input order, sent or not, so that results (which
	// come for sent items only) can be matched with item numbers and lines.
	pending := make(chan *item, 4096)
	go func() {
		defer close(pending)
		next := func() *item {
			if len(first) > 0 {
				it := first[0]
				first = first[1:]
				return it
			}
			return d.next()
		}
		for it := next(); it != nil; it = next() {
			select {
			case pending <- it:
			case <-ctx.Done():
				return
			}
			if it.err != nil {
				continue // reported by the receiver; a fatal item ends the input
			}
			if err := stream.Send(&nodev1.PublishStreamRequest{Alert: it.alert}); err != nil {
				return // the stream's status comes from Recv
			}
		}
		_ = stream.CloseSend()
	}()

	var (
		sent      uint64
		streamErr error
		unsent    int // items read but without a result when the stream failed
	)
recv:
	for {
		var it *item
		select {
		case it = <-pending:
		case <-ctx.Done(): // interrupted while the sender waits for input
			streamErr = ctx.Err()
			break recv
		}
		if it == nil {
			break
		}
		if it.err != nil {
			rep.fail(it, "", "", it.err.Error(), nil)
			prog.update(&rep.c)
			continue
		}
		res, err := stream.Recv()
		if err == nil && res.GetIndex() != sent {
			err = fmt.Errorf("result for index %d, want %d", res.GetIndex(), sent)
		}
		if err != nil {
			streamErr = err
			unsent++
			break
		}
		sent++
		if ie := res.GetError(); ie != nil {
			vs := make([]fieldViolation, 0, len(ie.GetFieldViolations()))
			for _, v := range ie.GetFieldViolations() {
				vs = append(vs, fieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
			rep.fail(it, res.GetId(), codeName(codes.Code(ie.GetCode())), ie.GetMessage(), vs)
		} else {
			r := res.GetResult()
			rep.ok(it, res.GetId(), r.GetSequence(), r.GetDuplicate())
		}
		prog.update(&rep.c)
	}
	if streamErr == nil {
		if res, err := stream.Recv(); err == nil {
			streamErr = fmt.Errorf("unexpected result for index %d", res.GetIndex())
		} else if !errors.Is(err, io.EOF) {
			streamErr = err
		}
	} else {
		cancel() // stop the sender; count what it had queued without blocking on it
	drain:
		for {
			select {
			case it := <-pending:
				if it == nil {
					break drain
				}
				if it.err == nil {
					unsent++
				}
			default:
				break drain
			}
		}
	}
	prog.finish()
	if !rep.json {
		rep.summary(time.Since(start))
	}
	if streamErr != nil {
		what := "publish stream"
		if errors.Is(streamErr, context.Canceled) || status.Code(streamErr) == codes.Canceled {
			what = "publish stream interrupted"
		}
		printError(rep.errw(), callErr(what, streamErr))
		if unsent > 0 {
			fmt.Fprintf(rep.errw(), "  %d items read without a result; publishing them again is safe (same ids)\n", unsent)
		}
		return errReported
	}
	if rep.c.failed > 0 {
		return errReported
	}
	return nil
}

// reporter collects and prints publish results.
type reporter struct {
	w        io.Writer
	stderr   io.Writer
	json     bool
	c        counts
	failures []failure
	dropped  int
}

type failure struct {
	n, line       int
	code, message string
	violations    []fieldViolation
}

// resultJSON is one result line of publish --json.
type resultJSON struct {
	Item            int              `json:"item"`
	Line            int              `json:"line"`
	ID              string           `json:"id,omitempty"`
	Status          string           `json:"status"` // published, duplicate or failed
	Sequence        uint64           `json:"sequence,omitempty"`
	Code            string           `json:"code,omitempty"`
	Message         string           `json:"message,omitempty"`
	FieldViolations []fieldViolation `json:"field_violations,omitempty"`
}

func (r *reporter) errw() io.Writer {
	if r.stderr != nil {
		return r.stderr
	}
	return r.w
}

func (r *reporter) ok(it *item, id string, seq uint64, dup bool) {
	st := "published"
	if dup {
		st = "duplicate"
		r.c.duplicates++
	} else {
		r.c.published++
	}
	if r.json {
		r.line(resultJSON{Item: it.n, Line: it.line, ID: id, Status: st, Sequence: seq})
	}
}

// fail records a failed item; code is empty when the item failed before it was sent.
func (r *reporter) fail(it *item, id, code, msg string, vs []fieldViolation) {
	r.c.failed++
	if r.json {
		r.line(resultJSON{Item: it.n, Line: it.line, ID: id, Status: "failed", Code: code, Message: msg, FieldViolations: vs})
		return
	}
	if len(r.failures) == maxListedFailures {
		r.dropped++
		return
	}
	r.failures = append(r.failures, failure{n: it.n, line: it.line, code: code, message: msg, violations: vs})
}

func (r *reporter) line(v resultJSON) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(r.w, "%s\n", b)
}

func (r *reporter) summary(el time.Duration) {
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(r.c.total()) / s
	}
	fmt.Fprintf(r.w, "published %d, duplicates %d, failed %d in %.2fs (%.0f alerts/s)\n",
		r.c.published, r.c.duplicates, r.c.failed, el.Seconds(), rate)
	for _, f := range r.failures {
		if f.code != "" {
			fmt.Fprintf(r.w, "item %d (line %d): %s: %s\n", f.n, f.line, f.code, statusMessage(f.message, f.violations))
		} else {
			fmt.Fprintf(r.w, "item %d (line %d): %s\n", f.n, f.line, f.message)
		}
		printViolations(r.w, f.violations)
	}
	if r.dropped > 0 {
		fmt.Fprintf(r.w, "... and %d more failures (use --json to list them all)\n", r.dropped)
	}
}
