package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"
)

var cmdAssist = &command{
	name: "assist", args: "SUBCOMMAND [ARGS]",
	summary: "mutual assistance requests: draft, send, answer, follow, export",
	help: `
Requesting side (this administration asks another):
  cix assist create [--file request.yaml] [content flags] [--client-id ID]
  cix assist update ID [--file request.yaml] [content flags] [--attach FILE]...
  cix assist submit ID
  cix assist amend ID [--file request.yaml] [content flags] [--attach FILE]...
  cix assist withdraw ID [--reason TEXT]
  cix assist close ID [--outcome useful|partly_useful|not_useful] [--feedback TEXT]
Requested side (another administration asks this one):
  cix assist ack ID [--reference REF]
  cix assist correct ID --reason TEXT... [--field PATH]...
  cix assist accept ID [--note TEXT]
  cix assist postpone ID --reason TEXT... [--until TIME]
  cix assist pending-authorisation ID --expected DURATION --reason TEXT...
  cix assist partial ID (--file reply.yaml | --title T --text X --tlp L --handling H) [--attach FILE]...
  cix assist answer ID  (--file reply.yaml | --title T --text X --tlp L --handling H) [--attach FILE]...
  cix assist refuse ID --code CODE --text TEXT
Both sides:
  cix assist list [--direction incoming|outgoing] [--counterpart XX] [--state S] [--overdue] [--json]
  cix assist get ID [--json]
  cix assist watch [--request ID] [--cursor C] [--follow] [--json]
  cix assist upload ID FILE [--name N] [--media-type T] [--json]
  cix assist download ID SHA256 --out FILE [--force]
  cix assist export ID [--dir DIR] [--json]

A request is drafted on this node (create, update: nothing is sent), then submit signs it
and sends it, encrypted, to the requested administration only. Every later step is a
signed transition chained to the one before; both sides hold the same history, state and
deadline. Each subcommand prints its flags with -h (e.g. cix assist create -h).

Request content: --file reads a YAML or JSON file whose fields are those of
cix.assistance.v1.RequestContent in the protobuf JSON mapping (requestingAuthority or
requesting_authority, legalBasis, natureOfProceedings: PROCEEDINGS_NATURE_CRIMINAL,
requestedTimeLimit: "2026-12-31T00:00:00Z", parties: [{kind: PARTY_KIND_COMPANY,
name: ...}], ...). Flags override the file's single fields and add to its lists.
update and amend start from the content in force when no --file is given, so a flag
changes one field. The mandatory fields are checked at submit and amend; the node names
each missing or wrong field on its own line. Replies (partial, answer) and the payloads
of correct, postpone, pending-authorisation, refuse and close take --file the same way
(cix.assistance.v1.Reply, CorrectionRequest, Postponement, DelayNotice, Refusal,
Closure).

Retries: every subcommand that sends something (create and the transitions) takes
--client-id. Without it a fresh UUID is used and printed on stderr before the call. If a
call fails or its outcome is unknown (timeout, lost connection), repeat it with the SAME
--client-id: the node then returns the first result and sends nothing twice ("replayed").
A new client id would be a new action.

Times are RFC 3339, a date (midnight UTC), or a duration from now (72h). Listings show
deadlines in UTC with the time left ("in 3h12m") or "overdue by 2h"; flags are OVERDUE,
CONFIRMATION_OVERDUE, CONFIRMED_LATE and CONFLICT. --json prints the API's response in
the protobuf JSON mapping (one object; one object per line for watch), for scripts.

download writes the attachment to --out (the node decrypted it and checked it against the
signed digest) and refuses to overwrite a file without --force. export prints the signed
envelopes of a request; --dir writes each (DSSE JSON as signed) to a file for offline
verification.

Needs the assistance-officer role (admin may list, get, watch and export), and a node in
federation mode.`,
	raw: true,
	flags: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, e *env, args []string) error {
			return dispatch(ctx, e, fs, args,
				subcommand{"create", assistCreate}, subcommand{"update", assistUpdate},
				subcommand{"submit", assistSubmit}, subcommand{"ack", assistAck},
				subcommand{"correct", assistCorrect}, subcommand{"amend", assistAmend},
				subcommand{"accept", assistAccept}, subcommand{"postpone", assistPostpone},
				subcommand{"pending-authorisation", assistPending}, subcommand{"partial", assistPartial},
				subcommand{"answer", assistAnswer}, subcommand{"refuse", assistRefuse},
				subcommand{"withdraw", assistWithdraw}, subcommand{"close", assistClose},
				subcommand{"get", assistGet}, subcommand{"list", assistList},
				subcommand{"watch", assistWatch}, subcommand{"upload", assistUpload},
				subcommand{"download", assistDownload}, subcommand{"export", assistExport})
		}
	},
}

// assistNow is the clock of relative deadlines ("in 3h12m"); tests replace it.
var assistNow = time.Now

// uploadChunk is the size of the chunks of an uploaded file.
const uploadChunk = 256 << 10

func (e *env) assistClient() (pb.AssistanceServiceClient, error) {
	conn, err := e.connect()
	if err != nil {
		return nil, err
	}
	return pb.NewAssistanceServiceClient(conn), nil
}

