package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/vault/vaulttest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var cmdDemo = &command{
	name: "demo", args: "[--admins NL,BE,DE] [--count 25] [--seed 1] [--vault] [--keep-running]",
	summary: "run a hub and one leaf per administration on loopback and watch alerts reach their audience, verified",
	help: `
Start, inside this process and on loopback only, a federation on the layout of
docs/transport.md: a manifest of the administrations with one group (the first two,
"benelux" for NL and BE), the hub from the configuration "cix federation hub-config"
generates (one account per administration), and one node per administration in
federation mode, running its own leaf server of the hub (its own JetStream domain, its
own nkey) and trusting the others' trust anchors.

The nodes but the first subscribe; the first publishes --count synthetic alerts for all
members; each arrival is shown with the signer its node verified. Then it publishes one
alert for all members, one for the group and one for the last administration alone
(bilateral), and a table shows, per administration, which of the three it holds and
which it does not (outside the audience: the hub never routed it there). Then the
first administration sends a mutual assistance request to the second, which
acknowledges (the deadline starts), accepts and answers it; both sides' states and
signed histories are shown, the same on both sides. Then one
alert's payload is tampered with and written straight into the first administration's
outbound stream on its leaf server: every node refuses it and quarantines it. A table
per node ends the demo.

With --vault, every administration's credentials come from its own real Vault: one
Vault dev server per administration is started on loopback (the vault binary is
$CIX_VAULT_BIN, else .ci/tools/bin/vault built by "bash .ci/vault.sh", else vault on
PATH) and bootstrapped with a PKI root, the administration's trust anchor, and a node
CA under it. Each node logs in with AppRole and a wrapped secret id, generates its key
in memory and has it certified by its Vault's PKI: no private key is written to disk.
The nodes' gRPC is plaintext on loopback (TLS off) in this demo.

With --keep-running the nodes stay up until interrupted, for "cix --addr ADDR feed"
and the other commands. Everything is removed on exit.`,
	flags: func(fs *flag.FlagSet) runFunc {
		admins := fs.String("admins", "NL,BE,DE", "administrations, one node each; the first publishes")
		count := fs.Int("count", 25, "number of alerts to publish")
		seed := fs.Int64("seed", 1, "seed of the synthetic alerts")
		keep := fs.Bool("keep-running", false, "keep the nodes running until interrupted")
		useVault := fs.Bool("vault", false, "certify every node key with its administration's own Vault dev server")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("demo", "unexpected argument %q", args[0])
			}
			o := demoOptions{count: *count, seed: *seed, keepRunning: *keep, timeout: 30 * time.Second}
			for _, a := range strings.Split(*admins, ",") {
				a = strings.ToUpper(strings.TrimSpace(a))
				if !alert.ValidCountry(a) {
					return usagef("demo", "--admins: %q is not an ISO 3166-1 alpha-2 code", a)
				}
				if slices.Contains(o.admins, a) {
					return usagef("demo", "--admins: %s given twice", a)
				}
				o.admins = append(o.admins, a)
			}
			if len(o.admins) < 2 {
				return usagef("demo", "--admins: a federation needs at least two administrations")
			}
			if o.count < 1 {
				return usagef("demo", "--count must be at least 1")
			}
			if *useVault {
				bin, err := vaulttest.FindBinary()
				if errors.Is(err, vaulttest.ErrNoBinary) {
					return errors.New("demo --vault: no vault binary found: run 'bash .ci/vault.sh' in the cix repository, or put vault on PATH (or set " + vaulttest.EnvBinary + ")")
				}
				if err != nil {
					return fmt.Errorf("demo --vault: %w; run 'bash .ci/vault.sh' in the cix repository, or put vault on PATH", err)
				}
				o.vaultBin = bin
			}
			return runDemo(ctx, o, e.stdout, e.stderr)
		}
	},
}

type demoOptions struct {
	admins      []string
	count       int
	seed        int64
	keepRunning bool
	// vaultBin, when set, is the vault binary: each administration gets its own Vault
	// dev server, which certifies its node's key.
	vaultBin string
	// timeout bounds each step; a step that does not complete in time fails the demo.
	timeout time.Duration
}

// arrival is one event of a receiving node's subscription.
type arrival struct {
	admin string
	ev    *nodev1.SubscribeResponse
	err   error
}

