package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/bus"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/node"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultMaxEntries bounds a node's watchlist unless Config says otherwise.
const DefaultMaxEntries = 100_000

// ErrFull: the watchlist holds Config.MaxEntries entries.
var ErrFull = errors.New("watchlist full")

// Keys of the bucket.
const (
	keyCursor         = "cursor"
	keyEntryPrefix    = "entry."
	keyRecalledPrefix = "recalled."
)

// Feed is the node's feed of verified alerts, as the Service follows it.
type Feed interface {
	Subscribe(ctx context.Context, req *nodev1.SubscribeRequest, send func(*nodev1.SubscribeResponse) error) error
}

// Config names and shapes the node's watch bucket and hit stream.
type Config struct {
	// Administration and Node name the bucket and the stream.
	Administration, Node string
	Replicas             int
	// MaxEntries bounds the watchlist; DefaultMaxEntries when 0.
	MaxEntries int
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

// Service keeps the watchlist and matches the node's feed against it.
type Service struct {
	js         jetstream.JetStream
	kv         jetstream.KeyValue
	hits       jetstream.Stream
	hitsName   string
	hitsPrefix string
	feed       Feed
	log        *slog.Logger
	now        func() time.Time
	max        int
	matcher    *Matcher

	createMu sync.Mutex // serialises the size check of Create

	mu       sync.Mutex
	recalled map[string]bool
	cursor   string // feed cursor up to which alerts are matched
	saved    string // cursor last written to the bucket
}

// Open creates or opens the node's bucket and hit stream and loads the watchlist, the
// recalled alerts and the cursor. A node without a stored cursor starts matching at
// the end of its feed: watch entries concern the alerts received from now on.
func Open(ctx context.Context, js jetstream.JetStream, feed Feed, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	token := strings.ToUpper(cfg.Administration + "_" + strings.ReplaceAll(cfg.Node, "-", "_"))
	s := &Service{
		js: js, feed: feed, log: log, now: cfg.Now, max: cfg.MaxEntries, matcher: NewMatcher(),
		hitsName: "CIX_WATCHHITS_" + token, hitsPrefix: "cix.watchhits." + token + ".",
		recalled: map[string]bool{},
	}
	var err error
	s.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "CIX_WATCH_" + token, Description: "cix watchlist, match cursor and recalled alerts of node " + token,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("watch bucket: %w", err)
	}
	s.hits, err = bus.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name: s.hitsName, Description: "cix watchlist hits of node " + token,
		Subjects: []string{s.hitsPrefix + ">"}, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		// One message per (alert, entry): matching an alert again stores nothing.
		MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
		Duplicates: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("watch hit stream: %w", err)
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the entries, the recalled alerts and the cursor.
func (s *Service) load(ctx context.Context) error {
	w, err := s.kv.WatchFiltered(ctx, []string{keyEntryPrefix + ">", keyRecalledPrefix + ">"}, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("load watchlist: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		var kve jetstream.KeyValueEntry
		select {
		case kve = <-w.Updates():
		case <-ctx.Done():
			return fmt.Errorf("load watchlist: %w", ctx.Err())
		}
		if kve == nil { // all current values delivered
			break
		}
		key := kve.Key()
		if id, ok := strings.CutPrefix(key, keyRecalledPrefix); ok {
			s.recalled[id] = true
			continue
		}
		e := &analystv1.WatchEntry{}
		if err := proto.Unmarshal(kve.Value(), e); err != nil {
			s.log.Error("undecodable watch entry skipped", "key", key, "error", err)
			continue
		}
		s.matcher.Add(e)
	}
	kve, err := s.kv.Get(ctx, keyCursor)
	switch {
	case err == nil:
		s.cursor = string(kve.Value())
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if s.cursor, err = s.feedEnd(ctx); err != nil {
			return err
		}
		if _, err := s.kv.Put(ctx, keyCursor, []byte(s.cursor)); err != nil {
			return fmt.Errorf("watch cursor: %w", err)
		}
	default:
		return fmt.Errorf("watch cursor: %w", err)
	}
	s.saved = s.cursor
	return nil
}

var errStop = errors.New("stop")

// feedEnd returns the cursor of the newest alert in the feed ("0" when it is empty):
// a subscription from the end reports it first.
func (s *Service) feedEnd(ctx context.Context) (string, error) {
	end := ""
	err := s.feed.Subscribe(ctx, &nodev1.SubscribeRequest{Start: nodev1.StartPosition_START_POSITION_NEW},
		func(ev *nodev1.SubscribeResponse) error {
			end = ev.GetCaughtUp().GetCursor()
			return errStop
		})
	if end == "" {
		return "", fmt.Errorf("watch: find the end of the feed: %w", err)
	}
	return end, nil
}

// Run matches the alerts of the feed from the cursor on, then live, until ctx ends.
// A failure (store unreachable) is logged and matching resumes from the last alert
// whose hits were stored.
func (s *Service) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // the cursor is saved once a second, not per alert: hits are idempotent
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.saveCursor(ctx)
			}
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.feed.Subscribe(ctx, &nodev1.SubscribeRequest{Cursor: s.Cursor()}, func(ev *nodev1.SubscribeResponse) error {
			backoff = 100 * time.Millisecond
			return s.handle(ctx, ev)
		})
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, node.ErrOutOfRange) { // the feed was wiped: start at its end
			if end, eerr := s.feedEnd(ctx); eerr == nil {
				s.log.Warn("watch: cursor beyond the feed; matching from its end", "cursor", s.Cursor(), "end", end)
				s.advance(end)
				continue
			}
		}
		s.log.Warn("watch: following the feed failed; retrying", "cursor", s.Cursor(), "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	<-done
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.saveCursor(sctx)
	return nil
}