// assistSubs are the synopsis and help of each assist subcommand, for its -h.
var assistSubs = map[string][2]string{
	"create":                {"[--file F] [content flags] [--client-id ID] [--json]", "Store a new request as a DRAFT on this node; nothing is sent. --file holds a RequestContent (YAML or JSON, protobuf JSON field names); flags override single fields and add to lists."},
	"update":                {"ID [--file F] [content flags] [--attach FILE]... [--json]", "Replace the content of a DRAFT: the file's content, or the draft's own when no --file is given, with the flags applied on top. --attach uploads files and joins them."},
	"submit":                {"ID [--client-id ID] [--json]", "Sign the draft and send it to the requested administration (SUBMITTED). The node names each missing or wrong mandatory field."},
	"ack":                   {"ID [--reference REF] [--client-id ID] [--json]", "Acknowledge receipt (RECEIVED): the node computes the deadline from its policy and signs it; the deadline runs."},
	"correct":               {"ID --reason TEXT... [--field PATH]... [--file F] [--client-id ID] [--json]", "Ask the requester to correct or complete the request (INCOMPLETE)."},
	"amend":                 {"ID [--file F] [content flags] [--attach FILE]... [--client-id ID] [--json]", "Send corrected content (AMENDED): the file's content, or the content in force when no --file is given, with the flags applied on top."},
	"accept":                {"ID [--note TEXT] [--client-id ID] [--json]", "Take the request on (IN_PROGRESS)."},
	"postpone":              {"ID --reason TEXT... [--until TIME] [--file F] [--client-id ID] [--json]", "Postpone (POSTPONED); --until moves the effective deadline."},
	"pending-authorisation": {"ID --expected DURATION --reason TEXT... [--file F] [--client-id ID] [--json]", "Wait for a judicial authorisation (PENDING_AUTHORISATION); the delay notice moves the effective deadline by the expected duration from now."},
	"partial":               {"ID (--file F | --title T --text X --tlp L --handling H) [--attach FILE]... [--note N] [--client-id ID] [--json]", "Send interim reply items (PARTIALLY_ANSWERED). The file holds a Reply; the flags add one item."},
	"answer":                {"ID (--file F | --title T --text X --tlp L --handling H) [--attach FILE]... [--note N] [--client-id ID] [--json]", "Send the final reply items (ANSWERED). The file holds a Reply; the flags add one item."},
	"refuse":                {"ID --code CODE --text TEXT [--file F] [--client-id ID] [--json]", "Refuse the request (REFUSED, terminal); the reason code and text are mandatory."},
	"withdraw":              {"ID [--reason TEXT] [--client-id ID] [--json]", "Withdraw this administration's request (WITHDRAWN, terminal)."},
	"close":                 {"ID [--outcome RATING] [--feedback TEXT] [--file F] [--client-id ID] [--json]", "Close an answered request, with optional outcome feedback (CLOSED, terminal)."},
	"get":                   {"ID [--json]", "Show one request: state, flags, deadline, content, replies, attachments and its verified history."},
	"list":                  {"[--direction D] [--counterpart XX] [--state S] [--overdue] [--json]", "List requests, newest activity first, with state, flags and deadline."},
	"watch":                 {"[--request ID] [--cursor C] [--follow] [--json]", "Print the changes of requests from the first (or after --cursor) and stop; with --follow, then print new ones until interrupted. The cursor to resume from is printed on stderr."},
	"upload":                {"ID FILE [--name N] [--media-type T] [--json]", "Upload a file for a request, in chunks; print its reference (--json: to paste into a request or reply file). It is sent with the transition that references it."},
	"download":              {"ID SHA256 --out FILE [--force]", "Download an attachment, in chunks, to --out; an existing file is kept unless --force."},
	"export":                {"ID [--dir DIR] [--json]", "List the signed envelopes of a request; --dir writes each (DSSE JSON as signed and stored) to a file for offline verification."},
}

// assistArgs parses a subcommand's flags and wants exactly want positional arguments.
func (e *env) assistArgs(fs *flag.FlagSet, args []string, want int, what string) ([]string, error) {
	sub := strings.TrimPrefix(fs.Name(), "assist ")
	if h, ok := assistSubs[sub]; ok { // -h prints the subcommand's usage
		e.cmd = &command{name: "assist", args: sub + " " + h[0], help: wrap(h[1], 88) + "\n\nSee \"cix help assist\" for files, retries and output."}
	}
	rest, err := e.parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) != want {
		return nil, usagef("assist", "%s", what)
	}
	return rest, nil
}

