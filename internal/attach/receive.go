package attach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	"github.com/nats-io/nats.go/jetstream"
)

// Stats counts what the receiver did since the store was opened.
type Stats struct {
	// Stored counts objects received complete, verified and stored.
	Stored uint64
	// Skipped counts chunks of objects the bucket held already.
	Skipped uint64
	// Malformed counts chunks refused for their subject, headers or length.
	Malformed uint64
	// TooLarge counts objects refused for their declared size (once per object).
	TooLarge uint64
	// Corrupt counts objects whose reassembled ciphertext did not match its digest or
	// size, or whose chunks disagreed.
	Corrupt uint64
}

// Stats returns the receiver's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Store) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// objKey identifies an object being received: its sender and ciphertext digest.
type objKey struct {
	from   string
	cipher [32]byte
}

// partial is what Run knows of an object not yet complete: which chunks are in the
// inbound stream.
type partial struct {
	c    chunk
	seen []bool
}

// maxTracked bounds the objects Run remembers (partial and refused ones). Forgetting one
// costs look-ups, never correctness: presence is read from the inbound stream.
const maxTracked = 1024

// fetchBatch is the most chunks fetched at once: with the one being read back when an
// object completes, what bounds the receiver's memory (about 1.25 MiB).
const fetchBatch = 4

// ConsumerFilter is the subject filter of the receiver's consumer on CIX_IN_<admin>.
func ConsumerFilter(admin string) string {
	return federation.OutSubjectPrefix + "*.to." + admin + "." + Kind + ".>"
}

// Run receives the counterparts' attachments until ctx ends, with a durable consumer on
// CIX_IN_<ADMIN> filtered to ConsumerFilter. Each chunk is checked on its own (subject,
// headers, length); once every chunk of an object is in the inbound stream (the last
// chunk is published last, so its arrival triggers the check), the chunks are read back
// from the stream one at a time into the bucket, and the object is kept only if the
// bucket's SHA-256 and size of it match the headers. Memory stays at a few chunks
// whatever the objects' sizes (fetchBatch).
//
// A chunk is acknowledged once it is handled: the chunk that completes an object only
// after the object is stored, earlier ones once checked, since they stay in the inbound
// stream and are read from there when the object completes. Stopping at any point loses
// nothing: unacknowledged chunks are delivered again, and an object already held is
// skipped. Malformed chunks, objects over the limit and corrupt objects are logged with
// the reason and counted (Stats), and their chunks terminated. Run is called once at a
// time.
func (s *Store) Run(ctx context.Context) error {
	inName := federation.InboundStream(s.admin)
	in, err := s.bus.Stream(ctx, inName)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("attach: inbound stream %s: %w", inName, err)
	}
	cons, err := s.bus.CreateOrUpdateConsumer(ctx, inName, jetstream.ConsumerConfig{
		Durable:       s.consumer,
		Description:   "cix attachments addressed to " + s.admin,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 256,
		FilterSubject: ConsumerFilter(s.admin),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("attach: consumer %s on %s: %w", s.consumer, inName, err)
	}
	s.log.Info("receiving attachments", "stream", inName, "consumer", s.consumer)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// A short fetch, every message of which is handled or given back (Nak) before
		// the next: nothing delivered is left waiting for the acknowledgement timeout
		// when Run stops.
		// The fetch's context ends with ctx too, so that stopping never waits on a fetch.
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchContext(fctx))
		if err != nil {
			expired := fctx.Err() != nil
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if expired {
				// The second passed before the fetch was sent (a loaded machine):
				// nats.go refuses a fetch whose deadline is over. Nothing failed.
				continue
			}
			s.log.Warn("attachment consumer", "error", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for m := range batch.Messages() {
			if ctx.Err() != nil {
				_ = m.Nak()
				continue
			}
			s.handle(ctx, in, m)
		}
		cancel()
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("attachment consumer", "error", err)
		}
	}
	return nil
}