// handle processes one feed event. Event kinds it does not know are skipped.
func (s *Service) handle(ctx context.Context, ev *nodev1.SubscribeResponse) error {
	switch e := ev.GetEvent().(type) {
	case *nodev1.SubscribeResponse_Alert:
		if err := s.matchAlert(ctx, e.Alert); err != nil {
			return err
		}
		s.advance(e.Alert.GetCursor())
	case *nodev1.SubscribeResponse_Gap:
		s.log.Warn("watch: alerts of the feed were not matched", "missing", e.Gap.GetMissing(), "reason", e.Gap.GetReason())
		s.advance(e.Gap.GetResumeCursor())
	case *nodev1.SubscribeResponse_CaughtUp:
		s.advance(e.CaughtUp.GetCursor())
	case *nodev1.SubscribeResponse_Recalled:
		if err := s.MarkRecalled(ctx, e.Recalled.GetAlertId()); err != nil {
			return err
		}
		s.advance(e.Recalled.GetCursor())
	}
	return nil
}

// matchAlert stores a hit for every entry that va matches and that existed when the
// node received va, unless va is known to be recalled.
func (s *Service) matchAlert(ctx context.Context, va *nodev1.VerifiedAlert) error {
	a := va.GetAlert()
	if va.GetRecalled() != nil || s.isRecalled(a.GetId()) {
		return nil
	}
	received := va.GetReceivedAt().AsTime()
	now := timestamppb.New(s.now())
	for _, m := range s.matcher.Match(a) {
		if m.Entry.GetCreatedAt().AsTime().After(received) {
			continue
		}
		hit := &analystv1.WatchHit{
			Entry: m.Entry, AlertId: a.GetId(), AlertKind: alert.Kind(a), Origin: a.GetOrigin().GetAdministration(),
			IssuedAt: a.GetIssuedAt(), Field: m.Field, Matched: m.Value, AlertCursor: va.GetCursor(), MatchedAt: now,
		}
		data, err := proto.Marshal(hit)
		if err != nil {
			return fmt.Errorf("marshal hit: %w", err)
		}
		subject := s.hitsPrefix + a.GetId() + "." + m.Entry.GetId()
		_, err = s.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, jetstream.WithExpectStream(s.hitsName))
		if err != nil && !bus.IsSubjectTaken(err) { // taken: stored before a restart
			return fmt.Errorf("store hit: %w", err)
		}
	}
	return nil
}

func (s *Service) advance(cursor string) {
	if cursor == "" {
		return
	}
	s.mu.Lock()
	s.cursor = cursor
	s.mu.Unlock()
}

// Cursor is the feed cursor up to which alerts have been matched.
func (s *Service) Cursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor
}

func (s *Service) saveCursor(ctx context.Context) {
	c := s.Cursor()
	s.mu.Lock()
	same := c == s.saved
	s.mu.Unlock()
	if same {
		return
	}
	if _, err := s.kv.Put(ctx, keyCursor, []byte(c)); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("watch: save cursor", "error", err)
		}
		return
	}
	s.mu.Lock()
	s.saved = c
	s.mu.Unlock()
}

// MarkRecalled records that an alert was recalled: it produces no hit from now on,
// also after a restart. Hits recorded before stay.
func (s *Service) MarkRecalled(ctx context.Context, alertID string) error {
	if !alert.ValidUUID(alertID) {
		return fmt.Errorf("mark recalled: %q is not an alert id", alertID)
	}
	if _, err := s.kv.Put(ctx, keyRecalledPrefix+alertID, nil); err != nil {
		return fmt.Errorf("%w: mark recalled: %w", node.ErrUnavailable, err)
	}
	s.mu.Lock()
	s.recalled[alertID] = true
	s.mu.Unlock()
	return nil
}

func (s *Service) isRecalled(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recalled[id]
}

// invalid is a field violation of a watch request.
func invalid(field, format string, args ...any) error {
	return &alert.ValidationError{Subject: "request", Violations: []alert.FieldViolation{{Field: field, Description: fmt.Sprintf(format, args...)}}}
}