// runDemo runs the demo, writing its story to out and the nodes' warnings to logw. It
// returns once everything it started has stopped and its directory is removed.
func runDemo(ctx context.Context, o demoOptions, out, logw io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "cix-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.vaultBin == "" {
		fmt.Fprintf(out, "cix demo: a federation of %s on loopback\n", strings.Join(o.admins, ", "))
	} else {
		fmt.Fprintf(out, "cix demo: a federation of %s on loopback, each administration with its own Vault\n", strings.Join(o.admins, ", "))
	}
	var vaults map[string]*vaulttest.Server
	if o.vaultBin != "" {
		lctx, cancel := context.WithTimeout(ctx, max(o.timeout, time.Minute))
		vaults, err = launchVaults(lctx, o.vaultBin, o.admins)
		cancel()
		if err != nil {
			return err
		}
		// Deferred first, so run last: after the nodes have stopped.
		defer func() {
			if serr := closeVaults(vaults); serr != nil && err == nil {
				err = serr
			}
		}()
	}
	fed, err := startHubFederation(ctx, dir, o.admins, vaults, log)
	if err != nil {
		return err
	}
	defer func() {
		if serr := fed.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := fed.waitLeaves(ctx, o.timeout); err != nil {
		return err
	}
	g := fed.manifest.Group(fed.group)
	fmt.Fprintf(out, "  manifest  members %s; group %s: %s\n", strings.Join(o.admins, ", "), fed.group, strings.Join(g.Members, ", "))
	fmt.Fprintf(out, "  hub       %s  (cix federation hub-config: one account per administration, no JetStream)\n", fed.hub.ClientURL())
	for _, n := range fed.nodes {
		if v := n.vault; v != nil {
			fmt.Fprintf(out, "  Vault of %s  %s  PKI root %q (the trust anchor), node CA %q\n", n.admin, v.addr,
				v.boot.Anchor.Subject.CommonName, v.boot.Intermediate.Subject.CommonName)
		}
	}
	for _, n := range fed.nodes {
		var others []string
		for _, m := range fed.nodes {
			if m != n {
				others = append(others, m.admin)
			}
		}
		tls := ""
		if n.vault != nil {
			tls = " (plaintext, TLS off: loopback demo)"
		}
		fmt.Fprintf(out, "  node %s/%s  gRPC %s%s  leaf %s (domain %s)  trusts %s\n", n.admin, demoNode, n.d.Addr(), tls,
			n.d.NATSURL(), memberDomain(fed.manifest.Member(n.admin)), strings.Join(others, ", "))
	}
	if o.vaultBin != "" {
		fmt.Fprintf(out, "\neach node logged in to its administration's Vault with AppRole (a wrapped, single-use secret id),\n"+
			"generated its signing key in memory and had it certified by that Vault's PKI;\n"+
			"no private key is written to disk.\n")
	}
	origin, receivers := fed.nodes[0], fed.nodes[1:]

	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	events := make(chan arrival, 256)
	if err := subscribeAll(subCtx, receivers, events, o.timeout); err != nil {
		return err
	}
	var names []string
	for _, r := range receivers {
		names = append(names, r.admin)
	}
	fmt.Fprintf(out, "\n%s subscribe; %s publishes %d synthetic alerts (seed %d) for all members, signed with its node key:\n\n",
		strings.Join(names, " and "), origin.admin, o.count, o.seed)

	sample, err := deliver(ctx, o, origin, receivers, events, out)
	if err != nil {
		return err
	}

	if o.vaultBin != "" {
		if err := showVaultChain(out, fed, sample); err != nil {
			return err
		}
	}

	items, err := demoScopes(ctx, fed, o, origin, events, out)
	if err != nil {
		return err
	}
	if err := demoWhoSaw(ctx, fed, o, origin, items, out); err != nil {
		return err
	}
	if err := demoAssist(ctx, fed, o, out); err != nil {
		return err
	}

	kind := alert.KindName(alert.Kind(sample.GetAlert()))
	subject, msgID, err := publishTamperedOut(ctx, origin.d.NATSURL(), sample.GetEnvelope(), origin.admin, kind)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\ntampering: one bit of the payload of alert %s flipped, written straight into %s's outbound stream\n"+
		"on its leaf server (bypassing its node), on %s with the message id\n  %s\n", clip(sample.GetAlert().GetId(), 8, false), origin.admin, subject, msgID)
	for _, n := range fed.nodes {
		if err := showQuarantined(ctx, n, msgID, o.timeout, out); err != nil {
			return err
		}
	}

	if err := demoSummary(ctx, fed, o, out); err != nil {
		return err
	}
	if o.vaultBin != "" {
		if err := checkNoKeyFiles(fed, out); err != nil {
			return err
		}
	}
	if o.keepRunning {
		fmt.Fprintf(out, "\nthe nodes keep running until interrupted (Ctrl-C):\n")
		for _, n := range fed.nodes {
			fmt.Fprintf(out, "  %s  cix --addr %s feed --from-start\n", n.admin, n.d.Addr())
		}
		for _, n := range fed.nodes {
			if n.vault != nil {
				fmt.Fprintf(out, "  %s  Vault %s\n", n.admin, n.vault.addr)
			}
		}
		<-ctx.Done()
		fmt.Fprintln(out, "stopping")
	}
	return nil
}

