package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var cmdSearch = &command{
	name: "search", args: "[filters] [--text TEXT] [--sort received|issued|seized] [--limit N] [--json]",
	summary: "search the alerts this node has verified",
	help: `
Search the node's index of verified alerts. One row stands for one report with all its
versions (the latest is shown), or for one seizure reported several times (by two
administrations, or twice): VERSIONS counts the versions, REPORTS the signed reports.
Filter values are alternatives within a flag (repeat the flag or separate values with
commas); different flags must all match. --text searches titles, goods descriptions,
concealment and modus operandi: words, "phrases", prefix*, OR.

Rows are newest first (--asc for oldest first). When there are more than --limit, the
command to get the next page is printed on stderr. With --json each page is one line of
protobuf JSON (cix.search.v1.SearchResponse).`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		sel := selectionFlags(fs)
		text := fs.String("text", "", "full-text `query`")
		sortBy := fs.String("sort", "received", "order: received, issued or seized (seizures only)")
		asc := fs.Bool("asc", false, "oldest first")
		limit := fs.Int("limit", 20, "at most `N` results (at most 1000)")
		page := fs.String("page", "", "page `token` printed by a previous search")
		jsonOut := fs.Bool("json", false, "print the response as protobuf JSON")
		return func(ctx context.Context, e *env, args []string) error {
			s, err := sel.parse(e, "search", args)
			if err != nil {
				return err
			}
			s.Text = *text
			req := &searchv1.SearchRequest{Selection: s, Ascending: *asc, PageToken: *page}
			if *limit < 1 || *limit > 1000 {
				return usagef("search", "--limit must be 1 to 1000")
			}
			req.PageSize = uint32(*limit)
			sort, ok := sortFields[*sortBy]
			if !ok {
				return usagef("search", "--sort %q: want received, issued or seized", *sortBy)
			}
			req.Sort = sort
			c, err := e.searchClient()
			if err != nil {
				return err
			}
			cctx, cancel := e.unary(ctx)
			defer cancel()
			res, err := c.Search(cctx, req)
			if err != nil {
				return callErr("search", err)
			}
			if *jsonOut {
				if err := printJSONLine(e.stdout, res); err != nil {
					return err
				}
			} else {
				printResults(e.stdout, res.GetResults())
			}
			if t := res.GetNextPageToken(); t != "" {
				fmt.Fprintf(e.stderr, "more: repeat the command with --page %s\n", t)
			}
			printIndexState(e.stderr, res.GetIndex())
			return nil
		}
	},
}

var cmdStats = &command{
	name: "stats", args: "[filters] [--by commodity,origin,route,month] [--json]",
	summary: "count verified alerts by commodity, origin, route and month",
	help: `
Count the results of a selection (the same filters as search) by commodity group,
origin, route (countries, e.g. CO>ES>NL) and month (of the seizure, or of issue for risk
alerts). A seizure reported several times counts once; one reported by two
administrations counts for each in the origin table. With --json the response is one
line of protobuf JSON (cix.search.v1.StatisticsResponse).`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		sel := selectionFlags(fs)
		text := fs.String("text", "", "full-text `query`")
		by := fs.String("by", "", "dimensions: commodity, origin, route, month (default all)")
		jsonOut := fs.Bool("json", false, "print the response as protobuf JSON")
		return func(ctx context.Context, e *env, args []string) error {
			s, err := sel.parse(e, "stats", args)
			if err != nil {
				return err
			}
			s.Text = *text
			req := &searchv1.StatisticsRequest{Selection: s}
			for _, d := range splitList(*by) {
				v, ok := searchv1.Dimension_value["DIMENSION_"+strings.ToUpper(d)]
				if !ok || v == 0 {
					return usagef("stats", "--by %q: want commodity, origin, route or month", d)
				}
				req.By = append(req.By, searchv1.Dimension(v))
			}
			c, err := e.searchClient()
			if err != nil {
				return err
			}
			cctx, cancel := e.unary(ctx)
			defer cancel()
			res, err := c.Statistics(cctx, req)
			if err != nil {
				return callErr("stats", err)
			}
			if *jsonOut {
				return printJSONLine(e.stdout, res)
			}
			printStats(e.stdout, res)
			printIndexState(e.stderr, res.GetIndex())
			return nil
		}
	},
}

var sortFields = map[string]searchv1.SortField{
	"received": searchv1.SortField_SORT_FIELD_RECEIVED,
	"issued":   searchv1.SortField_SORT_FIELD_ISSUED_AT,
	"seized":   searchv1.SortField_SORT_FIELD_SEIZED_AT,
}

func (e *env) searchClient() (searchv1.SearchServiceClient, error) {
	conn, err := e.connect()
	if err != nil {
		return nil, err
	}
	return searchv1.NewSearchServiceClient(conn), nil
}

// selFlags are the selection flags beyond the feed's filter flags.
type selFlags struct {
	fs                                                                                *flag.FlagSet
	seizedSince, seizedUntil, modes, containers, imos, companies, statuses, locations *string
	recalled                                                                          *bool
}