// handle checks one delivered chunk, stores its object when it completes it, and
// acknowledges, terminates or gives it back.
func (s *Store) handle(ctx context.Context, in jetstream.Stream, m jetstream.Msg) {
	c, err := parseChunk(s.admin, m.Subject(), m.Headers(), m.Data())
	if err != nil {
		s.count(func(st *Stats) { st.Malformed++ })
		s.log.Warn("attachment chunk refused", "subject", clip(m.Subject()), "reason", "malformed", "detail", err.Error())
		s.quarantineChunk(ctx, m, "malformed attachment chunk: "+err.Error())
		_ = m.Term()
		return
	}
	key := objKey{from: c.from, cipher: c.cipher}
	if _, ok := s.refused[key]; ok {
		_ = m.Term()
		return
	}
	if c.size > maxCipherSize(s.max) {
		s.count(func(st *Stats) { st.TooLarge++ })
		detail := fmt.Sprintf("%d bytes of ciphertext, over the limit of %s of plaintext", c.size, limitText(s.max))
		s.refuse(key, "too_large", detail)
		s.quarantineChunk(ctx, m, "attachment "+objectName(key.cipher)+" from "+key.from+" refused: "+detail)
		_ = m.Term()
		return
	}
	held, err := s.held(ctx, c.cipher, c.size)
	if err == nil && held {
		s.count(func(st *Stats) { st.Skipped++ })
		delete(s.partial, key)
		_ = m.Ack()
		return
	}
	if err == nil {
		err = s.advance(ctx, in, key, c, m)
	}
	switch {
	case errors.Is(err, ErrMismatch), errors.Is(err, errMalformed):
		s.count(func(st *Stats) { st.Corrupt++ })
		s.refuse(key, "corrupt", err.Error())
		s.quarantineChunk(ctx, m, "attachment "+objectName(key.cipher)+" from "+key.from+" refused: "+err.Error())
		_ = m.Term()
	case err != nil:
		if ctx.Err() == nil {
			s.log.Warn("attachment chunk not handled; retrying", "subject", m.Subject(), "error", err)
		}
		_ = m.NakWithDelay(time.Second)
	default:
		_ = m.Ack()
	}
}

// quarantineChunk puts the refused chunk m (for an object refused as a whole, the chunk
// that revealed it) in the node's quarantine with reason invalid_content: a refusal is
// never only a log line. A failure to quarantine is logged; the chunk is refused anyway.
func (s *Store) quarantineChunk(ctx context.Context, m jetstream.Msg, detail string) {
	if s.quarantine == nil {
		return
	}
	q := feed.Quarantined{Reason: envelope.ReasonInvalidContent.String(), Detail: detail, Subject: m.Subject(), Raw: m.Data()}
	if md, err := m.Metadata(); err == nil {
		q.SourceSeq = md.Sequence.Stream
	}
	if err := s.quarantine(ctx, []feed.Quarantined{q}); err != nil {
		s.log.Error("quarantine attachment chunk", "subject", clip(m.Subject()), "error", err)
	}
}

// refuse remembers a refused object and logs why, once.
func (s *Store) refuse(key objKey, reason, detail string) {
	if len(s.refused) >= maxTracked {
		for k := range s.refused {
			delete(s.refused, k)
			break
		}
	}
	s.refused[key] = reason
	delete(s.partial, key)
	s.log.Warn("attachment refused", "from", key.from, "object", objectName(key.cipher), "reason", reason, "detail", detail)
}

// advance records chunk c and, when every chunk of its object is in the inbound stream,
// stores the object.
func (s *Store) advance(ctx context.Context, in jetstream.Stream, key objKey, c chunk, m jetstream.Msg) error {
	p := s.partial[key]
	if p == nil || !p.c.sameObject(c) {
		if len(s.partial) >= maxTracked {
			for k := range s.partial {
				delete(s.partial, k)
				break
			}
		}
		p = &partial{c: c, seen: make([]bool, c.count)}
		s.partial[key] = p
	}
	p.seen[c.index] = true
	// The last chunk first: until it is in, the others are not all there.
	for _, i := range append([]int{c.count - 1}, indices(c.count-1)...) {
		if p.seen[i] {
			continue
		}
		ok, err := present(ctx, in, chunkSubject(c.from, s.admin, c.cipher, i))
		if err != nil || !ok {
			return err
		}
		p.seen[i] = true
	}
	_ = m.InProgress()
	err := s.store(ctx, c.cipher, c.size, &chunkReader{ctx: ctx, in: in, admin: s.admin, c: c})
	if err != nil {
		return err
	}
	delete(s.partial, key)
	s.count(func(st *Stats) { st.Stored++ })
	s.log.Info("attachment received", "from", c.from, "object", objectName(c.cipher), "bytes", c.size, "chunks", c.count)
	return nil
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// present reports whether the inbound stream holds a message on subject.
func present(ctx context.Context, in jetstream.Stream, subject string) (bool, error) {
	_, err := in.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("attach: look up %s: %w", subject, err)
	}
	return true, nil
}

// chunkReader reads an object's ciphertext from the inbound stream, chunk by chunk,
// checking each chunk against the object's headers.
type chunkReader struct {
	ctx   context.Context
	in    jetstream.Stream
	admin string
	c     chunk
	next  int
	buf   []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.next == r.c.count {
			return 0, io.EOF
		}
		subject := chunkSubject(r.c.from, r.admin, r.c.cipher, r.next)
		msg, err := r.in.GetLastMsgForSubject(r.ctx, subject)
		if err != nil {
			return 0, fmt.Errorf("read chunk %d: %w", r.next, err)
		}
		got, err := parseChunk(r.admin, msg.Subject, msg.Header, msg.Data)
		if err != nil {
			return 0, fmt.Errorf("%w: chunk %d: %v", errMalformed, r.next, err)
		}
		if !got.sameObject(r.c) || got.index != r.next {
			return 0, fmt.Errorf("%w: chunk %d disagrees with the others on the object's size or chunking", errMalformed, r.next)
		}
		r.buf = msg.Data
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