// subscribeAll subscribes at every receiver, forwards the events to events until ctx
// ends, and returns once every subscription is live.
func subscribeAll(ctx context.Context, receivers []*fedNode, events chan arrival, timeout time.Duration) error {
	live := make(chan string, len(receivers))
	for _, r := range receivers {
		stream, err := r.node.Subscribe(ctx, &nodev1.SubscribeRequest{})
		if err != nil {
			return callErr("subscribe at "+r.admin, err)
		}
		go func() {
			first := true
			for {
				ev, err := stream.Recv()
				if first && err == nil && ev.GetCaughtUp() != nil {
					first = false
					live <- r.admin
					continue
				}
				select {
				case events <- arrival{admin: r.admin, ev: ev, err: err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	waiting := map[string]bool{}
	for _, r := range receivers {
		waiting[r.admin] = true
	}
	for len(waiting) > 0 {
		select {
		case a := <-live:
			delete(waiting, a)
		case ev := <-events:
			return fmt.Errorf("subscription at %s: %v before it was live", ev.admin, ev.err)
		case <-timer.C:
			return fmt.Errorf("timed out after %v waiting for the subscriptions of %s", timeout, strings.Join(keys(waiting), ", "))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// deliver publishes the alerts at origin while printing their arrivals at the
// receivers. It returns one of the alerts as received, with its envelope.
func deliver(ctx context.Context, o demoOptions, origin *fedNode, receivers []*fedNode, events <-chan arrival, out io.Writer) (*nodev1.VerifiedAlert, error) {
	start := time.Now()
	published := make(chan error, 1)
	go func() {
		published <- publishAll(ctx, origin.node, forAllMembers(synth.New(o.seed, origin.admin).NextN(o.count)))
	}()
	got := map[string]int{}
	var sample *nodev1.VerifiedAlert
	timer := time.NewTimer(o.timeout)
	defer timer.Stop()
	pubDone := false
	missing := func() string {
		var parts []string
		if !pubDone {
			parts = append(parts, origin.admin+" still publishing")
		}
		for _, r := range receivers {
			parts = append(parts, fmt.Sprintf("%s received %d of %d alerts", r.admin, got[r.admin], o.count))
		}
		return strings.Join(parts, ", ")
	}
	complete := func() bool {
		for _, r := range receivers {
			if got[r.admin] < o.count {
				return false
			}
		}
		return pubDone
	}
	for !complete() {
		select {
		case err := <-published:
			if err != nil {
				return nil, fmt.Errorf("publish at %s: %w", origin.admin, err)
			}
			pubDone = true
			fmt.Fprintf(out, "-- %s: %d alerts published in %v --\n", origin.admin, o.count, time.Since(start).Round(time.Millisecond))
		case a := <-events:
			if a.err != nil {
				return nil, callErr("subscription at "+a.admin, a.err)
			}
			va := a.ev.GetAlert()
			if va == nil {
				continue // a gap cannot happen on a new feed; caught_up markers are not news
			}
			got[a.admin]++
			if sample == nil {
				sample = va
			}
			printArrival(out, a.admin, va)
		case <-timer.C:
			return nil, fmt.Errorf("timed out after %v: %s", o.timeout, missing())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	fmt.Fprintf(out, "-- every alert verified at %s: %d deliveries --\n", strings.Join(keysOf(receivers), ", "), o.count*len(receivers))
	return sample, nil
}

func keysOf(ns []*fedNode) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.admin)
	}
	return out
}

func printArrival(w io.Writer, at string, va *nodev1.VerifiedAlert) {
	a := va.GetAlert()
	fmt.Fprintf(w, "%s <- %s  %-7s  %-16s  %s  %s  verified: %s\n", at, a.GetOrigin().GetAdministration(),
		kindName(a), "TLP:"+tlpName(a.GetHandling().GetTlp()), pad(summary(a), 30), pad(routePlaces(a), 17), signerLine(va.GetSigner()))
}

// publishAll publishes alerts on one PublishStream and fails on the first refused item.
func publishAll(ctx context.Context, client nodev1.NodeServiceClient, alerts []*alertv1.Alert) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.PublishStream(ctx)
	if err != nil {
		return err
	}
	go func() {
		for _, a := range alerts {
			if stream.Send(&nodev1.PublishStreamRequest{Alert: a}) != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	for i := range alerts {
		res, err := stream.Recv()
		if err != nil {
			return err
		}
		if ie := res.GetError(); ie != nil {
			return fmt.Errorf("alert %d: %s: %s", i+1, codeName(codes.Code(ie.GetCode())), ie.GetMessage())
		}
	}
	return nil
}

// showQuarantined waits until n has quarantined the message on subject (or with that
// message id: the federation's alert subjects end with the id in place of "_"), prints
// it, and checks that the message is not in n's feed.
func showQuarantined(ctx context.Context, n *fedNode, subject string, timeout time.Duration, out io.Writer) error {
	var m *nodev1.QuarantinedMessage
	err := poll(ctx, timeout, func() string { return "the tampered alert in the quarantine of " + n.admin },
		func(ctx context.Context) (bool, error) {
			var err error
			m, err = findQuarantined(ctx, n.adm, subject)
			return m != nil, err
		})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tampered alert -> quarantined at %s: %s (%s)\n", n.admin, reasonName(m.GetReason()), clip(quarantineDetail(m), 80, true))
	id := subject[strings.LastIndexByte(subject, '.')+1:]
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := n.node.Get(cctx, &nodev1.GetRequest{Id: id}); status.Code(err) != codes.NotFound {
		return fmt.Errorf("the tampered alert at %s: get returned %v, want NOT_FOUND", n.admin, err)
	}
	return nil
}

// demoSummary waits until every node's counters include the demo's alerts, then prints
// them.
func demoSummary(ctx context.Context, fed *federation, o demoOptions, out io.Writer) error {
	infos := make([]*nodev1.GetNodeInfoResponse, len(fed.nodes))
	for i, n := range fed.nodes {
		err := poll(ctx, o.timeout, func() string {
			return fmt.Sprintf("%s to count %d alerts and 1 quarantined message (%d, %d)", n.admin, o.count,
				infos[i].GetFeedAlerts(), infos[i].GetQuarantined())
		}, func(ctx context.Context) (bool, error) {
			info, err := n.adm.GetNodeInfo(ctx, &nodev1.GetNodeInfoRequest{})
			if err != nil {
				return false, err
			}
			infos[i] = info
			return info.GetFeedAlerts() >= uint64(o.count) && info.GetQuarantined() >= 1, nil
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGRPC\tRECEIVED & VERIFIED\tQUARANTINED\tTRUSTS")
	for i, n := range fed.nodes {
		fmt.Fprintf(tw, "%s/%s\t%s\t%d\t%d\t%s\n", n.admin, demoNode, n.d.Addr(), infos[i].GetFeedAlerts(),
			infos[i].GetQuarantined(), strings.Join(infos[i].GetTrustedAdministrations(), ", "))
	}
	return tw.Flush()
}

// showVaultChain prints the chain that signed the sample alert, as its envelope carries
// it: the leaf certified by the origin's Vault node CA, itself certified by the Vault
// root the receivers trust.
func showVaultChain(out io.Writer, fed *federation, sample *nodev1.VerifiedAlert) error {
	sigs := sample.GetEnvelope().GetSignatures()
	if len(sigs) == 0 {
		return errors.New("the sample alert has no signature")
	}
	var names []string
	for _, der := range sigs[0].GetCertificates() {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("certificate of the sample alert: %w", err)
		}
		names = append(names, fmt.Sprintf("%q", c.Subject.CommonName))
	}
	origin := sample.GetSigner().GetAdministration()
	root := ""
	for _, n := range fed.nodes {
		if n.admin == origin && n.vault != nil {
			root = fmt.Sprintf(" -> %q, %s's Vault PKI root", n.vault.boot.Anchor.Subject.CommonName, origin)
		}
	}
	fmt.Fprintf(out, "-- each envelope carries its signer's chain, issued by Vault: %s%s --\n", strings.Join(names, " -> "), root)
	return nil
}

// checkNoKeyFiles checks, while the nodes run, that no file named *.key exists under
// the demo's directory, which holds every node's data directory.
func checkNoKeyFiles(fed *federation, out io.Writer) error {
	found, err := keyFiles(fed.dir)
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return fmt.Errorf("private key files on disk: %s", strings.Join(found, ", "))
	}
	fmt.Fprintf(out, "\nkeys: every node key is certified by its administration's Vault PKI; "+
		"no private key on disk (no *.key file under %s)\n", fed.dir)
	return nil
}

// forAllMembers makes generated alerts fit for the all-members scope: TLP:RED is for
// named recipients only, so the few RED ones are shared as AMBER+STRICT here.
func forAllMembers(as []*alertv1.Alert) []*alertv1.Alert {
	for _, a := range as {
		if h := a.GetHandling(); h.GetTlp() == alertv1.Tlp_TLP_RED {
			h.Tlp = alertv1.Tlp_TLP_AMBER_STRICT
		}
	}
	return as
}
