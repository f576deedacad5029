package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nats.go/jetstream"
)

// DirectoryBucket is the key-value bucket, in the administration's domain, where each
// node keeps the member directory it applies (key n_<node>), so that it applies it
// again at start even after the inbound stream has expired it.
const DirectoryBucket = "CIX_DIRECTORY"

// directoryFollower applies the federation's signed member directory live: it follows
// the directories every member's all-members scope carries into the inbound stream,
// verifies each with the secretariat key and applies a newer version to the verifier
// (trust anchors), the node (audience checks) and the bus (inbound sources). Older,
// unsigned or wrongly signed versions are quarantined with the reason.
type directoryFollower struct {
	pub   ed25519.PublicKey
	admin string
	key   string
	ver   *trust.Verifier
	node  *node.Node
	bus   *bus.Bus
	feed  *feed.Feed
	kv    jetstream.KeyValue
	cons  jetstream.Consumer
	log   *slog.Logger

	mu      sync.Mutex
	version uint64 // in use; 0: the manifest file
	fedName string
	payload []byte
}

func startDirectory(ctx context.Context, pub ed25519.PublicKey, admin, nodeName, fedName string,
	ver *trust.Verifier, n *node.Node, b *bus.Bus, private jetstream.JetStream, f *feed.Feed, replicas int, log *slog.Logger) (*directoryFollower, error) {
	js := b.JetStream()
	// The applied directory is the node's own: in the private account (daemon.go).
	kv, err := private.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: DirectoryBucket, Description: "member directory applied by each node", History: 1, Replicas: replicas,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("directory bucket: %w", err)
	}
	tok := admin + "_" + strings.ReplaceAll(nodeName, "-", "_")
	cons, err := js.CreateOrUpdateConsumer(ctx, b.ReadStream(), jetstream.ConsumerConfig{
		Durable: "directory_" + tok, Description: "cix node: member directories",
		FilterSubject: federation.DirectoryFilter, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 16,
	})
	if err != nil {
		return nil, fmt.Errorf("directory consumer: %w", err)
	}
	df := &directoryFollower{pub: pub, admin: admin, key: "n_" + nodeName, ver: ver, node: n, bus: b, feed: f,
		kv: kv, cons: cons, log: log, fedName: fedName}
	// The directory applied in an earlier run, verified again.
	e, err := kv.Get(ctx, df.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("directory bucket: %w", err)
	default:
		o, err := federation.VerifyDirectory(e.Value(), pub)
		if err == nil {
			err = df.apply(ctx, o, false)
		}
		if err != nil {
			log.Error("stored member directory not applied; using the manifest file", "error", err)
		}
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { df.handle(ctx, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
				log.Warn("directory consumer", "error", err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("directory consumer: %w", err)
	}
	context.AfterFunc(ctx, cc.Stop)
	return df, nil
}

// Version is the directory version in use; 0 while the manifest file is.
func (df *directoryFollower) Version() uint64 {
	df.mu.Lock()
	defer df.mu.Unlock()
	return df.version
}

func (df *directoryFollower) handle(ctx context.Context, m jetstream.Msg) {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	o, err := federation.VerifyDirectory(m.Data(), df.pub)
	if err == nil {
		err = df.apply(ctx, o, true)
	}
	var ee *envelope.Error
	switch {
	case err == nil:
	case errors.As(err, &ee):
		q := feed.Quarantined{Reason: ee.Reason.String(), Detail: ee.Message(), Subject: m.Subject(), Raw: m.Data(), SourceSeq: seq}
		if qerr := df.feed.Quarantine(ctx, []feed.Quarantined{q}); qerr != nil {
			df.log.Error("quarantine member directory", "error", qerr, "subject", m.Subject())
			_ = m.NakWithDelay(time.Second)
			return
		}
		df.log.Warn("member directory quarantined", "subject", m.Subject(), "reason", q.Reason, "detail", q.Detail)
	default: // could not apply (NATS): retry
		df.log.Error("apply member directory; retrying", "error", err, "subject", m.Subject())
		_ = m.NakWithDelay(time.Second)
		return
	}
	if err := m.Ack(); err != nil && ctx.Err() == nil {
		df.log.Warn("directory consumer: ack", "error", err)
	}
}

// apply checks that o may replace the directory in use and applies it. Refusals are
// *envelope.Error; other errors are worth a retry.
func (df *directoryFollower) apply(ctx context.Context, o *federation.OpenedDirectory, store bool) error {
	df.mu.Lock()
	defer df.mu.Unlock()
	switch {
	case o.Version == df.version && bytes.Equal(o.Payload, df.payload):
		return nil // the one in use, seen again (another publisher, a replay)
	case o.Version <= df.version:
		return envelope.Refuse(envelope.ReasonInvalidContent,
			fmt.Sprintf("directory version %d is not newer than version %d in use", o.Version, df.version), nil)
	case o.Federation != df.fedName:
		return envelope.Refuse(envelope.ReasonInvalidContent,
			fmt.Sprintf("directory of federation %q, this node is in %q", o.Federation, df.fedName), nil)
	case o.Parsed.Member(df.admin) == nil:
		return envelope.Refuse(envelope.ReasonInvalidContent,
			fmt.Sprintf("directory version %d does not list %s", o.Version, df.admin), nil)
	}
	// Sources first: if NATS fails, nothing changed and the message comes back.
	if err := df.bus.UpdateInbound(ctx, o.Parsed); err != nil {
		return err
	}
	if store {
		if _, err := df.kv.Put(ctx, df.key, o.Raw); err != nil {
			return fmt.Errorf("directory bucket: %w", err)
		}
	}
	for _, mb := range o.Parsed.Members {
		if mb.Code == df.admin {
			continue // the own anchor comes from the node's keystore
		}
		if err := df.ver.SetAnchors(mb.Code, o.Certs[mb.Code]); err != nil { // checked by VerifyDirectory
			df.log.Error("directory anchors", "administration", mb.Code, "error", err)
		}
	}
	for _, a := range df.ver.Administrations() {
		if a != df.admin && o.Parsed.Member(a) == nil { // no longer a member
			_ = df.ver.SetAnchors(a, nil)
		}
	}
	df.node.SetFederation(o.Parsed)
	df.version, df.payload = o.Version, o.Payload
	codes := make([]string, 0, len(o.Parsed.Members))
	for _, mb := range o.Parsed.Members {
		codes = append(codes, mb.Code)
	}
	anchored := slices.Collect(func(yield func(string) bool) {
		for _, c := range codes {
			if len(o.Certs[c]) > 0 && !yield(c) {
				return
			}
		}
	})
	df.log.Info("member directory applied", "version", o.Version, "issued_at", o.IssuedAt.UTC().Format(time.RFC3339),
		"members", strings.Join(codes, ","), "anchors", strings.Join(anchored, ","))
	return nil
}
