package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/protobuf/proto"
)

var cmdRecall = &command{
	name: "recall", args: "--reason TEXT [--code CODE] [--notice-id ID] [--json] ID",
	summary: "recall an alert of this administration, federation-wide",
	help: `
Recall the alert with this id, which this administration published: the node signs a
recall notice and publishes it with the alerts. Every receiving node stops delivering
the alert, marks it recalled ("cix get" shows why) and acknowledges the recall; "cix acks
ID" lists the acknowledgements. --reason says why, for the receivers' analysts.
--code is one of ` + strings.Join(recallCodes(), ", ") + ` (default other).

--notice-id (a UUID) makes a retry safe: recalling again with the same notice id stores
nothing new. Needs the publisher or admin role.`,
	flags: func(fs *flag.FlagSet) runFunc {
		reason := fs.String("reason", "", "why the alert is recalled (required)")
		code := fs.String("code", "other", "reason `CODE`")
		noticeID := fs.String("notice-id", "", "`UUID` of the notice, for retries")
		jsonOut := fs.Bool("json", false, "print the response as JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("recall", "recall wants one alert ID")
			}
			if strings.TrimSpace(*reason) == "" {
				return usagef("recall", "--reason is required")
			}
			c, ok := alertv1.RecallReason_value["RECALL_REASON_"+strings.ToUpper(strings.ReplaceAll(*code, "-", "_"))]
			if !ok || c == 0 {
				return usagef("recall", "--code %q: want one of %s", *code, strings.Join(recallCodes(), ", "))
			}
			req := &nodev1.RecallRequest{AlertId: args[0], NoticeId: *noticeID, Reason: *reason, Code: alertv1.RecallReason(c)}
			return issueNotice(ctx, e, "recall", *jsonOut, func(cctx context.Context, client nodev1.NodeServiceClient) (noticeResponse, error) {
				return client.Recall(cctx, req)
			})
		}
	},
}

var cmdReclassify = &command{
	name: "reclassify", args: "--tlp LABEL [--handling CODE] [--restrictions TEXT] [--notice-id ID] [--json] ID",
	summary: "change the TLP label or handling code of an alert of this administration",
	help: `
Reclassify the alert with this id, which this administration published (a downgrade or
an upgrade): the node signs a reclassification notice and publishes it with the alerts.
Receiving nodes deliver and filter the alert with the new classification from then on,
tell their subscribers, and acknowledge it ("cix acks ID").

--tlp is one of clear, green, amber, amber+strict, red. --handling is h0, h1, h2 or h3
(h3 needs --restrictions); without it the alert keeps its handling code and
restrictions in force. --notice-id (a UUID) makes a retry safe. Needs the publisher or
admin role.`,
	flags: func(fs *flag.FlagSet) runFunc {
		tlp := fs.String("tlp", "", "new TLP `LABEL` (required)")
		handling := fs.String("handling", "", "new handling `CODE`: h0, h1, h2, h3")
		restrictions := fs.String("restrictions", "", "restrictions in free text (with h3)")
		noticeID := fs.String("notice-id", "", "`UUID` of the notice, for retries")
		jsonOut := fs.Bool("json", false, "print the response as JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("reclassify", "reclassify wants one alert ID")
			}
			t, ok := parseTLP(*tlp)
			if !ok {
				return usagef("reclassify", "--tlp %q: want clear, green, amber, amber+strict or red", *tlp)
			}
			h := &alertv1.Reclassification{Tlp: t, Restrictions: *restrictions}
			if *handling != "" {
				c, ok := alertv1.HandlingCode_value["HANDLING_CODE_"+strings.ToUpper(*handling)]
				if !ok || c == 0 {
					return usagef("reclassify", "--handling %q: want h0, h1, h2 or h3", *handling)
				}
				h.Code = alertv1.HandlingCode(c)
			}
			return issueNotice(ctx, e, "reclassify", *jsonOut, func(cctx context.Context, client nodev1.NodeServiceClient) (noticeResponse, error) {
				if h.Code == alertv1.HandlingCode_HANDLING_CODE_UNSPECIFIED { // keep the code in force
					g, err := client.Get(cctx, &nodev1.GetRequest{Id: args[0]})
					if err != nil {
						return nil, err
					}
					h.Code = g.GetAlert().GetHandling().GetCode()
					if h.Restrictions == "" {
						h.Restrictions = g.GetAlert().GetHandling().GetRestrictions()
					}
				}
				return client.Reclassify(cctx, &nodev1.ReclassifyRequest{AlertId: args[0], NoticeId: *noticeID, Handling: h})
			})
		}
	},
}