// wrap breaks text into lines of at most n characters, between words.
func wrap(text string, n int) string {
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(text) {
		if col > 0 && col+1+len(w) > n {
			b.WriteByte('\n')
			col = 0
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// readMessageFile decodes a YAML or JSON file (by content: JSON is YAML) into m, in the
// protobuf JSON mapping; unknown fields are an error. "-" reads stdin.
func readMessageFile(e *env, path string, m proto.Message) error {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(e.stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if v == nil {
		return fmt.Errorf("%s: empty", path)
	}
	j, err := yamlToJSON(v)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(raw, m); err != nil {
		return fmt.Errorf("%s: not a %s: %w", path, m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// yamlToJSON turns a decoded YAML value into one encoding/json can marshal: string
// keys only, times as RFC 3339.
func yamlToJSON(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			c, err := yamlToJSON(x)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("key %v: keys must be field names", k)
			}
			c, err := yamlToJSON(x)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			c, err := yamlToJSON(x)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), nil
	}
	return v, nil
}

// parseEnum reads an enum value given as its short name ("criminal",
// "administrative-and-criminal") or its full name.
func parseEnum(values map[string]int32, names map[int32]string, prefix, flagName, s string) (int32, error) {
	n := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	if v, ok := values[n]; ok && v != 0 {
		return v, nil
	}
	if v, ok := values[prefix+n]; ok && v != 0 {
		return v, nil
	}
	return 0, usagef("assist", "--%s %q: want one of %s", flagName, s, strings.Join(enumNames(names, prefix), ", "))
}

// parseFuture reads an RFC 3339 time, a date (midnight UTC) or a duration from now.
func parseFuture(flagName, s string) (*timestamppb.Timestamp, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.Parse("2006-01-02", s); err != nil {
			d, derr := time.ParseDuration(s)
			if derr != nil || d < 0 {
				return nil, usagef("assist", "--%s %q: want an RFC 3339 time, a date or a duration from now such as 72h", flagName, s)
			}
			t = assistNow().Add(d)
		}
	}
	ts := timestamppb.New(t)
	if ts.CheckValid() != nil {
		return nil, usagef("assist", "--%s %q is out of range", flagName, s)
	}
	return ts, nil
}

// clientIDFlag declares --client-id and returns the function that yields the id to
// use, a fresh UUID printed on stderr when none was given.
func clientIDFlag(fs *flag.FlagSet) func(e *env) string {
	id := fs.String("client-id", "", "idempotency `ID`: repeat a failed or uncertain call with the same id (default: a new UUID, printed)")
	return func(e *env) string {
		if *id != "" {
			return *id
		}
		*id = uuid.NewString()
		fmt.Fprintf(e.stderr, "client id %s (to retry this call safely, repeat it with --client-id %s)\n", *id, *id)
		return *id
	}
}

// contentFlags are the flags of a request's content.
type contentFlags struct {
	requesting, requested, to, legalBasis, nature, object string
	summary, confidentiality, timeLimit, urgency, oralAt  string
	provisions, persons, companies                        repeated
}

func (cf *contentFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&cf.requesting, "requesting-authority", "", "requesting authority (office or unit of this administration)")
	fs.StringVar(&cf.requested, "requested-authority", "", "requested authority in the counterpart administration")
	fs.StringVar(&cf.to, "to", "", "requested administration (ISO 3166 alpha-2 `CODE`)")
	fs.StringVar(&cf.legalBasis, "legal-basis", "", "legal basis `ID` from the deadline policy (e.g. naples-ii-art-10)")
	fs.StringVar(&cf.nature, "nature", "", "nature of proceedings: administrative, criminal, administrative_and_criminal, other")
	fs.StringVar(&cf.object, "object", "", "object of and reason for the request")
	fs.Var(&cf.provisions, "provision", "a legal provision concerned (repeat for more)")
	fs.Var(&cf.persons, "person", "`NAME` of a person concerned (repeat; details in --file)")
	fs.Var(&cf.companies, "company", "`NAME` of a company concerned (repeat; details in --file)")
	fs.StringVar(&cf.summary, "summary", "", "summary of the facts")
	fs.StringVar(&cf.confidentiality, "confidentiality", "", "confidentiality needs")
	fs.StringVar(&cf.timeLimit, "time-limit", "", "requested time limit: RFC 3339 `TIME`, date, or duration from now")
	fs.StringVar(&cf.urgency, "urgency", "", "normal, urgent or urgent_direct_access")
	fs.StringVar(&cf.oralAt, "oral-at", "", "`TIME` an urgent request was made orally (RFC 3339)")
}

// apply sets the fields whose flags were given on c.
func (cf *contentFlags) apply(set map[string]bool, c *pb.RequestContent) error {
	str := map[string]*string{
		"requesting-authority": &c.RequestingAuthority, "requested-authority": &c.RequestedAuthority,
		"to": &c.RequestedAdministration, "legal-basis": &c.LegalBasis, "object": &c.ObjectAndReason,
		"summary": &c.SummaryOfFacts, "confidentiality": &c.Confidentiality,
	}
	val := map[string]string{
		"requesting-authority": cf.requesting, "requested-authority": cf.requested, "to": strings.ToUpper(cf.to),
		"legal-basis": cf.legalBasis, "object": cf.object, "summary": cf.summary, "confidentiality": cf.confidentiality,
	}
	for name, p := range str {
		if set[name] {
			*p = val[name]
		}
	}
	if set["nature"] {
		v, err := parseEnum(pb.ProceedingsNature_value, pb.ProceedingsNature_name, "PROCEEDINGS_NATURE_", "nature", cf.nature)
		if err != nil {
			return err
		}
		c.NatureOfProceedings = pb.ProceedingsNature(v)
	}
	if set["urgency"] {
		v, err := parseEnum(pb.Urgency_value, pb.Urgency_name, "URGENCY_", "urgency", cf.urgency)
		if err != nil {
			return err
		}
		c.Urgency = pb.Urgency(v)
	}
	if set["time-limit"] {
		ts, err := parseFuture("time-limit", cf.timeLimit)
		if err != nil {
			return err
		}
		c.RequestedTimeLimit = ts
	}
	if set["oral-at"] {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(cf.oralAt))
		if err != nil {
			return usagef("assist", "--oral-at %q: want an RFC 3339 time", cf.oralAt)
		}
		c.OralRequestAt = timestamppb.New(t)
	}
	c.LegalProvisions = append(c.LegalProvisions, cf.provisions...)
	for _, n := range cf.persons {
		c.Parties = append(c.Parties, &pb.Party{Kind: pb.PartyKind_PARTY_KIND_PERSON, Name: n})
	}
	for _, n := range cf.companies {
		c.Parties = append(c.Parties, &pb.Party{Kind: pb.PartyKind_PARTY_KIND_COMPANY, Name: n})
	}
	return nil
}

// transitionResponse is the response of every RPC that sends a transition.
type transitionResponse interface {
	proto.Message
	GetRequest() *pb.Request
	GetTransition() *pb.HistoryEntry
	GetReplayed() bool
}

// reportTransition prints the outcome of a transition call.
func reportTransition(e *env, jsonOut bool, res transitionResponse) error {
	if jsonOut {
		return printJSON(e.stdout, res)
	}
	r, t := res.GetRequest(), res.GetTransition()
	fmt.Fprintf(e.stdout, "request %s: %s (%s)\n", r.GetRequestId(), stateName(r.GetState()), directionLine(r))
	fmt.Fprintf(e.stdout, "transition: %s, msg %s, sha256 %s\n", actionName(t.GetAction()), t.GetMsgId(), dash(clip(t.GetSha256(), 12, false)))
	if d := deadlineText(r, assistNow()); d != "-" {
		fmt.Fprintf(e.stdout, "deadline: %s\n", d)
	}
	if fl := flagsLine(r.GetFlags()); fl != "-" {
		fmt.Fprintf(e.stdout, "flags: %s\n", fl)
	}
	if res.GetReplayed() {
		fmt.Fprintln(e.stdout, "(replayed: this client id was used before; this is the first result, nothing new was sent)")
	}
	return nil
}

// act runs one transition RPC with the client id and prints the result.
func act(ctx context.Context, e *env, what string, jsonOut bool, call func(context.Context, pb.AssistanceServiceClient) (transitionResponse, error)) error {
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := call(cctx, client)
	if err != nil {
		return callErr("assist "+what, err)
	}
	return reportTransition(e, jsonOut, res)
}

func assistCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist create", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the RequestContent (\"-\": stdin)")
	var cf contentFlags
	cf.declare(fs)
	clientID := clientIDFlag(fs)
	jsonOut := fs.Bool("json", false, "print the response as JSON")
	if _, err := e.assistArgs(fs, args, 0, "assist create takes flags, no argument"); err != nil {
		return err
	}
	c := &pb.RequestContent{}
	if *file != "" {
		if err := readMessageFile(e, *file, c); err != nil {
			return err
		}
	}
	if err := cf.apply(setFlags(fs), c); err != nil {
		return err
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	id := clientID(e)
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.CreateRequest(cctx, &pb.CreateRequestRequest{ClientId: id, Content: c})
	if err != nil {
		return callErr("assist create", err)
	}
	if *jsonOut {
		return printJSON(e.stdout, res)
	}
	r := res.GetRequest()
	fmt.Fprintf(e.stdout, "request %s: %s (%s), nothing sent yet\n", r.GetRequestId(), stateName(r.GetState()), directionLine(r))
	if res.GetReplayed() {
		fmt.Fprintln(e.stdout, "(replayed: this client id was used before; this is the first result, nothing new was stored)")
	}
	fmt.Fprintf(e.stdout, "next: cix assist submit %s\n", r.GetRequestId())
	return nil
}

// contentEdit reads the content of update and amend: the file's, or the content in force
// without one, then the flags, then uploads --attach files and references them.
func contentEdit(ctx context.Context, e *env, client pb.AssistanceServiceClient, id, file string, set map[string]bool, cf *contentFlags, attach []string) (*pb.RequestContent, error) {
	c := &pb.RequestContent{}
	if file != "" {
		if err := readMessageFile(e, file, c); err != nil {
			return nil, err
		}
	} else {
		cctx, cancel := e.unary(ctx)
		defer cancel()
		g, err := client.GetRequest(cctx, &pb.GetRequestRequest{RequestId: id})
		if err != nil {
			return nil, callErr("assist get", err)
		}
		if g.GetRequest().GetContent() != nil {
			c = g.GetRequest().GetContent()
		}
	}
	if err := cf.apply(set, c); err != nil {
		return nil, err
	}
	refs, err := uploadAll(ctx, e, client, id, attach)
	if err != nil {
		return nil, err
	}
	c.Attachments = append(c.Attachments, refs...)
	return c, nil
}

