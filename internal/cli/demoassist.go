package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// demoAssist runs one mutual assistance request from the first administration (R) to
// the second (Q): R submits, Q's node delivers, Q's contact point acknowledges (the
// deadline starts), accepts and answers; then both sides' states and histories are
// printed. Each step waits for the other side to show it.
func demoAssist(ctx context.Context, fed *federation, o demoOptions, out io.Writer) error {
	r, q := fed.nodes[0], fed.nodes[1]
	rc, qc := pb.NewAssistanceServiceClient(r.conn), pb.NewAssistanceServiceClient(q.conn)
	fmt.Fprintf(out, "\nmutual assistance %s -> %s (bilateral scope, each transition signed, encrypted to both and chained by SHA-256):\n\n", r.admin, q.admin)
	content := &pb.RequestContent{
		RequestingAuthority: "Customs " + r.admin + ", investigations", RequestedAuthority: "Customs " + q.admin + ", mutual assistance desk",
		RequestedAdministration: q.admin, LegalBasis: "naples-ii-art-10", NatureOfProceedings: pb.ProceedingsNature_PROCEEDINGS_NATURE_CRIMINAL,
		ObjectAndReason: "Verify the exporter of container CSQU3054383", LegalProvisions: []string{"Naples II art. 10"},
		Parties:        []*pb.Party{{Kind: pb.PartyKind_PARTY_KIND_COMPANY, Name: "Acme Trading", Country: q.admin}},
		SummaryOfFacts: "Undervalued textiles declared on import.", Confidentiality: "Do not contact the company.",
		RequestedTimeLimit: timestamppb.New(time.Now().Add(14 * 24 * time.Hour)), Urgency: pb.Urgency_URGENCY_NORMAL,
	}
	cr, err := rc.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: content})
	if err != nil {
		return fmt.Errorf("assistance: create: %w", err)
	}
	id := cr.GetRequest().GetRequestId()
	wait := func(who *fedNode, c pb.AssistanceServiceClient, want pb.RequestState) (*pb.Request, error) {
		var got *pb.Request
		err := poll(ctx, o.timeout, func() string {
			return fmt.Sprintf("%s to show request %s %s (it shows %s)", who.admin, clip(id, 8, false), stateName(want), stateName(got.GetState()))
		}, func(ctx context.Context) (bool, error) {
			g, err := c.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
			if err != nil {
				return false, err
			}
			got = g.GetRequest()
			return got.GetState() == want, nil
		})
		return got, err
	}
	step := func(who *fedNode, what string, call func() error, want pb.RequestState, extra func(*pb.Request) string) error {
		if call != nil {
			if err := call(); err != nil {
				return fmt.Errorf("assistance: %s: %w", what, err)
			}
		}
		// Shown once both sides hold it.
		for _, side := range []struct {
			n *fedNode
			c pb.AssistanceServiceClient
		}{{q, qc}, {r, rc}} {
			got, err := wait(side.n, side.c, want)
			if err != nil {
				return err
			}
			if side.n == r {
				more := ""
				if extra != nil {
					more = "  " + extra(got)
				}
				fmt.Fprintf(out, "  %s  %-18s -> %s on both sides%s\n", who.admin, what, stateName(want), more)
			}
		}
		return nil
	}
	if err := step(r, "SubmitRequest", func() error {
		_, err := rc.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		return err
	}, pb.RequestState_REQUEST_STATE_DELIVERED, func(*pb.Request) string {
		return "(SUBMITTED, then delivered by " + q.admin + "'s node)"
	}); err != nil {
		return err
	}
	if err := step(q, "AcknowledgeRequest", func() error {
		_, err := qc.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reference: q.admin + "-2026-0001"})
		return err
	}, pb.RequestState_REQUEST_STATE_RECEIVED, func(g *pb.Request) string {
		return "deadline " + g.GetDeadline().AsTime().UTC().Format("2006-01-02 15:04 UTC") + " (signed by " + q.admin + ")"
	}); err != nil {
		return err
	}
	if err := step(q, "AcceptRequest", func() error {
		_, err := qc.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: uuid.NewString()})
		return err
	}, pb.RequestState_REQUEST_STATE_IN_PROGRESS, nil); err != nil {
		return err
	}
	if err := step(q, "AnswerRequest", func() error {
		_, err := qc.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reply: &pb.Reply{Items: []*pb.ReplyItem{
			{Title: "Company record", Text: "Exporter registered since 2019.", Handling: &alertv1.Handling{Tlp: alertv1.Tlp_TLP_AMBER, Code: alertv1.HandlingCode_HANDLING_CODE_H1}},
			{Title: "Declarations", Text: "3 export declarations, values attached.", Handling: &alertv1.Handling{Tlp: alertv1.Tlp_TLP_AMBER, Code: alertv1.HandlingCode_HANDLING_CODE_H2}},
		}}})
		return err
	}, pb.RequestState_REQUEST_STATE_ANSWERED, func(g *pb.Request) string {
		return fmt.Sprintf("(%d reply items, each with its own handling code)", len(g.GetReplies()))
	}); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nrequest %s as each side holds it:\n\n", id)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "side\tdirection\tstate\tdeadline\thistory (action by, SHA-256)")
	var heads []string
	for _, side := range []struct {
		n *fedNode
		c pb.AssistanceServiceClient
	}{{r, rc}, {q, qc}} {
		g, err := side.c.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
		if err != nil {
			return fmt.Errorf("assistance: get at %s: %w", side.n.admin, err)
		}
		req := g.GetRequest()
		var hist []string
		for _, h := range req.GetHistory() {
			hist = append(hist, fmt.Sprintf("%s by %s %s", strings.TrimPrefix(h.GetAction().String(), "ACTION_"), h.GetActorAdministration(), clip(h.GetSha256(), 8, false)))
		}
		heads = append(heads, strings.Join(hist, ", "))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", side.n.admin, strings.ToLower(strings.TrimPrefix(req.GetDirection().String(), "DIRECTION_")),
			stateName(req.GetState()), req.GetDeadline().AsTime().UTC().Format("2006-01-02 15:04 UTC"), heads[len(heads)-1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if heads[0] != heads[1] {
		return fmt.Errorf("assistance: the two sides hold different histories:\n  %s\n  %s", heads[0], heads[1])
	}
	others := fed.nodes[2:]
	for _, n := range others {
		if _, err := pb.NewAssistanceServiceClient(n.conn).GetRequest(ctx, &pb.GetRequestRequest{RequestId: id}); err == nil {
			return fmt.Errorf("assistance: %s holds request %s", n.admin, id)
		}
	}
	fmt.Fprintf(out, "both sides hold the same signed history")
	if len(others) > 0 {
		var names []string
		for _, n := range others {
			names = append(names, n.admin)
		}
		fmt.Fprintf(out, "; %s holds nothing of it", strings.Join(names, ", "))
	}
	fmt.Fprintln(out)
	return nil
}