// noticeResponse is a RecallResponse or a ReclassifyResponse.
type noticeResponse interface {
	proto.Message
	GetNotice() *alertv1.AlertNotice
	GetSequence() uint64
	GetDuplicate() bool
}

// issueNotice runs call with the node client and reports the notice it stored.
func issueNotice(ctx context.Context, e *env, what string, jsonOut bool, call func(context.Context, nodev1.NodeServiceClient) (noticeResponse, error)) error {
	client, err := e.nodeClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := call(cctx, client)
	if err != nil {
		return callErr(what, err)
	}
	if jsonOut {
		return printJSON(e.stdout, res)
	}
	nt := res.GetNotice()
	fmt.Fprintf(e.stdout, "%s: alert %s, %s\nnotice:  %s (alert stream sequence %d)\n", what, nt.GetAlertId(), noticeAction(nt), nt.GetId(), res.GetSequence())
	if res.GetDuplicate() {
		fmt.Fprintln(e.stdout, "(already stored: this notice id was published before; nothing new was stored)")
	}
	fmt.Fprintf(e.stdout, "receivers' acknowledgements: cix acks %s\n", nt.GetAlertId())
	return nil
}

// noticeAction describes what a notice does, e.g. "recalled (issued_in_error): wrong
// container" or "reclassified TLP:GREEN H0".
func noticeAction(nt *alertv1.AlertNotice) string {
	if r := nt.GetRecall(); r != nil {
		return fmt.Sprintf("recalled (%s): %s", enumShort(r.GetCode().String(), "RECALL_REASON_"), r.GetReason())
	}
	c := nt.GetReclassify()
	return "reclassified " + handlingLine(c.GetTlp(), c.GetCode(), c.GetRestrictions())
}

// handlingLine renders a classification, e.g. "TLP:AMBER H1".
func handlingLine(tlp alertv1.Tlp, code alertv1.HandlingCode, restrictions string) string {
	s := "TLP:" + tlpName(tlp) + " " + strings.TrimPrefix(code.String(), "HANDLING_CODE_")
	if restrictions != "" {
		s += ", restrictions: " + restrictions
	}
	return s
}

func recallCodes() []string { return enumNames(alertv1.RecallReason_name, "RECALL_REASON_") }

var cmdAcks = &command{
	name: "acks", args: "[--notice] [--json] ID",
	summary: "list receivers' acknowledgements of this administration's recalls",
	help: `
List the signed acknowledgements that receiving nodes sent for this administration's
recalls and reclassifications of the alert with this id (with --notice, of the notice
with this id): receiving administration and node, outcome (applied; alert_unknown: the
receiver does not hold the alert yet and applies the notice when it arrives; refused,
with the reason), when, and the notice. Each was verified by the node; forged ones are
quarantined instead.`,
	flags: func(fs *flag.FlagSet) runFunc {
		notice := fs.Bool("notice", false, "ID is a notice id, not an alert id")
		jsonOut := fs.Bool("json", false, "print the acknowledgements as JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("acks", "acks wants one ID")
			}
			req := &nodev1.ListAcknowledgementsRequest{AlertId: args[0]}
			if *notice {
				req = &nodev1.ListAcknowledgementsRequest{NoticeId: args[0]}
			}
			client, err := e.nodeClient()
			if err != nil {
				return err
			}
			cctx, cancel := e.unary(ctx)
			defer cancel()
			res, err := client.ListAcknowledgements(cctx, req)
			if err != nil {
				return callErr("acks", err)
			}
			if *jsonOut {
				return printJSON(e.stdout, res)
			}
			return printAcks(e.stdout, res.GetAcknowledgements())
		}
	},
}

func printAcks(w io.Writer, acks []*nodev1.Acknowledgement) error {
	if len(acks) == 0 {
		fmt.Fprintln(w, "(no acknowledgements yet)")
		return nil
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVER\tOUTCOME\tAPPLIED AT\tNOTICE\tDETAIL")
	for _, a := range acks {
		ack := a.GetAck()
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\n", ack.GetReceiverAdministration(), ack.GetReceiverNode(),
			enumShort(ack.GetOutcome().String(), "NOTICE_OUTCOME_"), timeLine(ack.GetAppliedAt().AsTime()),
			ack.GetNoticeId(), clip(ack.GetDetail(), 80, true))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l != "" {
			fmt.Fprintln(w, strings.TrimRight(l, " \n")) // an empty detail leaves padding
		}
	}
	return nil
}

// printJSON prints m as indented protobuf JSON.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := prettyJSON(m)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", b)
	return nil
}