func assistUpdate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist update", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the whole new RequestContent (default: the draft's content)")
	var cf contentFlags
	cf.declare(fs)
	var attach repeated
	fs.Var(&attach, "attach", "upload `FILE` and join it to the request (repeat for more)")
	jsonOut := fs.Bool("json", false, "print the response as JSON")
	rest, err := e.assistArgs(fs, args, 1, "assist update wants one request ID")
	if err != nil {
		return err
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	c, err := contentEdit(ctx, e, client, rest[0], *file, setFlags(fs), &cf, attach)
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.UpdateDraft(cctx, &pb.UpdateDraftRequest{RequestId: rest[0], Content: c})
	if err != nil {
		return callErr("assist update", err)
	}
	if *jsonOut {
		return printJSON(e.stdout, res)
	}
	r := res.GetRequest()
	fmt.Fprintf(e.stdout, "request %s: %s (%s), draft updated, nothing sent\n", r.GetRequestId(), stateName(r.GetState()), directionLine(r))
	return nil
}

// transitionArgs declares the flags common to transitions (--client-id, --json) and
// parses the request id.
func transitionArgs(e *env, fs *flag.FlagSet, args []string, name string) (string, func(*env) string, *bool, error) {
	clientID := clientIDFlag(fs)
	jsonOut := fs.Bool("json", false, "print the response as JSON")
	rest, err := e.assistArgs(fs, args, 1, "assist "+name+" wants one request ID")
	if err != nil {
		return "", nil, nil, err
	}
	return rest[0], clientID, jsonOut, nil
}

func assistSubmit(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist submit", flag.ContinueOnError)
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "submit")
	if err != nil {
		return err
	}
	return act(ctx, e, "submit", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: clientID(e)})
	})
}

func assistAck(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist ack", flag.ContinueOnError)
	ref := fs.String("reference", "", "this administration's own `REF` for the request")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "ack")
	if err != nil {
		return err
	}
	return act(ctx, e, "ack", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: clientID(e), Reference: *ref})
	})
}

func assistCorrect(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist correct", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the CorrectionRequest")
	var reasons, fields repeated
	fs.Var(&reasons, "reason", "what to correct (repeat for more; at least one)")
	fs.Var(&fields, "field", "field `PATH` concerned, e.g. content.parties (repeat)")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "correct")
	if err != nil {
		return err
	}
	p := &pb.CorrectionRequest{}
	if *file != "" {
		if err := readMessageFile(e, *file, p); err != nil {
			return err
		}
	}
	p.Reasons = append(p.Reasons, reasons...)
	p.Fields = append(p.Fields, fields...)
	return act(ctx, e, "correct", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.RequestCorrection(ctx, &pb.RequestCorrectionRequest{RequestId: id, ClientId: clientID(e), Correction: p})
	})
}

func assistAmend(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist amend", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the whole corrected RequestContent (default: the content in force)")
	var cf contentFlags
	cf.declare(fs)
	var attach repeated
	fs.Var(&attach, "attach", "upload `FILE` and join it to the request (repeat for more)")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "amend")
	if err != nil {
		return err
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	c, err := contentEdit(ctx, e, client, id, *file, setFlags(fs), &cf, attach)
	if err != nil {
		return err
	}
	return act(ctx, e, "amend", *jsonOut, func(ctx context.Context, cl pb.AssistanceServiceClient) (transitionResponse, error) {
		return cl.AmendRequest(ctx, &pb.AmendRequestRequest{RequestId: id, ClientId: clientID(e), Content: c})
	})
}

func assistAccept(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist accept", flag.ContinueOnError)
	note := fs.String("note", "", "a note for the requester")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "accept")
	if err != nil {
		return err
	}
	return act(ctx, e, "accept", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: clientID(e), Note: *note})
	})
}

func assistPostpone(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist postpone", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the Postponement")
	var reasons repeated
	fs.Var(&reasons, "reason", "why (repeat for more; at least one)")
	until := fs.String("until", "", "until `TIME` (RFC 3339, date, or duration from now); moves the deadline")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "postpone")
	if err != nil {
		return err
	}
	p := &pb.Postponement{}
	if *file != "" {
		if err := readMessageFile(e, *file, p); err != nil {
			return err
		}
	}
	p.Reasons = append(p.Reasons, reasons...)
	if *until != "" {
		if p.Until, err = parseFuture("until", *until); err != nil {
			return err
		}
	}
	return act(ctx, e, "postpone", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.PostponeRequest(ctx, &pb.PostponeRequestRequest{RequestId: id, ClientId: clientID(e), Postponement: p})
	})
}

func assistPending(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist pending-authorisation", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the DelayNotice")
	expected := fs.Duration("expected", 0, "expected `DURATION` of the judicial authorisation, from now (e.g. 240h); required")
	var reasons repeated
	fs.Var(&reasons, "reason", "why (repeat for more; at least one)")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "pending-authorisation")
	if err != nil {
		return err
	}
	p := &pb.DelayNotice{}
	if *file != "" {
		if err := readMessageFile(e, *file, p); err != nil {
			return err
		}
	}
	if *expected < 0 {
		return usagef("assist", "--expected must be positive")
	}
	if *expected > 0 {
		p.ExpectedDuration = durationpb.New(*expected)
	}
	p.Reasons = append(p.Reasons, reasons...)
	return act(ctx, e, "pending-authorisation", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.MarkPendingAuthorisation(ctx, &pb.MarkPendingAuthorisationRequest{RequestId: id, ClientId: clientID(e), DelayNotice: p})
	})
}

// replyFlags are the flags of a (partial) answer: one item, a note, attachments.
type replyFlags struct {
	file, title, text, tlp, handling, restrictions, note string
	attach                                               repeated
}

func (rf *replyFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&rf.file, "file", "", "YAML or JSON `FILE` with the Reply (items, note)")
	fs.StringVar(&rf.title, "title", "", "title of one more item")
	fs.StringVar(&rf.text, "text", "", "the item's information")
	fs.StringVar(&rf.tlp, "tlp", "", "the item's TLP `LABEL`: clear, green, amber, amber+strict, red")
	fs.StringVar(&rf.handling, "handling", "", "the item's handling `CODE`: h0, h1, h2, h3")
	fs.StringVar(&rf.restrictions, "restrictions", "", "the item's restrictions (with h3)")
	fs.StringVar(&rf.note, "note", "", "a note on the reply")
	fs.Var(&rf.attach, "attach", "upload `FILE` and join it to the item (repeat for more)")
}

