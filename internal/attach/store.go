package attach

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"mime"
	"os"
	"sync"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"
	"github.com/cix-exchange/cix/internal/bus"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors of the store. They are wrapped with the details; test them with errors.Is.
var (
	// ErrTooLarge: the file exceeds the configured limit (the message names it).
	ErrTooLarge = errors.New("attachment too large")
	// ErrInvalid: an argument is wrong; the message names it (name, media_type,
	// counterpart).
	ErrInvalid = errors.New("invalid attachment")
	// ErrNotHeld: the object store does not hold the ciphertext of the reference
	// (complete, with its digest and size).
	ErrNotHeld = errors.New("attachment not held")
	// ErrMismatch: the bytes read do not match the reference's digest or size.
	ErrMismatch = errors.New("attachment does not match its reference")
)

// PublishFunc stores one outbound message into the administration's outbound stream
// CIX_OUT_<ADMIN> with the given Nats-Msg-Id and headers, and returns once the stream
// has acknowledged it. A message already stored (a duplicate id, or the stream's
// one-message-per-subject refusal) is not an error.
type PublishFunc func(ctx context.Context, subject, msgID string, data []byte, hdr nats.Header) error

// RecipientFunc returns the age recipient of a member administration (from the
// federation manifest: ManifestRecipients).
type RecipientFunc func(admin string) (age.Recipient, error)

