package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

var cmdWatch = &command{
	name: "watch", args: "add|list|rm|hits ...",
	summary: "watch for containers, vessels, companies, documents, HS and route, text",
	help: `
  cix watch add --kind KIND --value VALUE [--label TEXT]
  cix watch list [--mine] [--json]
  cix watch rm ID
  cix watch hits [--follow] [--cursor C] [--mine] [--json]

The node matches every alert it receives against its watchlist and records a hit for
each entry an alert matches. Kinds and values:
  container   ISO 6346 container number with check digit   MSCU1234566
  imo         IMO ship number                              9074729
  vessel      vessel name (case, accents, punctuation ignored)  "MSC Aurora"
  company     company name, EORI or registration number    "Sunrise Distribution BV"
  document    number of a person's identity document       NX4512C8
  hs-route    HS code prefix and a country on the route    2939:EC
  text        1 to 8 words, in order, in a free-text field "false floor"
An entry matches alerts the node receives after it was created.

hits prints the recorded hits from the first (or after --cursor) and stops; with
--follow it then prints new hits as they come until interrupted. The cursor to resume
from is printed on stderr. --mine keeps your own entries (the name of your client
certificate).`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, e *env, args []string) error {
			return dispatch(ctx, e, fs, args, subcommand{"add", watchAdd}, subcommand{"list", watchList},
				subcommand{"rm", watchRm}, subcommand{"hits", watchHits})
		}
	},
}

// watchKinds maps the command line's kind names to the API's.
var watchKinds = map[string]analystv1.WatchKind{
	"container": analystv1.WatchKind_WATCH_KIND_CONTAINER,
	"imo":       analystv1.WatchKind_WATCH_KIND_IMO,
	"vessel":    analystv1.WatchKind_WATCH_KIND_VESSEL_NAME,
	"company":   analystv1.WatchKind_WATCH_KIND_COMPANY,
	"document":  analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT,
	"hs-route":  analystv1.WatchKind_WATCH_KIND_HS_ROUTE,
	"text":      analystv1.WatchKind_WATCH_KIND_TEXT,
}

func watchKindName(k analystv1.WatchKind) string {
	for n, v := range watchKinds {
		if v == k {
			return n
		}
	}
	return k.String()
}

func (e *env) watchClient() (analystv1.WatchServiceClient, error) {
	conn, err := e.connect()
	if err != nil {
		return nil, err
	}
	return analystv1.NewWatchServiceClient(conn), nil
}

// watchArgs parses the flags of a watch subcommand, wants want positional arguments
// (what says so otherwise) and returns them with a WatchService client.
func (e *env) watchArgs(fs *flag.FlagSet, args []string, want int, what string) ([]string, analystv1.WatchServiceClient, error) {
	rest, err := e.parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != want {
		return nil, nil, usagef(e.cmd.name, "%s", what)
	}
	client, err := e.watchClient()
	return rest, client, err
}

