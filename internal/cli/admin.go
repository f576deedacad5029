package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	fedconf "github.com/cix-exchange/cix/internal/federation"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
)

var cmdQuarantine = &command{
	name: "quarantine", args: "list [--json] [--limit N]",
	summary: "list messages the node refused to deliver, with the reasons",
	help: `
List the messages that failed verification at the node (bad signature, unknown key,
origin mismatch, ...), newest first: sequence, time, reason, NATS subject and detail,
then the number of messages by reason. Quarantined messages are never delivered.`,
	flags: func(fs *flag.FlagSet) runFunc {
		jsonOut := fs.Bool("json", false, "print the messages and counts as JSON")
		limit := fs.Int("limit", 100, "list at most `N` messages")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 || args[0] != "list" {
				return usagef("quarantine", "quarantine wants a subcommand: list")
			}
			if *limit <= 0 {
				return usagef("quarantine", "--limit must be positive")
			}
			return quarantineList(ctx, e, *limit, *jsonOut)
		}
	},
}

// listQuarantine pages through the quarantine until limit messages.
func listQuarantine(ctx context.Context, client nodev1.AdminServiceClient, limit int) (*nodev1.ListQuarantineResponse, error) {
	out := &nodev1.ListQuarantineResponse{}
	token := ""
	for len(out.Messages) < limit {
		res, err := client.ListQuarantine(ctx, &nodev1.ListQuarantineRequest{
			PageSize: uint32(min(limit-len(out.Messages), 1000)), PageToken: token,
		})
		if err != nil {
			return nil, callErr("list quarantine", err)
		}
		out.Messages = append(out.Messages, res.GetMessages()...)
		out.Counts = res.GetCounts()
		token = res.GetNextPageToken()
		if token == "" || len(res.GetMessages()) == 0 {
			break
		}
	}
	return out, nil
}

func quarantineList(ctx context.Context, e *env, limit int, jsonOut bool) error {
	client, err := e.adminClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := listQuarantine(cctx, client, limit)
	if err != nil {
		return err
	}
	if jsonOut {
		b, err := prettyJSON(res)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tREASON\tSUBJECT\tDETAIL")
	for _, m := range res.GetMessages() {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", m.GetSequence(), timeLine(m.GetQuarantinedAt().AsTime()),
			reasonName(m.GetReason()), clip(quarantineSubject(m), 72, true), clip(quarantineDetail(m), 100, true))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.GetMessages()) == 0 {
		fmt.Fprintln(e.stdout, "(quarantine empty)")
	}
	printCounts(e.stdout, res.GetCounts())
	return nil
}

// quarantineSubject is the subject a quarantined message arrived on, with the alert's id
// from its message id in place of the "_" that ends the federation's alert subjects.
func quarantineSubject(m *nodev1.QuarantinedMessage) string {
	subject, msgID := m.GetSubject(), m.GetMessageId()
	id := msgID[strings.LastIndexByte(msgID, '.')+1:]
	if fedconf.IsAlertSubject(subject) && id != "" && fedconf.OutboundMsgID(subject, id) == msgID {
		return msgID
	}
	return subject
}

// reasonName is the short lower-case name of a quarantine reason, e.g. bad_signature.
func reasonName(r nodev1.QuarantineReason) string {
	return enumShort(r.String(), "QUARANTINE_REASON_")
}

// quarantineDetail is the detail of a quarantined message without the reason name it
// repeats.
func quarantineDetail(m *nodev1.QuarantinedMessage) string {
	return strings.TrimPrefix(m.GetDetail(), reasonName(m.GetReason())+": ")
}

func printCounts(w io.Writer, counts map[string]uint64) {
	if len(counts) == 0 {
		return
	}
	names := make([]string, 0, len(counts))
	var total uint64
	for n, c := range counts {
		names = append(names, n)
		total += c
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + strconv.FormatUint(counts[n], 10)
	}
	fmt.Fprintf(w, "\nquarantined by reason (%d in all): %s\n", total, strings.Join(parts, ", "))
}

var cmdInfo = &command{
	name: "info", args: "[--json]",
	summary: "describe the node: identity, trust anchors, counters",
	help: `
Describe the node: its administration and name, the key id and validity of its signing
certificate, the administrations whose trust anchors it holds, and how many alerts its
feed and its quarantine hold.`,
	flags: func(fs *flag.FlagSet) runFunc {
		jsonOut := fs.Bool("json", false, "print the node info as JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("info", "unexpected argument %q", args[0])
			}
			client, err := e.adminClient()
			if err != nil {
				return err
			}
			cctx, cancel := e.unary(ctx)
			defer cancel()
			info, err := client.GetNodeInfo(cctx, &nodev1.GetNodeInfoRequest{})
			if err != nil {
				return callErr("info", err)
			}
			if *jsonOut {
				b, err := prettyJSON(info)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", b)
				return nil
			}
			printInfo(e.stdout, e.addr, info, time.Now())
			return nil
		}
	},
}

func printInfo(w io.Writer, addr string, info *nodev1.GetNodeInfoResponse, now time.Time) {
	cert := "-"
	if t := info.GetCertificateNotAfter(); t != nil {
		left := t.AsTime().Sub(now).Round(time.Hour)
		cert = fmt.Sprintf("valid until %s (%s)", timeLine(t.AsTime()), durationWords(left))
	}
	trusted := strings.Join(info.GetTrustedAdministrations(), ", ")
	if trusted == "" {
		trusted = "-"
	}
	rows := [][2]string{
		{"node", info.GetAdministration() + "/" + info.GetNode() + " at " + addr},
		{"key id", info.GetKeyid()},
		{"certificate", cert},
		{"trusts", trusted},
		{"feed", strconv.FormatUint(info.GetFeedAlerts(), 10) + " verified alerts"},
		{"quarantine", strconv.FormatUint(info.GetQuarantined(), 10) + " refused messages"},
	}
	if st := info.GetNatsCredentialsState(); st != "" {
		creds := fmt.Sprintf("from Vault KV, version %d, %s", info.GetNatsCredentialsVersion(), st)
		if d := info.GetNatsCredentialsDetail(); d != "" {
			creds += ": " + d
		}
		rows = append(rows, [2]string{"nats creds", creds})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-12s %s\n", r[0]+":", r[1])
	}
}

// durationWords renders a remaining time as "29 days left", "5h left" or "expired".
func durationWords(d time.Duration) string {
	switch {
	case d <= 0:
		return "expired"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days left", int(d.Hours()/24))
	}
	return fmt.Sprintf("%.0fh left", d.Hours())
}