// Options configure a Store.
type Options struct {
	// Administration is this administration's code.
	Administration string
	// Private is the JetStream context of the node's private streams (in federation mode
	// the leaf's account federation.PrivateAccount, not bound to the hub, so that no other
	// administration can read the bucket through it): the object store bucket
	// CIX_ATTACH_<ADMIN> lives there.
	Private jetstream.JetStream
	// Bus is the JetStream context of the administration's streams bound to the hub, in
	// its own domain (bus.Bus.JetStream): the receiver consumes CIX_IN_<ADMIN> there, and
	// Send looks up CIX_OUT_<ADMIN> to skip what was sent already.
	Bus jetstream.JetStream
	// Recipient returns a member's age recipient; Put encrypts to the counterpart's and
	// to this administration's.
	Recipient RecipientFunc
	// Identity is this administration's age identity; Open decrypts with it.
	Identity age.Identity
	// Publish stores chunks into CIX_OUT_<ADMIN>. Nil publishes with Bus (JetStreamPublisher).
	Publish PublishFunc
	// MaxSize is the largest plaintext accepted by Put, and (with the age overhead) the
	// largest ciphertext accepted from a counterpart; default DefaultMaxSize (32 MiB).
	MaxSize int64
	// Consumer is the durable consumer's name on CIX_IN_<ADMIN>; default
	// attach_<ADMIN> (one per administration, like the bucket).
	Consumer string
	// Replicas of the bucket (default 1).
	Replicas int
	// TempDir holds a ciphertext while Put computes its digest (the object's name),
	// removed before Put returns; default os.TempDir(). Never plaintext.
	TempDir string
	// Quarantine stores what the receiver refuses (malformed chunks, objects over the
	// limit or not matching their digest) in the node's quarantine, with its reason; nil:
	// refusals are only logged and counted (Stats).
	Quarantine func(context.Context, []feed.Quarantined) error
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// BucketName is the object store bucket of admin's attachments.
func BucketName(admin string) string { return "CIX_ATTACH_" + admin }

// Store is the attachment store of one administration. It implements Attachments; Run
// receives the counterparts' attachments.
type Store struct {
	admin      string
	obj        jetstream.ObjectStore
	bus        jetstream.JetStream
	recipient  RecipientFunc
	id         age.Identity
	publish    PublishFunc
	max        int64
	consumer   string
	tempDir    string
	log        *slog.Logger
	quarantine func(context.Context, []feed.Quarantined) error

	mu    sync.Mutex
	stats Stats
	// objects received in part, and refused ones, by origin and ciphertext digest
	// (bounded; a forgotten entry only costs look-ups).
	partial map[objKey]*partial
	refused map[objKey]string
}

var _ Attachments = (*Store)(nil)

// New opens the store: it creates the bucket CIX_ATTACH_<ADMIN> when needed. Call Run
// to receive.
func New(ctx context.Context, o Options) (*Store, error) {
	switch {
	case o.Administration == "":
		return nil, errors.New("attach: no administration")
	case o.Private == nil || o.Bus == nil:
		return nil, errors.New("attach: the private and the bus JetStream contexts are both required")
	case o.Recipient == nil || o.Identity == nil:
		return nil, errors.New("attach: the recipients and the age identity are required")
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Consumer == "" {
		o.Consumer = "attach_" + o.Administration
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Publish == nil {
		o.Publish = JetStreamPublisher(o.Bus, federation.OutboundStream(o.Administration))
	}
	cfg := jetstream.ObjectStoreConfig{
		Bucket:      BucketName(o.Administration),
		Description: "cix attachments of " + o.Administration + ": age ciphertexts named by their SHA-256",
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}
	obj, err := o.Private.CreateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		obj, err = o.Private.ObjectStore(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("attach: bucket %s: %w", cfg.Bucket, err)
	}
	return &Store{
		admin: o.Administration, obj: obj, bus: o.Bus, recipient: o.Recipient, id: o.Identity,
		publish: o.Publish, max: o.MaxSize, consumer: o.Consumer, tempDir: o.TempDir,
		log: o.Logger.With("component", "attach"), quarantine: o.Quarantine,
		partial: map[objKey]*partial{}, refused: map[objKey]string{},
	}, nil
}

// ManifestRecipients returns the recipients published in m (age_recipient).
func ManifestRecipients(m *federation.Manifest) RecipientFunc {
	return func(admin string) (age.Recipient, error) {
		mb := m.Member(admin)
		if mb == nil {
			return nil, fmt.Errorf("%s is not a member of federation %s", admin, m.Federation)
		}
		if mb.AgeRecipient == "" {
			return nil, fmt.Errorf("%s has no age_recipient in the manifest of federation %s", admin, m.Federation)
		}
		return sealed.ParseRecipient(mb.AgeRecipient)
	}
}

// JetStreamPublisher publishes with js into stream, waiting for its acknowledgement, on
// an empty subject only (the outbound stream keeps any number of messages per subject:
// its alerts share one); a refusal because the subject holds a message counts as stored.
func JetStreamPublisher(js jetstream.JetStream, stream string) PublishFunc {
	return func(ctx context.Context, subject, msgID string, data []byte, hdr nats.Header) error {
		_, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data, Header: hdr},
			jetstream.WithMsgID(msgID), jetstream.WithExpectStream(stream), jetstream.WithExpectLastSequencePerSubject(0))
		if bus.IsSubjectTaken(err) {
			return nil
		}
		return err
	}
}

// maxCipherSize is the largest ciphertext of a plaintext of max bytes: age's header
// (stanzas for two recipients, well under 1 KiB) and 16 bytes per 64 KiB.
func maxCipherSize(max int64) int64 { return max + (max/(64<<10)+1)*16 + 1024 }

// limitText names the limit for people.
func limitText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkCounterpart refuses this administration itself, and a member without recipient.
func (s *Store) checkCounterpart(counterpart string) (age.Recipient, error) {
	if counterpart == s.admin {
		return nil, fmt.Errorf("%w: counterpart: %s is this administration", ErrInvalid, counterpart)
	}
	r, err := s.recipient(counterpart)
	if err != nil {
		return nil, fmt.Errorf("%w: counterpart: %v", ErrInvalid, err)
	}
	return r, nil
}

// checkName refuses an empty or overlong name, invalid UTF-8 and control characters.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: name: required", ErrInvalid)
	case len(name) > 255:
		return fmt.Errorf("%w: name: longer than 255 bytes", ErrInvalid)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name: not UTF-8", ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: name: control character %U", ErrInvalid, r)
		}
	}
	return nil
}