// reply builds the Reply: the file's items, then one item from the flags, with the
// uploaded --attach files.
func (rf *replyFlags) reply(ctx context.Context, e *env, id string) (*pb.Reply, error) {
	r := &pb.Reply{}
	if rf.file != "" {
		if err := readMessageFile(e, rf.file, r); err != nil {
			return nil, err
		}
	}
	if rf.note != "" {
		r.Note = rf.note
	}
	if rf.title == "" && rf.text == "" && rf.tlp == "" && rf.handling == "" && len(rf.attach) == 0 {
		return r, nil
	}
	if rf.title == "" {
		return nil, usagef("assist", "--text, --tlp, --handling and --attach describe one item: --title is required with them (items of a --file take references from \"cix assist upload --json\")")
	}
	it := &pb.ReplyItem{Title: rf.title, Text: rf.text, Handling: &alertv1.Handling{Restrictions: rf.restrictions}}
	if rf.tlp != "" {
		t, ok := parseTLP(rf.tlp)
		if !ok {
			return nil, usagef("assist", "--tlp %q: want clear, green, amber, amber+strict or red", rf.tlp)
		}
		it.Handling.Tlp = t
	}
	if rf.handling != "" {
		c, ok := alertv1.HandlingCode_value["HANDLING_CODE_"+strings.ToUpper(rf.handling)]
		if !ok || c == 0 {
			return nil, usagef("assist", "--handling %q: want h0, h1, h2 or h3", rf.handling)
		}
		it.Handling.Code = alertv1.HandlingCode(c)
	}
	if len(rf.attach) > 0 {
		client, err := e.assistClient()
		if err != nil {
			return nil, err
		}
		if it.Attachments, err = uploadAll(ctx, e, client, id, rf.attach); err != nil {
			return nil, err
		}
	}
	r.Items = append(r.Items, it)
	return r, nil
}

func assistPartial(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist partial", flag.ContinueOnError)
	var rf replyFlags
	rf.declare(fs)
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "partial")
	if err != nil {
		return err
	}
	r, err := rf.reply(ctx, e, id)
	if err != nil {
		return err
	}
	return act(ctx, e, "partial", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.SendPartialAnswer(ctx, &pb.SendPartialAnswerRequest{RequestId: id, ClientId: clientID(e), Reply: r})
	})
}

func assistAnswer(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist answer", flag.ContinueOnError)
	var rf replyFlags
	rf.declare(fs)
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "answer")
	if err != nil {
		return err
	}
	r, err := rf.reply(ctx, e, id)
	if err != nil {
		return err
	}
	return act(ctx, e, "answer", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: id, ClientId: clientID(e), Reply: r})
	})
}

func assistRefuse(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist refuse", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the Refusal")
	code := fs.String("code", "", "reason `CODE`: "+strings.Join(enumNames(pb.RefusalReason_name, "REFUSAL_REASON_"), ", "))
	text := fs.String("text", "", "the reasons in full; required")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "refuse")
	if err != nil {
		return err
	}
	p := &pb.Refusal{}
	if *file != "" {
		if err := readMessageFile(e, *file, p); err != nil {
			return err
		}
	}
	if *code != "" {
		v, err := parseEnum(pb.RefusalReason_value, pb.RefusalReason_name, "REFUSAL_REASON_", "code", *code)
		if err != nil {
			return err
		}
		p.Reason = pb.RefusalReason(v)
	}
	if *text != "" {
		p.Text = *text
	}
	return act(ctx, e, "refuse", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.RefuseRequest(ctx, &pb.RefuseRequestRequest{RequestId: id, ClientId: clientID(e), Refusal: p})
	})
}

func assistWithdraw(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist withdraw", flag.ContinueOnError)
	reason := fs.String("reason", "", "why the request is withdrawn")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "withdraw")
	if err != nil {
		return err
	}
	return act(ctx, e, "withdraw", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.WithdrawRequest(ctx, &pb.WithdrawRequestRequest{RequestId: id, ClientId: clientID(e), Reason: *reason})
	})
}

func assistClose(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist close", flag.ContinueOnError)
	file := fs.String("file", "", "YAML or JSON `FILE` with the Closure")
	outcome := fs.String("outcome", "", "how useful the answer was: useful, partly_useful, not_useful")
	feedback := fs.String("feedback", "", "outcome feedback for the requested side")
	id, clientID, jsonOut, err := transitionArgs(e, fs, args, "close")
	if err != nil {
		return err
	}
	p := &pb.Closure{}
	if *file != "" {
		if err := readMessageFile(e, *file, p); err != nil {
			return err
		}
	}
	if *outcome != "" {
		v, err := parseEnum(pb.OutcomeRating_value, pb.OutcomeRating_name, "OUTCOME_RATING_", "outcome", *outcome)
		if err != nil {
			return err
		}
		p.Outcome = pb.OutcomeRating(v)
	}
	if *feedback != "" {
		p.Feedback = *feedback
	}
	return act(ctx, e, "close", *jsonOut, func(ctx context.Context, c pb.AssistanceServiceClient) (transitionResponse, error) {
		return c.CloseRequest(ctx, &pb.CloseRequestRequest{RequestId: id, ClientId: clientID(e), Closure: p})
	})
}

// --- reading ---