// Create adds an entry owned by owner.
func (s *Service) Create(ctx context.Context, kind analystv1.WatchKind, value, label, owner string) (*analystv1.WatchEntry, error) {
	if _, ok := analystv1.WatchKind_name[int32(kind)]; !ok || kind == analystv1.WatchKind_WATCH_KIND_UNSPECIFIED {
		return nil, invalid("kind", "unknown watch kind %d", kind)
	}
	n, err := Normalize(kind, value)
	if err != nil {
		return nil, invalid("value", "%v", err)
	}
	label = strings.TrimSpace(label)
	if len([]rune(label)) > MaxValue {
		return nil, invalid("label", "longer than %d characters", MaxValue)
	}
	e := &analystv1.WatchEntry{
		Id: uuid.NewString(), Kind: kind, Value: strings.TrimSpace(value), Normalized: n,
		Owner: owner, Label: label, CreatedAt: timestamppb.New(s.now()),
	}
	data, err := proto.Marshal(e)
	if err != nil {
		return nil, err
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if s.matcher.Len() >= s.max {
		return nil, fmt.Errorf("%w: %d entries", ErrFull, s.max)
	}
	if _, err := s.kv.Create(ctx, keyEntryPrefix+e.Id, data); err != nil {
		return nil, fmt.Errorf("%w: store watch entry: %w", node.ErrUnavailable, err)
	}
	s.matcher.Add(e)
	return e, nil
}

// Delete removes the entry id. Unless anyOwner, only its owner may.
func (s *Service) Delete(ctx context.Context, id, owner string, anyOwner bool) error {
	e := s.matcher.Get(id)
	if e == nil {
		if !alert.ValidUUID(id) {
			return invalid("id", "%q is not a watch entry id", id)
		}
		return fmt.Errorf("%w: watch entry %s", node.ErrNotFound, id)
	}
	if !anyOwner && e.GetOwner() != owner {
		return fmt.Errorf("%w: watch entry %s belongs to %q", node.ErrPermission, id, e.GetOwner())
	}
	if err := s.kv.Purge(ctx, keyEntryPrefix+id); err != nil {
		return fmt.Errorf("%w: delete watch entry: %w", node.ErrUnavailable, err)
	}
	s.matcher.Remove(id)
	return nil
}

// List returns up to pageSize entries after the page token (an entry id), sorted by
// id, and the next token. With mine, only owner's entries.
func (s *Service) List(mine bool, owner string, pageSize uint32, token string) ([]*analystv1.WatchEntry, string, error) {
	switch {
	case pageSize == 0:
		pageSize = 1000
	case pageSize > 10000:
		return nil, "", invalid("page_size", "at most 10000")
	}
	if token != "" && !alert.ValidUUID(token) {
		return nil, "", invalid("page_token", "not a token from a previous page")
	}
	var out []*analystv1.WatchEntry
	for _, e := range s.matcher.Entries() {
		if e.GetId() <= token || (mine && e.GetOwner() != owner) {
			continue
		}
		if len(out) == int(pageSize) {
			return out, out[len(out)-1].GetId(), nil
		}
		out = append(out, e)
	}
	return out, "", nil
}

// Hits sends the recorded hits after cursor (or from start), a CaughtUp marker, then
// live hits, until ctx ends or send fails. With mine, only hits of owner's entries.
func (s *Service) Hits(ctx context.Context, req *analystv1.WatchHitsRequest, owner string, send func(*analystv1.WatchHitsResponse) error) error {
	info, err := s.hits.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: hit stream: %w", node.ErrUnavailable, err)
	}
	last := info.State.LastSeq
	var after uint64
	switch {
	case req.GetCursor() != "":
		if after, err = strconv.ParseUint(req.GetCursor(), 10, 64); err != nil {
			return invalid("cursor", "%q is not a cursor of this node's hits", req.GetCursor())
		}
		if after > last {
			return fmt.Errorf("%w: cursor %d is beyond the newest hit %d", node.ErrOutOfRange, after, last)
		}
	case req.GetStart() == nodev1.StartPosition_START_POSITION_EARLIEST:
		after = 0
	default:
		after = last
	}
	caughtUp := func(seq uint64) error {
		return send(&analystv1.WatchHitsResponse{Event: &analystv1.WatchHitsResponse_CaughtUp{CaughtUp: &nodev1.CaughtUp{Cursor: strconv.FormatUint(seq, 10)}}})
	}
	caught := after >= last
	if caught {
		if err := caughtUp(last); err != nil {
			return err
		}
	}
	cons, err := s.js.OrderedConsumer(ctx, s.hitsName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1,
	})
	if err != nil {
		return fmt.Errorf("%w: read hits: %w", node.ErrUnavailable, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("%w: read hits: %w", node.ErrUnavailable, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w: read hits: %w", node.ErrUnavailable, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("%w: read hits: %w", node.ErrUnavailable, err)
		}
		seq := md.Sequence.Stream
		hit := &analystv1.WatchHit{}
		if err := proto.Unmarshal(m.Data(), hit); err != nil {
			s.log.Error("undecodable watch hit skipped", "seq", seq, "error", err)
		} else if !req.GetMine() || hit.GetEntry().GetOwner() == owner {
			hit.Cursor = strconv.FormatUint(seq, 10)
			if err := send(&analystv1.WatchHitsResponse{Event: &analystv1.WatchHitsResponse_Hit{Hit: hit}}); err != nil {
				return err
			}
		}
		if !caught && seq >= last {
			if err := caughtUp(seq); err != nil {
				return err
			}
			caught = true
		}
	}
}
