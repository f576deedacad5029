package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

var cmdFeed = &command{
	name: "feed", args: "[filters] [--json] [--cursor C] [--from-start] [--limit N]",
	summary: "follow verified alerts live, with filters",
	help: `
Print the verified alerts of the node's feed that match the filters, live, until
interrupted (or until --limit alerts). Without --cursor or --from-start it starts with
the next new alert. Filter values are alternatives within a flag (repeat the flag or
separate values with commas); different flags must all match.

Each alert is a line of a table: TIME (issued, UTC), ORIGIN, KIND, TLP, COMMODITY, HS,
ROUTE, ID (first 8 characters) and SUMMARY. "-- live --" marks the end of the history;
a gap line reports alerts the node can no longer serve. TLP is the classification in
force; "-- recalled ID --" and "-- ID reclassified ... --" lines report the originator's
recalls and reclassifications (a recalled alert is no longer delivered, also not from
history). With --json every event
(alert, gap, caught_up, recalled, reclassified) is one line of protobuf JSON.

On exit the cursor to resume from is printed on stderr.`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		jsonOut := fs.Bool("json", false, "print each event as one line of JSON")
		cursor := fs.String("cursor", "", "resume right after the alert that carried this `cursor`")
		fromStart := fs.Bool("from-start", false, "start from the oldest alert the node still holds")
		limit := fs.Int("limit", 0, "stop after `N` alerts (0: run until interrupted)")
		for _, f := range filterFlags { // parsed by ParseFilter; declared for the help
			fs.String(f.name, "", f.help)
		}
		return func(ctx context.Context, e *env, args []string) error {
			filter, rest, err := ParseFilter(args)
			if err != nil {
				return usagef("feed", "%v", err)
			}
			pos, err := e.parse(fs, rest)
			if err != nil {
				return err
			}
			switch {
			case len(pos) > 0:
				return usagef("feed", "unexpected argument %q", pos[0])
			case *cursor != "" && *fromStart:
				return usagef("feed", "--cursor and --from-start exclude each other")
			case *limit < 0:
				return usagef("feed", "--limit must not be negative")
			}
			req := &nodev1.SubscribeRequest{Filter: filter, Cursor: *cursor}
			if *fromStart {
				req.Start = nodev1.StartPosition_START_POSITION_EARLIEST
			}
			return feed(ctx, e, req, *jsonOut, *limit)
		}
	},
}

func feed(ctx context.Context, e *env, req *nodev1.SubscribeRequest, jsonOut bool, limit int) error {
	client, err := e.nodeClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		return callErr("feed", err)
	}
	t := &feedTable{w: e.stdout}
	last := req.GetCursor() // the cursor to resume from
	started := false
	alerts := 0
	for limit == 0 || alerts < limit {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || (ctx.Err() != nil && status.Code(err) == codes.Canceled) {
				break // interrupted: a normal end
			}
			if started {
				printResume(e.stderr, last, req.GetFilter())
			}
			return callErr("feed", err)
		}
		if !started && !jsonOut {
			t.header()
		}
		started = true
		if jsonOut {
			b, err := protojson.Marshal(ev)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
		switch ev := ev.Event.(type) {
		case *nodev1.SubscribeResponse_Alert:
			alerts++
			last = ev.Alert.GetCursor()
			if !jsonOut {
				t.row(ev.Alert)
			}
		case *nodev1.SubscribeResponse_Gap:
			last = ev.Gap.GetResumeCursor()
			if !jsonOut {
				fmt.Fprintf(e.stdout, "-- gap: %d alerts no longer available (%s); resuming after cursor %s --\n",
					ev.Gap.GetMissing(), ev.Gap.GetReason(), ev.Gap.GetResumeCursor())
			}
		case *nodev1.SubscribeResponse_Recalled:
			last = ev.Recalled.GetCursor()
			if !jsonOut {
				fmt.Fprintf(e.stdout, "-- recalled %s: %s --\n", ev.Recalled.GetAlertId(), noticeAction(ev.Recalled.GetNotice()))
			}
		case *nodev1.SubscribeResponse_Reclassified:
			last = ev.Reclassified.GetCursor()
			if !jsonOut {
				fmt.Fprintf(e.stdout, "-- %s %s --\n", ev.Reclassified.GetAlertId(), noticeAction(ev.Reclassified.GetNotice()))
				if va := ev.Reclassified.GetAlert(); va != nil {
					t.row(va) // now matches the filters
				}
			}
		case *nodev1.SubscribeResponse_CaughtUp:
			// Resuming from the newest position skips history the filter did not match.
			// An empty feed reports cursor "0", which is not a cursor Subscribe accepts.
			if c := ev.CaughtUp.GetCursor(); c != "" && c != "0" {
				last = c
			}
			if !jsonOut {
				fmt.Fprintln(e.stdout, "-- live --")
			}
		}
	}
	printResume(e.stderr, last, req.GetFilter())
	return nil
}

func printResume(w io.Writer, cursor string, f *nodev1.Filter) {
	if cursor == "" {
		return
	}
	fmt.Fprintf(w, "resume with: cix feed --cursor %s", cursor)
	for _, a := range filterArgs(f) {
		fmt.Fprintf(w, " %s", shellQuote(a))
	}
	fmt.Fprintln(w)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:+=/") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Column widths of the feed table; SUMMARY takes the rest of the line.
var feedColumns = []struct {
	name  string
	width int
}{
	{"TIME", 16}, {"ORIGIN", 6}, {"KIND", 7}, {"TLP", 12}, {"COMMODITY", 17},
	{"HS", 11}, {"ROUTE", 14}, {"ID", 8}, {"SUMMARY", 0},
}

// summaryWidth bounds the SUMMARY column.
const summaryWidth = 60

// feedTable prints alerts in fixed-width columns, one line each as they arrive.
type feedTable struct{ w io.Writer }

func (t *feedTable) header() {
	cells := make([]string, len(feedColumns))
	for i, c := range feedColumns {
		cells[i] = c.name
	}
	t.line(cells)
}

func (t *feedTable) row(va *nodev1.VerifiedAlert) {
	a := va.GetAlert()
	t.line([]string{
		timeLine(a.GetIssuedAt().AsTime()),
		a.GetOrigin().GetAdministration(),
		kindName(a),
		tlpName(inForce(va).GetTlp()),
		commodities(a),
		hsCodes(a),
		routeCountries(a),
		clip(a.GetId(), 8, false),
		summary(a),
	})
}

// inForce is the classification of va in force, from nodes that send it.
func inForce(va *nodev1.VerifiedAlert) *alertv1.Handling {
	if h := va.GetHandling(); h != nil {
		return h
	}
	return va.GetAlert().GetHandling()
}

func (t *feedTable) line(cells []string) {
	var b strings.Builder
	for i, c := range feedColumns {
		if c.width == 0 {
			b.WriteString(clip(cells[i], summaryWidth, true))
			continue
		}
		b.WriteString(pad(cells[i], c.width))
		b.WriteString("  ")
	}
	fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
}