// Put reads r to its end (at most MaxSize bytes), encrypts it with age to the
// counterpart and to this administration, and stores the ciphertext in the bucket
// under the hex SHA-256 of the ciphertext. The plaintext is streamed (never held
// whole); the ciphertext goes through a temporary file while its digest, the object's
// name, is computed. An empty media type is application/octet-stream. Name and media type are not stored: they belong in the signed
// message that carries the reference.
func (s *Store) Put(ctx context.Context, counterpart, name, mediaType string, r io.Reader) (Ref, error) {
	if err := checkName(name); err != nil {
		return Ref{}, err
	}
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	if _, _, err := mime.ParseMediaType(mediaType); err != nil {
		return Ref{}, fmt.Errorf("%w: media_type: %q: %v", ErrInvalid, mediaType, err)
	}
	to, err := s.checkCounterpart(counterpart)
	if err != nil {
		return Ref{}, err
	}
	own, err := s.recipient(s.admin)
	if err != nil {
		return Ref{}, fmt.Errorf("attach: own recipient: %w", err)
	}
	f, err := os.CreateTemp(s.tempDir, "cix-attach-*.age")
	if err != nil {
		return Ref{}, fmt.Errorf("attach: temporary file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	ch := &digester{h: sha256.New()}
	bw := bufio.NewWriterSize(f, 64<<10)
	w, err := age.Encrypt(io.MultiWriter(bw, ch), to, own)
	if err != nil {
		return Ref{}, fmt.Errorf("attach: encrypt: %w", err)
	}
	ph := &digester{h: sha256.New()}
	n, err := io.Copy(io.MultiWriter(w, ph), io.LimitReader(ctxReader{ctx, r}, s.max+1))
	if err != nil {
		return Ref{}, fmt.Errorf("attach: read %s: %w", name, err)
	}
	if n > s.max {
		return Ref{}, fmt.Errorf("%w: %s exceeds the limit of %s", ErrTooLarge, name, limitText(s.max))
	}
	if err := w.Close(); err != nil {
		return Ref{}, fmt.Errorf("attach: encrypt: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return Ref{}, fmt.Errorf("attach: temporary file: %w", err)
	}
	ref := Ref{Name: name, MediaType: mediaType, SHA256: ph.sum(), Size: ph.n, CipherSHA256: ch.sum(), CipherSize: ch.n}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Ref{}, fmt.Errorf("attach: temporary file: %w", err)
	}
	if err := s.store(ctx, ref.CipherSHA256, ref.CipherSize, f); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

// store puts a ciphertext into the bucket and checks what the bucket computed; an object
// that does not match is deleted.
func (s *Store) store(ctx context.Context, cipher [32]byte, size int64, r io.Reader) error {
	name := objectName(cipher)
	info, err := s.obj.Put(ctx, jetstream.ObjectMeta{Name: name}, r)
	if err != nil {
		return fmt.Errorf("attach: store %s: %w", name, err)
	}
	if info.Digest != objectDigest(cipher) || int64(info.Size) != size {
		_ = s.obj.Delete(ctx, name)
		return fmt.Errorf("%w: stored %d bytes with %s, want %d bytes with %s", ErrMismatch, info.Size, info.Digest, size, objectDigest(cipher))
	}
	return nil
}

// Held reports whether the bucket holds ref's ciphertext, complete, with its digest
// and size.
func (s *Store) Held(ctx context.Context, ref Ref) (bool, error) {
	return s.held(ctx, ref.CipherSHA256, ref.CipherSize)
}

func (s *Store) held(ctx context.Context, cipher [32]byte, size int64) (bool, error) {
	info, err := s.obj.GetInfo(ctx, objectName(cipher))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("attach: look up %s: %w", objectName(cipher), err)
	}
	return !info.Deleted && int64(info.Size) == size && info.Digest == objectDigest(cipher), nil
}

// Send publishes the ciphertext of ref to counterpart in chunks of ChunkSize on
// cix.out.<ADMIN>.to.<COUNTERPART>.attach.<id>, each with its subject as Nats-Msg-Id
// (the outbound stream keeps one message per subject, so sending again stores nothing
// new). Chunks are published in order and each waits for the stream's acknowledgement,
// so the last chunk in the outbound stream means all are: Send then returns at once.
// The outbound stream is in this administration's domain: Send works while the hub is
// away, and the chunks travel when it is back.
func (s *Store) Send(ctx context.Context, counterpart string, ref Ref) error {
	if _, err := s.checkCounterpart(counterpart); err != nil {
		return err
	}
	if ok, err := s.Held(ctx, ref); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: %s (%s)", ErrNotHeld, objectName(ref.CipherSHA256), ref.Name)
	}
	n := chunkCount(ref.CipherSize, ChunkSize)
	if out, err := s.bus.Stream(ctx, federation.OutboundStream(s.admin)); err == nil {
		if _, err := out.GetLastMsgForSubject(ctx, chunkSubject(s.admin, counterpart, ref.CipherSHA256, n-1)); err == nil {
			return nil // sent already
		}
	}
	res, err := s.obj.Get(ctx, objectName(ref.CipherSHA256))
	if err != nil {
		return fmt.Errorf("attach: read %s: %w", objectName(ref.CipherSHA256), err)
	}
	defer res.Close()
	buf := make([]byte, ChunkSize)
	c := chunk{from: s.admin, cipher: ref.CipherSHA256, size: ref.CipherSize, chunkSize: ChunkSize, count: n}
	for i := range n {
		b := buf[:chunkLen(ref.CipherSize, ChunkSize, i)]
		if _, err := io.ReadFull(res, b); err != nil {
			return fmt.Errorf("attach: read %s: %w", objectName(ref.CipherSHA256), err)
		}
		c.index = i
		subject := chunkSubject(s.admin, counterpart, ref.CipherSHA256, i)
		if err := s.publish(ctx, subject, subject, b, c.header()); err != nil && !bus.IsSubjectTaken(err) {
			return fmt.Errorf("attach: send chunk %d of %d of %s to %s: %w", i+1, n, objectName(ref.CipherSHA256), counterpart, err)
		}
	}
	return nil
}

// Open returns ref's plaintext, decrypted with this administration's identity. The
// reader fails (with ErrMismatch) at the end unless the ciphertext and the plaintext
// match ref's digests and sizes, and as soon as the plaintext exceeds ref's size. ctx
// must last while the file is read.
func (s *Store) Open(ctx context.Context, ref Ref) (io.ReadCloser, error) {
	ok, err := s.Held(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotHeld, objectName(ref.CipherSHA256), ref.Name)
	}
	res, err := s.obj.Get(ctx, objectName(ref.CipherSHA256))
	if err != nil {
		return nil, fmt.Errorf("attach: read %s: %w", objectName(ref.CipherSHA256), err)
	}
	ch := &digester{h: sha256.New()}
	cr := io.TeeReader(res, ch)
	pr, err := age.Decrypt(cr, s.id)
	if err != nil {
		res.Close()
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("attach: %s: %w", objectName(ref.CipherSHA256), sealed.ErrNotRecipient)
		}
		return nil, fmt.Errorf("attach: decrypt %s: %w", objectName(ref.CipherSHA256), err)
	}
	return &opened{ref: ref, res: res, cipher: cr, ch: ch, pr: pr, ph: &digester{h: sha256.New()}}, nil
}

