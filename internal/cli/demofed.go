package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cix-exchange/cix/internal/config"
	"github.com/cix-exchange/cix/internal/envelope"
	fedconf "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/localfed"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/vault"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// demoGroup names the demo's group when the administrations do not make up Benelux.
func demoGroup(admins []string) string {
	if len(admins) >= 2 && isBenelux(admins[0]) && isBenelux(admins[1]) {
		return "benelux"
	}
	return "demo-group"
}

func isBenelux(code string) bool { return code == "NL" || code == "BE" || code == "LU" }

// startHubFederation starts, with its data under dir, a federation on the layout of
// docs/transport.md ("Federation topology"), assembled by internal/localfed: a manifest
// of admins with one group (the first two administrations), the hub from the
// configuration `cix federation hub-config` generates, and one node per administration
// in federation mode, running its embedded leaf server generated from the manifest and
// connected to the hub with its own nkey. The seeds live in this process's environment
// only while the nodes start. Administrations with a server in vaults have their node
// key certified by that Vault, as in startFederation. On error, whatever started is
// stopped.
func startHubFederation(ctx context.Context, dir string, admins []string, vaults map[string]*vaulttest.Server, log *slog.Logger) (f *federation, err error) {
	f = &federation{dir: dir, group: demoGroup(admins)}
	defer func() {
		if err != nil {
			_ = f.stop()
		}
	}()
	lf, err := localfed.New(localfed.Options{
		Dir: dir, Name: "cix-demo", HubName: "cix-demo-hub", Members: admins, Node: demoNode,
		Groups:        []localfed.Group{{Name: f.group, Members: admins[:2]}},
		SeedEnvPrefix: "CIX_DEMO_LEAF_SEED_",
	})
	if err != nil {
		return nil, err
	}
	f.manifest = lf.Manifest
	anchors := make(map[string]string, len(admins))
	vcfgs := make(map[string]config.Vault, len(admins))
	fvs := make(map[string]*fedVault, len(admins))
	for _, a := range admins {
		unset, err := lf.SetSeedEnv(a)
		if err != nil {
			return nil, err
		}
		defer unset()
		if v := vaults[a]; v != nil {
			fv, vcfg, anchor, err := prepareVault(ctx, dir, a, v)
			if err != nil {
				return nil, err
			}
			// Alerts for a group or named administrations are encrypted to their
			// recipients' age keys, which the manifest publishes.
			if _, err := vault.WriteAgeIdentity(ctx, v.Client, demoNode, lf.Member(a).Age.String()); err != nil {
				return nil, err
			}
			anchors[a], vcfgs[a], fvs[a] = anchor, vcfg, fv
			continue
		}
		if anchors[a], err = lf.WriteDevIdentity(a, filepath.Join(dir, a, "keys")); err != nil {
			return nil, err
		}
	}
	if err := lf.StartHub(); err != nil {
		return nil, err
	}
	f.hub = lf.Hub
	for _, a := range admins {
		cfg := lf.NodeConfig(a, filepath.Join(dir, a))
		cfg.Log.Level = "warn"
		if err := f.startNode(ctx, cfg, admins, anchors, vcfgs[a], fvs[a], log); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// waitLeaves waits until every node's leaf server is connected to the hub.
func (f *federation) waitLeaves(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, func() string {
		return fmt.Sprintf("%d leaf servers at the hub (%d connected)", len(f.nodes), f.hub.NumLeafNodes())
	}, func(context.Context) (bool, error) { return f.hub.NumLeafNodes() == len(f.nodes), nil })
}

// scoped is one alert of the scopes step: published at the origin for scope, to be
// received by audience and by no one else.
type scoped struct {
	label    string // e.g. "group benelux"
	id       string
	scope    fedconf.Scope
	audience []string // members other than the origin
}

// demoScopes publishes at origin an alert for all members, one for the demo's group and
// one for the last administration alone, prints their arrivals at the receivers (read
// from events), and returns once every alert is at each member of its audience.
func demoScopes(ctx context.Context, f *federation, o demoOptions, origin *fedNode, events <-chan arrival, out io.Writer) ([]scoped, error) {
	last := f.nodes[len(f.nodes)-1].admin
	g := f.manifest.Group(f.group)
	items := []scoped{
		{label: "all members", scope: fedconf.AllMembers()},
		{label: fmt.Sprintf("group %s (%s)", f.group, strings.Join(g.Members, "+")), scope: fedconf.ToGroup(f.group)},
		{label: fmt.Sprintf("bilateral %s->%s", origin.admin, last), scope: fedconf.ToMember(last)},
	}
	fmt.Fprintf(out, "\n%s publishes one alert per scope; the hub routes each only to the accounts the manifest entitles:\n\n", origin.admin)
	want := map[string]map[string]bool{} // receiver -> ids still expected
	for i := range items {
		it := &items[i]
		a := synth.ValidRisk()
		a.Id, a.Origin = uuid.NewString(), nil
		switch it.scope.Kind {
		case fedconf.ScopeAll:
			a.Audience = &alertv1.Audience{AllMembers: true}
		case fedconf.ScopeGroup:
			a.Audience = &alertv1.Audience{Groups: []string{it.scope.Name}}
		case fedconf.ScopeMember:
			a.Audience = &alertv1.Audience{Administrations: []string{it.scope.Name}}
		}
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		res, err := origin.node.Publish(cctx, &nodev1.PublishRequest{Alert: a})
		cancel()
		if err != nil {
			return nil, callErr("publish at "+origin.admin, err)
		}
		it.id = res.GetId()
		it.audience = f.manifest.Audience(origin.admin, it.scope)
		fmt.Fprintf(out, "-- %s published %s for %s, audience %s: %s --\n", origin.admin, clip(it.id, 8, false), it.label,
			strings.Join(it.audience, ", "), fedconf.OutboundAlertSubject(origin.admin, it.scope, "risk"))
		for _, r := range it.audience {
			if want[r] == nil {
				want[r] = map[string]bool{}
			}
			want[r][it.id] = true
		}
	}
	label := map[string]string{}
	for _, it := range items {
		label[it.id] = it.label
	}
	timer := time.NewTimer(o.timeout)
	defer timer.Stop()
	pending := func() []string {
		var p []string
		for r, ids := range want {
			for id := range ids {
				p = append(p, r+" "+label[id])
			}
		}
		slices.Sort(p)
		return p
	}
	for len(pending()) > 0 {
		select {
		case a := <-events:
			if a.err != nil {
				return nil, callErr("subscription at "+a.admin, a.err)
			}
			va := a.ev.GetAlert()
			if va == nil {
				continue
			}
			id := va.GetAlert().GetId()
			if label[id] == "" {
				continue
			}
			if !want[a.admin][id] {
				return nil, fmt.Errorf("%s received the alert for %s, not meant for it", a.admin, label[id])
			}
			delete(want[a.admin], id)
			if len(want[a.admin]) == 0 {
				delete(want, a.admin)
			}
			fmt.Fprintf(out, "%s <- %s  %s  %-28s  verified: %s\n", a.admin, va.GetAlert().GetOrigin().GetAdministration(),
				clip(id, 8, false), label[id], signerLine(va.GetSigner()))
		case <-timer.C:
			return nil, fmt.Errorf("timed out after %v: still waiting for %s", o.timeout, strings.Join(pending(), ", "))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return items, nil
}

// demoWhoSaw prints, per administration, which scoped alerts it holds: each node is
// asked for each alert by id. An administration outside an alert's audience must not
// hold it (every member of the audience already does, and the hub routes no copy to
// the others: their leaf accounts import no such scope).
func demoWhoSaw(ctx context.Context, f *federation, o demoOptions, origin *fedNode, items []scoped, out io.Writer) error {
	fmt.Fprintf(out, "\nwhat each administration could and could not see:\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADMINISTRATION\tALERT\tSCOPE\tRECEIVED")
	for _, n := range f.nodes {
		for _, it := range items {
			entitled := n == origin || slices.Contains(it.audience, n.admin)
			cctx, cancel := context.WithTimeout(ctx, o.timeout)
			_, err := n.node.Get(cctx, &nodev1.GetRequest{Id: it.id})
			// An entitled node may still be receiving it (the origin's own copy comes back
			// through its inbound stream too): ask again until the deadline.
			for entitled && status.Code(err) == codes.NotFound && cctx.Err() == nil {
				select {
				case <-cctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
				_, err = n.node.Get(cctx, &nodev1.GetRequest{Id: it.id})
			}
			cancel()
			has := err == nil
			if err != nil && status.Code(err) != codes.NotFound {
				return callErr("get at "+n.admin, err)
			}
			var verdict string
			switch {
			case has && n == origin:
				verdict = "yes (its own)"
			case has && entitled:
				verdict = "yes"
			case !has && !entitled:
				verdict = "no: not in the audience (" + strings.Join(it.audience, ", ") + ")"
			case has:
				return fmt.Errorf("%s holds the alert for %s, outside its audience %v", n.admin, it.label, it.audience)
			default:
				return fmt.Errorf("%s does not hold the alert for %s", n.admin, it.label)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.admin, clip(it.id, 8, false), it.label, verdict)
		}
	}
	return tw.Flush()
}

// publishTamperedOut flips one bit in the payload of a copy of env and publishes the
// result as a new all-members alert of origin and kind straight into origin's outbound
// stream on its leaf server at natsURL, bypassing the node: the hub carries it to every
// member, whose node must quarantine it. It returns the subject and the message id,
// which names the alert (fedconf.OutboundMsgID).
func publishTamperedOut(ctx context.Context, natsURL string, env *envelopev1.Envelope, origin, kind string) (subject, msgID string, err error) {
	t := proto.Clone(env).(*envelopev1.Envelope)
	if len(t.Payload) == 0 {
		return "", "", errors.New("tamper: empty payload")
	}
	t.Payload[len(t.Payload)/2] ^= 0x01
	raw, err := envelope.Marshal(t)
	if err != nil {
		return "", "", err
	}
	nc, err := nats.Connect(natsURL, nats.Name("cix demo tamperer"))
	if err != nil {
		return "", "", fmt.Errorf("tamper: connect to %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", "", fmt.Errorf("tamper: %w", err)
	}
	subject = fedconf.OutboundAlertSubject(origin, fedconf.AllMembers(), kind)
	msgID = fedconf.OutboundMsgID(subject, uuid.NewString())
	if _, err := js.Publish(ctx, subject, raw, jetstream.WithExpectStream(fedconf.OutboundStream(origin)), jetstream.WithMsgID(msgID)); err != nil {
		return "", "", fmt.Errorf("tamper: publish on %s: %w", subject, err)
	}
	return subject, msgID, nil
}

// memberDomain is the JetStream domain of a member's leaf server.
func memberDomain(m *fedconf.Member) string {
	if m.Domain != "" {
		return m.Domain
	}
	return strings.ToLower(m.Code)
}