func selectionFlags(fs *flag.FlagSet) *selFlags {
	for _, f := range filterFlags { // parsed by ParseFilter; declared for the help
		fs.String(f.name, "", f.help)
	}
	return &selFlags{
		fs:          fs,
		seizedSince: fs.String("seized-since", "", "seized at or after: an RFC 3339 time, a date, or a duration ago"),
		seizedUntil: fs.String("seized-until", "", "seized before: an RFC 3339 time, a date, or a duration ago"),
		modes:       fs.String("mode", "", "transport modes, e.g. sea_container,air_cargo"),
		containers:  fs.String("container", "", "container numbers (ISO 6346)"),
		imos:        fs.String("imo", "", "IMO numbers of vessels"),
		companies:   fs.String("company", "", "companies: start of the name, EORI or registration number"),
		statuses:    fs.String("status", "", "risk alert status (active, amended, withdrawn, expired) or investigation status (none, open, referred_to_prosecution, closed)"),
		locations:   fs.String("location", "", "UN/LOCODEs: place of seizure, ports of interest, places on the route"),
		recalled:    fs.Bool("recalled", false, "include reports recalled by their origin"),
	}
}

// parse takes the filter flags out of args, parses the rest with the command's flags and
// returns the selection.
func (f *selFlags) parse(e *env, cmd string, args []string) (*searchv1.Selection, error) {
	filter, rest, err := ParseFilter(args)
	if err != nil {
		return nil, usagef(cmd, "%v", err)
	}
	pos, err := e.parse(f.fs, rest)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef(cmd, "unexpected argument %q", pos[0])
	}
	s := &searchv1.Selection{Filter: filter, IncludeRecalled: *f.recalled,
		ContainerNumbers: splitList(*f.containers), ImoNumbers: splitList(*f.imos),
		Companies: splitList(*f.companies), Locations: splitList(*f.locations)}
	for name, val := range map[string]string{"seized-since": *f.seizedSince, "seized-until": *f.seizedUntil} {
		if val == "" {
			continue
		}
		t, err := parseWhen(val, time.Now())
		if err != nil {
			return nil, usagef(cmd, "--%s: %v", name, err)
		}
		if name == "seized-since" {
			s.SeizedAfter = timestamppb.New(t)
		} else {
			s.SeizedBefore = timestamppb.New(t)
		}
	}
	for _, m := range splitList(*f.modes) {
		v, ok := alertv1.TransportMode_value["TRANSPORT_MODE_"+strings.ToUpper(strings.ReplaceAll(m, "-", "_"))]
		if !ok || v == 0 {
			return nil, usagef(cmd, "--mode %q: want one of air_passenger, air_cargo, sea_container, road, rail, postal, express_courier", m)
		}
		s.TransportModes = append(s.TransportModes, alertv1.TransportMode(v))
	}
	for _, st := range splitList(*f.statuses) {
		name := strings.ToUpper(strings.ReplaceAll(st, "-", "_"))
		if v, ok := alertv1.RiskAlertStatus_value["RISK_ALERT_STATUS_"+name]; ok && v != 0 {
			s.RiskStatuses = append(s.RiskStatuses, alertv1.RiskAlertStatus(v))
		} else if v, ok := alertv1.InvestigationStatus_value["INVESTIGATION_STATUS_"+name]; ok && v != 0 {
			s.InvestigationStatuses = append(s.InvestigationStatuses, alertv1.InvestigationStatus(v))
		} else {
			return nil, usagef(cmd, "--status %q: not a risk alert or investigation status", st)
		}
	}
	return s, nil
}

// printJSONLine prints m as one line of protobuf JSON.
func printJSONLine(w io.Writer, m proto.Message) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Columns of the search table; HEADLINE takes the rest of the line.
var searchColumns = []struct {
	name  string
	width int
}{{"ID", 8}, {"ISSUED", 16}, {"ORIGIN", 6}, {"KIND", 7}, {"VERSIONS", 8}, {"REPORTS", 7}, {"HEADLINE", 0}}

func printResults(w io.Writer, rs []*searchv1.SearchResult) {
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range searchColumns {
			if c.width == 0 {
				b.WriteString(clip(cells[i], summaryWidth, true))
				continue
			}
			b.WriteString(pad(cells[i], c.width) + "  ")
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	cells := make([]string, len(searchColumns))
	for i, c := range searchColumns {
		cells[i] = c.name
	}
	line(cells)
	for _, r := range rs {
		a := r.GetAlert().GetAlert()
		var origins []string
		for _, rep := range r.GetReports() {
			origins = appendNew(origins, rep.GetOrigin())
		}
		line([]string{
			clip(a.GetId(), 8, false), timeLine(a.GetIssuedAt().AsTime()), strings.Join(origins, ","), kindName(a),
			strconv.Itoa(len(r.GetHistory())), strconv.Itoa(len(r.GetReports())), summary(a),
		})
	}
	if len(rs) == 0 {
		fmt.Fprintln(w, "(no results)")
	}
}

func printStats(w io.Writer, res *searchv1.StatisticsResponse) {
	fmt.Fprintf(w, "%d results\n", res.GetTotal())
	for _, t := range res.GetTables() {
		name := enumShort(t.GetBy().String(), "DIMENSION_")
		fmt.Fprintf(w, "\n%s  %s\n", pad(strings.ToUpper(name), 30), "COUNT")
		for _, b := range t.GetBuckets() {
			key := b.GetKey()
			if t.GetBy() == searchv1.Dimension_DIMENSION_COMMODITY {
				key = enumShort(key, "COMMODITY_GROUP_")
			}
			fmt.Fprintf(w, "%s  %5d\n", pad(clip(key, 30, true), 30), b.GetCount())
		}
	}
}

func printIndexState(w io.Writer, s *searchv1.IndexState) {
	if s.GetLag() > 0 {
		fmt.Fprintf(w, "index: %d alerts, %d feed positions not indexed yet\n", s.GetAlerts(), s.GetLag())
	}
}