// opened is the plaintext reader Open returns.
type opened struct {
	ref    Ref
	res    jetstream.ObjectResult
	cipher io.Reader // the ciphertext, hashed into ch as read
	ch, ph *digester
	pr     io.Reader
	err    error
}

func (o *opened) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.pr.Read(p)
	o.ph.Write(p[:n])
	if o.ph.n > o.ref.Size {
		o.err = fmt.Errorf("%w: plaintext longer than %d bytes", ErrMismatch, o.ref.Size)
		return 0, o.err
	}
	switch {
	case err == io.EOF:
		if _, derr := io.Copy(io.Discard, o.cipher); derr != nil {
			o.err = fmt.Errorf("attach: read ciphertext: %w", derr)
		} else if o.ch.n != o.ref.CipherSize || o.ch.sum() != o.ref.CipherSHA256 {
			o.err = fmt.Errorf("%w: ciphertext of %d bytes does not match the reference", ErrMismatch, o.ch.n)
		} else if o.ph.n != o.ref.Size || o.ph.sum() != o.ref.SHA256 {
			o.err = fmt.Errorf("%w: plaintext of %d bytes does not match the reference's digest and size (%d bytes)", ErrMismatch, o.ph.n, o.ref.Size)
		} else {
			o.err = io.EOF
		}
		return n, o.err
	case err != nil:
		o.err = fmt.Errorf("attach: decrypt: %w", err)
		return n, o.err
	}
	return n, nil
}

func (o *opened) Close() error { return o.res.Close() }

// digester hashes and counts what is written to it.
type digester struct {
	h hash.Hash
	n int64
}

func (d *digester) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digester) sum() (s [32]byte) {
	copy(s[:], d.h.Sum(nil))
	return s
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