func assistGet(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist get", flag.ContinueOnError)
	jsonOut := fs.Bool("json", false, "print the response as JSON")
	rest, err := e.assistArgs(fs, args, 1, "assist get wants one request ID")
	if err != nil {
		return err
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.GetRequest(cctx, &pb.GetRequestRequest{RequestId: rest[0]})
	if err != nil {
		return callErr("assist get", err)
	}
	if *jsonOut {
		return printJSON(e.stdout, res)
	}
	return printRequest(e.stdout, res.GetRequest(), assistNow())
}

func assistList(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist list", flag.ContinueOnError)
	dir := fs.String("direction", "", "incoming or outgoing (default both)")
	counterpart := fs.String("counterpart", "", "only requests with this administration (`CODE`)")
	state := fs.String("state", "", "only requests in this `STATE` (e.g. in_progress)")
	overdue := fs.Bool("overdue", false, "only overdue requests")
	jsonOut := fs.Bool("json", false, "print the requests as one JSON object")
	if _, err := e.assistArgs(fs, args, 0, "assist list takes flags, no argument"); err != nil {
		return err
	}
	req := &pb.ListRequestsRequest{Counterpart: strings.ToUpper(*counterpart), OverdueOnly: *overdue}
	if *dir != "" {
		v, err := parseEnum(pb.Direction_value, pb.Direction_name, "DIRECTION_", "direction", *dir)
		if err != nil {
			return err
		}
		req.Direction = pb.Direction(v)
	}
	if *state != "" {
		v, err := parseEnum(pb.RequestState_value, pb.RequestState_name, "REQUEST_STATE_", "state", *state)
		if err != nil {
			return err
		}
		req.State = pb.RequestState(v)
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	all := &pb.ListRequestsResponse{}
	for {
		res, err := client.ListRequests(cctx, req)
		if err != nil {
			return callErr("assist list", err)
		}
		all.Requests = append(all.Requests, res.GetRequests()...)
		if req.PageToken = res.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if *jsonOut {
		return printJSON(e.stdout, all)
	}
	return printRequests(e.stdout, all.GetRequests(), assistNow())
}

// printRequests prints the requests table.
func printRequests(w io.Writer, rs []*pb.Request, now time.Time) error {
	if len(rs) == 0 {
		fmt.Fprintln(w, "(no requests)")
		return nil
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tDIRECTION\tCOUNTERPART\tSTATE\tFLAGS\tDEADLINE\tUPDATED")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.GetRequestId(), directionName(r.GetDirection()), dash(r.GetCounterpart()),
			stateName(r.GetState()), flagsLine(r.GetFlags()), deadlineText(r, now), tsLine(r.GetUpdatedAt()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l != "" {
			fmt.Fprintln(w, strings.TrimRight(l, " \n"))
		}
	}
	return nil
}

func stateName(s pb.RequestState) string { return strings.TrimPrefix(s.String(), "REQUEST_STATE_") }
func actionName(a pb.Action) string      { return strings.TrimPrefix(a.String(), "ACTION_") }

func directionName(d pb.Direction) string {
	switch d {
	case pb.Direction_DIRECTION_OUTGOING:
		return "outgoing"
	case pb.Direction_DIRECTION_INCOMING:
		return "incoming"
	}
	return "-"
}

// directionLine says who asks whom, e.g. "outgoing, NL to BE".
func directionLine(r *pb.Request) string {
	s := directionName(r.GetDirection())
	if r.GetRequestingAdministration() != "" || r.GetRequestedAdministration() != "" {
		s += ", " + dash(r.GetRequestingAdministration()) + " to " + dash(r.GetRequestedAdministration())
	}
	return s
}

func flagsLine(fs []pb.Flag) string {
	var out []string
	for _, f := range fs {
		out = append(out, strings.TrimPrefix(f.String(), "FLAG_"))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func tsLine(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return timeLine(ts.AsTime())
}

// settled states are those where a deadline no longer runs.
func settled(s pb.RequestState) bool {
	switch s {
	case pb.RequestState_REQUEST_STATE_ANSWERED, pb.RequestState_REQUEST_STATE_CLOSED,
		pb.RequestState_REQUEST_STATE_REFUSED, pb.RequestState_REQUEST_STATE_WITHDRAWN:
		return true
	}
	return false
}

// deadlineText renders the effective deadline in UTC with the time left or overdue,
// e.g. "2026-12-01 14:00 UTC (in 3h12m)"; "-" without a deadline. Settled requests
// show the time only.
func deadlineText(r *pb.Request, now time.Time) string {
	d := r.GetEffectiveDeadline()
	if d == nil {
		d = r.GetDeadline()
	}
	if d == nil {
		return "-"
	}
	t := d.AsTime()
	s := timeLine(t) + " UTC"
	if settled(r.GetState()) {
		return s
	}
	if left := t.Sub(now); left >= 0 {
		return s + " (in " + shortDuration(left) + ")"
	}
	return s + " (overdue by " + shortDuration(t.Sub(now)*-1) + ")"
}

// shortDuration renders d to the minute, rounded down: "3h12m", "2h", "45m", "2d5h"
// (days without minutes), "<1m".
func shortDuration(d time.Duration) string {
	d = d.Truncate(time.Minute)
	if d < time.Minute {
		return "<1m"
	}
	days, h, m := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	var s string
	if days > 0 {
		s = fmt.Sprintf("%dd", days)
		if h > 0 {
			s += fmt.Sprintf("%dh", h)
		}
		return s
	}
	if h > 0 {
		s = fmt.Sprintf("%dh", h)
	}
	if m > 0 {
		s += fmt.Sprintf("%dm", m)
	}
	return s
}

// printRequest prints one request: state, deadline, content, replies, attachments and
// history.
func printRequest(w io.Writer, r *pb.Request, now time.Time) error {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-22s %s\n", k+":", v)
		}
	}
	line("request", r.GetRequestId())
	line("direction", directionLine(r))
	line("state", stateName(r.GetState()))
	line("flags", flagsLine(r.GetFlags()))
	line("deadline", deadlineText(r, now))
	if r.GetDeadline() != nil && r.GetEffectiveDeadline() != nil && !r.GetDeadline().AsTime().Equal(r.GetEffectiveDeadline().AsTime()) {
		line("signed deadline", tsLine(r.GetDeadline())+" UTC (moved by a delay notice or postponement)")
	}
	if r.GetCreatedAt() != nil {
		line("created", tsLine(r.GetCreatedAt()))
	}
	if r.GetUpdatedAt() != nil {
		line("updated", tsLine(r.GetUpdatedAt()))
	}
	if r.GetHeadSha256() != "" {
		line("head", fmt.Sprintf("%s (%d transitions)", clip(r.GetHeadSha256(), 12, false), r.GetTransitionCount()))
	}
	if c := r.GetContent(); c != nil {
		fmt.Fprintln(w, "\nContent:")
		cl := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "  %-24s %s\n", k+":", v)
			}
		}
		cl("requesting authority", c.GetRequestingAuthority())
		cl("requested authority", c.GetRequestedAuthority())
		cl("requested admin.", c.GetRequestedAdministration())
		cl("legal basis", c.GetLegalBasis())
		if c.GetNatureOfProceedings() != 0 {
			cl("nature of proceedings", enumShort(c.GetNatureOfProceedings().String(), "PROCEEDINGS_NATURE_"))
		}
		if c.GetUrgency() != 0 {
			cl("urgency", enumShort(c.GetUrgency().String(), "URGENCY_"))
		}
		if c.GetRequestedTimeLimit() != nil {
			cl("requested time limit", tsLine(c.GetRequestedTimeLimit())+" UTC")
		}
		if c.GetOralRequestAt() != nil {
			cl("oral request at", tsLine(c.GetOralRequestAt())+" UTC")
		}
		cl("object and reason", c.GetObjectAndReason())
		cl("legal provisions", strings.Join(c.GetLegalProvisions(), "; "))
		for i, p := range c.GetParties() {
			k := ""
			if i == 0 {
				k = "parties"
			}
			fmt.Fprintf(w, "  %-24s %s\n", k+strings.Repeat(":", min(len(k), 1)), partyLine(p))
		}
		cl("summary of facts", c.GetSummaryOfFacts())
		cl("confidentiality", c.GetConfidentiality())
	}
	if len(r.GetReplies()) > 0 {
		fmt.Fprintln(w, "\nReplies:")
		for i, it := range r.GetReplies() {
			h := it.GetHandling()
			fmt.Fprintf(w, "  %d. %s [%s]\n", i+1, it.GetTitle(), handlingLine(h.GetTlp(), h.GetCode(), h.GetRestrictions()))
			if it.GetText() != "" {
				fmt.Fprintf(w, "     %s\n", it.GetText())
			}
			for _, a := range it.GetAttachments() {
				fmt.Fprintf(w, "     attachment %s\n", refLine(a))
			}
		}
	}
	if len(r.GetAttachments()) > 0 {
		fmt.Fprintln(w, "\nAttachments:")
		for _, a := range r.GetAttachments() {
			avail := "not yet received"
			if a.GetAvailable() {
				avail = "available"
			}
			fmt.Fprintf(w, "  %s, %s (cix assist download %s %s --out FILE)\n", refLine(a.GetRef()), avail, r.GetRequestId(), a.GetRef().GetSha256())
		}
	}
	if len(r.GetHistory()) > 0 {
		fmt.Fprintln(w, "\nHistory:")
		var b bytes.Buffer
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ACTION\tACTOR\tISSUED\tSHA256\tPREV\tSTATE AFTER\tDETAIL")
		for _, h := range r.GetHistory() {
			after := stateName(h.GetStateAfter())
			if h.GetSupersededBy() != "" {
				after = "superseded by " + clip(h.GetSupersededBy(), 8, false)
			}
			actor := h.GetActorAdministration()
			if h.GetSignerNode() != "" {
				actor += "/" + h.GetSignerNode()
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", actionName(h.GetAction()), dash(actor), tsLine(h.GetIssuedAt()),
				dash(clip(h.GetSha256(), 8, false)), dash(clip(h.GetPrevSha256(), 8, false)), after, clip(transitionDetail(h.GetTransition()), 70, true))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, l := range strings.SplitAfter(b.String(), "\n") {
			if l != "" {
				fmt.Fprintln(w, strings.TrimRight(l, " \n"))
			}
		}
	}
	return nil
}

func partyLine(p *pb.Party) string {
	s := enumShort(p.GetKind().String(), "PARTY_KIND_") + " " + p.GetName()
	var more []string
	for _, kv := range [][2]string{{"born", p.GetDateOfBirth()}, {"id", p.GetIdentifier()}, {"country", p.GetCountry()},
		{"address", p.GetAddress()}, {"role", p.GetRole()}} {
		if kv[1] != "" {
			more = append(more, kv[0]+" "+kv[1])
		}
	}
	if len(more) > 0 {
		s += " (" + strings.Join(more, ", ") + ")"
	}
	return s
}

func refLine(a *pb.AttachmentRef) string {
	return fmt.Sprintf("%s (%s, %d bytes, sha256 %s)", a.GetName(), dash(a.GetMediaType()), a.GetSize(), clip(a.GetSha256(), 12, false))
}

// transitionDetail summarises a transition's content in one line.
func transitionDetail(t *pb.Transition) string {
	switch c := t.GetContent().(type) {
	case *pb.Transition_Request:
		return "legal basis " + c.Request.GetLegalBasis() + ", " + enumShort(c.Request.GetUrgency().String(), "URGENCY_")
	case *pb.Transition_Delivery:
		return "delivered " + clip(c.Delivery.GetSubmitSha256(), 8, false)
	case *pb.Transition_Acknowledgement:
		s := "deadline " + tsLine(c.Acknowledgement.GetDeadline()) + " (" + c.Acknowledgement.GetPolicyEntry() + ")"
		if ref := c.Acknowledgement.GetReference(); ref != "" {
			s += ", ref " + ref
		}
		return s
	case *pb.Transition_Correction:
		s := strings.Join(c.Correction.GetReasons(), "; ")
		if fs := c.Correction.GetFields(); len(fs) > 0 {
			s += " [" + strings.Join(fs, ", ") + "]"
		}
		return s
	case *pb.Transition_Acceptance:
		return c.Acceptance.GetNote()
	case *pb.Transition_Postponement:
		s := strings.Join(c.Postponement.GetReasons(), "; ")
		if u := c.Postponement.GetUntil(); u != nil {
			s = "until " + tsLine(u) + ": " + s
		}
		return s
	case *pb.Transition_DelayNotice:
		return "expected " + shortDuration(c.DelayNotice.GetExpectedDuration().AsDuration()) + ": " + strings.Join(c.DelayNotice.GetReasons(), "; ")
	case *pb.Transition_Reply:
		var ts []string
		for _, it := range c.Reply.GetItems() {
			ts = append(ts, it.GetTitle())
		}
		return fmt.Sprintf("%d item(s): %s", len(ts), strings.Join(ts, "; "))
	case *pb.Transition_Refusal:
		return enumShort(c.Refusal.GetReason().String(), "REFUSAL_REASON_") + ": " + c.Refusal.GetText()
	case *pb.Transition_Withdrawal:
		return c.Withdrawal.GetReason()
	case *pb.Transition_Closure:
		s := enumShort(c.Closure.GetOutcome().String(), "OUTCOME_RATING_")
		if f := c.Closure.GetFeedback(); f != "" {
			s += ": " + f
		}
		return s
	}
	return ""
}

func assistWatch(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist watch", flag.ContinueOnError)
	requestID := fs.String("request", "", "only changes of the request with this `ID`")
	cursor := fs.String("cursor", "", "start right after the event that carried this `cursor`")
	follow := fs.Bool("follow", false, "after the past changes, print new ones until interrupted")
	jsonOut := fs.Bool("json", false, "print each event as one line of JSON")
	if _, err := e.assistArgs(fs, args, 0, "assist watch takes flags, no argument"); err != nil {
		return err
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.WatchRequests(ctx, &pb.WatchRequestsRequest{Cursor: *cursor, RequestId: *requestID})
	if err != nil {
		return callErr("assist watch", err)
	}
	last := *cursor
	defer func() {
		if last != "" {
			fmt.Fprintf(e.stderr, "resume with: cix assist watch --cursor %s\n", last)
		}
	}()
	now := assistNow()
	for {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || (ctx.Err() != nil && status.Code(err) == codes.Canceled) {
				return nil
			}
			return callErr("assist watch", err)
		}
		if *jsonOut {
			b, err := protojson.Marshal(ev)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
		switch ev := ev.GetEvent().(type) {
		case *pb.WatchRequestsResponse_Changed:
			last = ev.Changed.GetCursor()
			if *jsonOut {
				continue
			}
			r, h := ev.Changed.GetRequest(), ev.Changed.GetEntry()
			// The request is as it is now (flags, deadline); the state is the one after
			// the change, so that a replayed history reads in order.
			what, when, after := "draft saved", r.GetUpdatedAt(), stateName(r.GetState())
			if h != nil {
				what, when, after = actionName(h.GetAction())+" by "+h.GetActorAdministration(), h.GetIssuedAt(), stateName(h.GetStateAfter())
				if h.GetSupersededBy() != "" {
					after = "superseded by " + clip(h.GetSupersededBy(), 8, false)
				}
			}
			fmt.Fprintf(e.stdout, "%s  %s  %s %s  %s -> %s  now: flags %s, deadline %s\n", tsLine(when), r.GetRequestId(),
				directionName(r.GetDirection()), dash(r.GetCounterpart()), what, after, flagsLine(r.GetFlags()), deadlineText(r, now))
		case *pb.WatchRequestsResponse_Conflict:
			last = ev.Conflict.GetCursor()
			if !*jsonOut {
				fmt.Fprintf(e.stdout, "CONFLICT  %s  transition %s superseded by %s\n", ev.Conflict.GetRequestId(),
					clip(ev.Conflict.GetSupersededSha256(), 8, false), clip(ev.Conflict.GetWinnerSha256(), 8, false))
			}
		case *pb.WatchRequestsResponse_CaughtUp:
			if c := ev.CaughtUp.GetCursor(); c != "" && c != "0" {
				last = c
			}
			if !*follow {
				return nil
			}
		}
	}
}

// --- attachments ---

// uploadFile streams one file to the node and returns its reference.
func uploadFile(ctx context.Context, client pb.AssistanceServiceClient, id, path, name, mediaType string) (*pb.AttachmentRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if name == "" {
		name = filepath.Base(path)
	}
	if mediaType == "" {
		if mediaType = mime.TypeByExtension(filepath.Ext(path)); mediaType == "" {
			mediaType = "application/octet-stream"
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.UploadAttachment(ctx)
	if err != nil {
		return nil, callErr("assist upload", err)
	}
	send := func(m *pb.UploadAttachmentRequest) error {
		if err := stream.Send(m); err != nil {
			if errors.Is(err, io.EOF) { // the server ended the call: its status says why
				_, err = stream.CloseAndRecv()
			}
			return callErr("assist upload "+path, err)
		}
		return nil
	}
	if err := send(&pb.UploadAttachmentRequest{Part: &pb.UploadAttachmentRequest_Header{Header: &pb.AttachmentHeader{
		RequestId: id, Name: name, MediaType: mediaType}}}); err != nil {
		return nil, err
	}
	buf := make([]byte, uploadChunk)
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if err := send(&pb.UploadAttachmentRequest{Part: &pb.UploadAttachmentRequest_Chunk{Chunk: bytes.Clone(buf[:n])}}); err != nil {
				return nil, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		return nil, callErr("assist upload "+path, err)
	}
	return res.GetRef(), nil
}

func uploadAll(ctx context.Context, e *env, client pb.AssistanceServiceClient, id string, paths []string) ([]*pb.AttachmentRef, error) {
	var refs []*pb.AttachmentRef
	for _, p := range paths {
		ref, err := uploadFile(ctx, client, id, p, "", "")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stderr, "uploaded %s\n", refLine(ref))
		refs = append(refs, ref)
	}
	return refs, nil
}

func assistUpload(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist upload", flag.ContinueOnError)
	name := fs.String("name", "", "file name given to the receiver (default: FILE's base name)")
	mediaType := fs.String("media-type", "", "media `TYPE` (default: from the extension)")
	jsonOut := fs.Bool("json", false, "print the reference as JSON, to paste into a request or reply file")
	rest, err := e.assistArgs(fs, args, 2, "assist upload wants a request ID and a FILE")
	if err != nil {
		return err
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	ref, err := uploadFile(ctx, client, rest[0], rest[1], *name, *mediaType)
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, &pb.UploadAttachmentResponse{Ref: ref})
	}
	fmt.Fprintf(e.stdout, "uploaded %s\nsha256 %s\n", refLine(ref), ref.GetSha256())
	fmt.Fprintln(e.stdout, "it is sent with the transition that references it (--attach, or attachments in a --file)")
	return nil
}

func assistDownload(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist download", flag.ContinueOnError)
	out := fs.String("out", "", "write the file to `FILE` (\"-\": standard output); required")
	force := fs.Bool("force", false, "overwrite FILE if it exists")
	rest, err := e.assistArgs(fs, args, 2, "assist download wants a request ID and the attachment's SHA256")
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("assist", "--out is required")
	}
	if *out != "-" && !*force {
		if _, err := os.Lstat(*out); err == nil {
			return fmt.Errorf("%s exists: not overwritten (use --force)", *out)
		}
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.GetAttachment(ctx, &pb.GetAttachmentRequest{RequestId: rest[0], Sha256: strings.ToLower(rest[1])})
	if err != nil {
		return callErr("assist download", err)
	}
	var w io.Writer = e.stdout
	var tmp *os.File
	if *out != "-" {
		if tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".part-*"); err != nil {
			return err
		}
		defer func() {
			if tmp != nil {
				_ = tmp.Close()
				_ = os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	var ref *pb.AttachmentRef
	var n int64
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return callErr("assist download", err)
		}
		switch p := m.GetPart().(type) {
		case *pb.GetAttachmentResponse_Ref:
			ref = p.Ref
		case *pb.GetAttachmentResponse_Chunk:
			if _, err := w.Write(p.Chunk); err != nil {
				return err
			}
			n += int64(len(p.Chunk))
		}
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return err
		}
		name := tmp.Name()
		if *force {
			err = os.Rename(name, *out)
		} else if err = os.Link(name, *out); err == nil { // fails if *out appeared meanwhile
			_ = os.Remove(name)
		}
		if err != nil {
			return err
		}
		tmp = nil
		fmt.Fprintf(e.stderr, "wrote %s: %s, %d bytes\n", *out, refLine(ref), n)
	}
	return nil
}

func assistExport(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("assist export", flag.ContinueOnError)
	dir := fs.String("dir", "", "write each envelope to `DIR`/NN-MSGID.dsse.json")
	jsonOut := fs.Bool("json", false, "print the response as JSON (envelopes in base64)")
	rest, err := e.assistArgs(fs, args, 1, "assist export wants one request ID")
	if err != nil {
		return err
	}
	client, err := e.assistClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.ExportHistory(cctx, &pb.ExportHistoryRequest{RequestId: rest[0]})
	if err != nil {
		return callErr("assist export", err)
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
		for i, en := range res.GetEnvelopes() {
			name := filepath.Join(*dir, fmt.Sprintf("%02d-%s.dsse.json", i+1, safeName(en.GetMsgId())))
			if err := os.WriteFile(name, en.GetEnvelope(), 0o644); err != nil {
				return err
			}
		}
	}
	if *jsonOut {
		return printJSON(e.stdout, res)
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tMSG\tSHA256\tPREV\tSUPERSEDED BY\tBYTES\tSUBJECT")
	for i, en := range res.GetEnvelopes() {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", i+1, en.GetMsgId(), clip(en.GetSha256(), 12, false), dash(clip(en.GetPrevSha256(), 12, false)),
			dash(clip(en.GetSupersededBy(), 12, false)), len(en.GetEnvelope()), en.GetSubject())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprint(e.stdout, b.String())
	if *dir != "" {
		fmt.Fprintf(e.stderr, "wrote %d envelopes to %s\n", len(res.GetEnvelopes()), *dir)
	}
	return nil
}

// safeName keeps the characters of a message id that are safe in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}