func watchAdd(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("watch add", flag.ContinueOnError)
	kind := fs.String("kind", "", "container, imo, vessel, company, document, hs-route or text")
	value := fs.String("value", "", "the value to watch for")
	label := fs.String("label", "", "your label for the entry")
	_, client, err := e.watchArgs(fs, args, 0, "watch add takes --kind and --value, no argument")
	if err != nil {
		return err
	}
	k, ok := watchKinds[strings.ToLower(*kind)]
	if !ok {
		return usagef("watch", "--kind %q: want container, imo, vessel, company, document, hs-route or text", *kind)
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.CreateWatch(cctx, &analystv1.CreateWatchRequest{Kind: k, Value: *value, Label: *label})
	if err != nil {
		return callErr("watch add", err)
	}
	en := res.GetEntry()
	fmt.Fprintf(e.stdout, "%s\t%s %s (matched as %q)\n", en.GetId(), watchKindName(en.GetKind()), en.GetValue(), en.GetNormalized())
	return nil
}

func watchList(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("watch list", flag.ContinueOnError)
	mine := fs.Bool("mine", false, "only your own entries")
	jsonOut := fs.Bool("json", false, "print each entry as one line of JSON")
	_, client, err := e.watchArgs(fs, args, 0, "watch list takes no argument")
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	if !*jsonOut {
		fmt.Fprintln(tw, "ID\tKIND\tVALUE\tOWNER\tLABEL\tCREATED")
	}
	token := ""
	for {
		res, err := client.ListWatches(cctx, &analystv1.ListWatchesRequest{Mine: *mine, PageToken: token})
		if err != nil {
			return callErr("watch list", err)
		}
		for _, en := range res.GetEntries() {
			if *jsonOut {
				b, err := protojson.Marshal(en)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", b)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", en.GetId(), watchKindName(en.GetKind()), en.GetValue(),
				dash(en.GetOwner()), dash(en.GetLabel()), timeLine(en.GetCreatedAt().AsTime()))
		}
		if token = res.GetNextPageToken(); token == "" {
			break
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func watchRm(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("watch rm", flag.ContinueOnError)
	rest, client, err := e.watchArgs(fs, args, 1, "watch rm wants one entry ID")
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	if _, err := client.DeleteWatch(cctx, &analystv1.DeleteWatchRequest{Id: rest[0]}); err != nil {
		return callErr("watch rm", err)
	}
	fmt.Fprintf(e.stdout, "removed %s\n", rest[0])
	return nil
}

func watchHits(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("watch hits", flag.ContinueOnError)
	follow := fs.Bool("follow", false, "after the recorded hits, print new ones until interrupted")
	cursor := fs.String("cursor", "", "start right after the hit that carried this `cursor`")
	mine := fs.Bool("mine", false, "only hits of your own entries")
	jsonOut := fs.Bool("json", false, "print each hit as one line of JSON")
	_, client, err := e.watchArgs(fs, args, 0, "watch hits takes no argument")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.WatchHits(ctx, &analystv1.WatchHitsRequest{
		Cursor: *cursor, Mine: *mine, Start: nodev1.StartPosition_START_POSITION_EARLIEST,
	})
	if err != nil {
		return callErr("watch hits", err)
	}
	last := *cursor
	if !*jsonOut {
		hitLine(e.stdout, "MATCHED", "KIND", "VALUE", "LABEL", "ALERT", "ORIGIN", "FIELD", "IN ALERT")
	}
	defer func() {
		if last != "" {
			fmt.Fprintf(e.stderr, "resume with: cix watch hits --cursor %s\n", last)
		}
	}()
	for {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || (ctx.Err() != nil && status.Code(err) == codes.Canceled) {
				return nil
			}
			return callErr("watch hits", err)
		}
		switch ev := ev.GetEvent().(type) {
		case *analystv1.WatchHitsResponse_Hit:
			h := ev.Hit
			last = h.GetCursor()
			if *jsonOut {
				b, err := protojson.Marshal(h)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", b)
				continue
			}
			en := h.GetEntry()
			hitLine(e.stdout, timeLine(h.GetMatchedAt().AsTime()), watchKindName(en.GetKind()), en.GetValue(), dash(en.GetLabel()),
				h.GetAlertId(), h.GetOrigin(), strings.TrimPrefix(h.GetField(), "alert."), h.GetMatched())
		case *analystv1.WatchHitsResponse_CaughtUp:
			if c := ev.CaughtUp.GetCursor(); c != "" && c != "0" {
				last = c
			}
			if !*follow {
				return nil
			}
		}
	}
}

// hitLine prints one line of the hits table in fixed-width columns, so that lines
// printed as hits arrive stay aligned.
func hitLine(w io.Writer, matched, kind, value, label, alertID, origin, field, inAlert string) {
	fmt.Fprintf(w, "%s  %s  %s  %s  %s  %s  %s  %s\n", pad(matched, 16), pad(kind, 9), pad(value, 22), pad(label, 14),
		pad(alertID, 36), pad(origin, 6), field, clip(inAlert, 40, true))
}
