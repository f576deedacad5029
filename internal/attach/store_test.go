package attach_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/attach"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/feed"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// readAll opens ref at s and reads it to the end.
func readAll(ctx context.Context, s *attach.Store, ref attach.Ref) ([]byte, error) {
	r, err := s.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// attachFilter is the filter of every attachment chunk sent by from to to.
func attachFilter(from, to string) string {
	return federation.OutSubjectPrefix + from + ".to." + to + "." + attach.Kind + ".>"
}

// countingPublisher counts the messages published through it.
func countingPublisher(js jetstream.JetStream, admin string, n *atomic.Int64) attach.PublishFunc {
	p := attach.JetStreamPublisher(js, federation.OutboundStream(admin))
	return func(ctx context.Context, subject, msgID string, data []byte, hdr nats.Header) error {
		n.Add(1)
		return p(ctx, subject, msgID, data, hdr)
	}
}

// storeContains reports whether any file under dir contains b.
func storeContains(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) { // compacted away meanwhile
			return nil
		}
		if err != nil {
			return err
		}
		found = bytes.Contains(data, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 {
		t.Errorf("%s holds %d files after Put, want none", dir, len(es))
	}
}

// TestRoundTrip: a file of several MB put at NL and sent to BE arrives intact, is
// encrypted at rest on both sides, cannot be read by DE, and sending it again publishes
// nothing.
func TestRoundTrip(t *testing.T) {
	f := startFed(t)
	ctx := ctxT(t)
	var published atomic.Int64
	nlOpts := f.options("NL")
	nlOpts.Publish = countingPublisher(f.leaves["NL"].js, "NL", &published)
	nl, be, de := f.store(nlOpts), f.store(f.options("BE")), f.store(f.options("DE"))
	run(t, nl)
	run(t, be)
	run(t, de)

	plain := randomBytes(t, 6<<20)
	ref, err := nl.Put(ctx, "BE", "manifest scan.pdf", "application/pdf", bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != int64(len(plain)) || ref.SHA256 != sha256.Sum256(plain) || ref.Name != "manifest scan.pdf" || ref.MediaType != "application/pdf" {
		t.Fatalf("ref = %+v, want the plaintext's size %d and digest", ref, len(plain))
	}
	if ref.CipherSize <= ref.Size || ref.CipherSHA256 == ref.SHA256 {
		t.Fatalf("ref = %+v: the ciphertext's size and digest are not an age file's", ref)
	}
	emptyDir(t, nlOpts.TempDir)
	if ok, err := nl.Held(ctx, ref); err != nil || !ok {
		t.Fatalf("NL Held after Put = %v, %v; want true", ok, err)
	}
	if got, err := readAll(ctx, nl, ref); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("NL Open: %d bytes, %v; want the %d bytes put", len(got), err, len(plain))
	}
	if ok, err := be.Held(ctx, ref); err != nil || ok {
		t.Fatalf("BE Held before Send = %v, %v; want false", ok, err)
	}

	if err := nl.Send(ctx, "BE", ref); err != nil {
		t.Fatal(err)
	}
	chunks := int((ref.CipherSize + attach.ChunkSize - 1) / attach.ChunkSize)
	if chunks < 20 || published.Load() != int64(chunks) {
		t.Fatalf("Send published %d chunks, want %d (of %d bytes)", published.Load(), chunks, attach.ChunkSize)
	}
	eventually(t, func() error {
		if ok, err := be.Held(ctx, ref); err != nil || !ok {
			return fmt.Errorf("BE holds the attachment: %v, %v", ok, err)
		}
		return nil
	})
	got, err := readAll(ctx, be, ref)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("BE Open: %d bytes, %v; want the %d bytes put at NL", len(got), err, len(plain))
	}
	if st := be.Stats(); st.Stored != 1 || st.Malformed+st.Corrupt+st.TooLarge != 0 {
		t.Errorf("BE stats %+v, want one stored object and nothing refused", st)
	}

	// Sending again publishes nothing: no call, and one message per chunk on both sides.
	if err := nl.Send(ctx, "BE", ref); err != nil {
		t.Fatal(err)
	}
	if published.Load() != int64(chunks) {
		t.Errorf("second Send published %d more messages, want none", published.Load()-int64(chunks))
	}
	// Even without Send's look-up, the outbound stream stores each chunk once: publishing
	// a chunk's subject again is refused, which the publisher reports as stored.
	first := federation.OutboundSubject("NL", federation.ToMember("BE"), attach.Kind, hex.EncodeToString(ref.CipherSHA256[:24])+"-0")
	if err := attach.JetStreamPublisher(f.leaves["NL"].js, federation.OutboundStream("NL"))(ctx, first, first, []byte("again"), nil); err != nil {
		t.Errorf("publishing chunk 0 again: %v, want nil (stored already)", err)
	}
	for _, side := range []struct{ code, stream string }{{"NL", federation.OutboundStream("NL")}, {"BE", federation.InboundStream("BE")}} {
		subs := f.subjects(side.code, side.stream, attachFilter("NL", "BE"))
		if len(subs) != chunks || total(subs) != uint64(chunks) {
			t.Errorf("%s %s holds %d messages on %d chunk subjects, want %d on %d", side.code, side.stream, total(subs), len(subs), chunks, chunks)
		}
	}

	// Encrypted at rest: no window of the plaintext in either leaf's JetStream store,
	// where the ciphertext is (which shows the scan reads what is stored).
	ct, err := bucket(t, f, "BE").GetBytes(ctx, hex.EncodeToString(ref.CipherSHA256[:]))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(ct) != ref.CipherSHA256 {
		t.Fatal("BE's bucket holds other bytes under the ciphertext's name")
	}
	for _, code := range []string{"NL", "BE"} {
		eventually(t, func() error {
			if !storeContains(t, f.leaves[code].dir, ct[3<<20:3<<20+64]) {
				return fmt.Errorf("%s's store does not show the ciphertext yet", code)
			}
			return nil
		})
		for _, off := range []int{0, 1 << 20, 5<<20 + 12345} {
			if storeContains(t, f.leaves[code].dir, plain[off:off+64]) {
				t.Errorf("%s's JetStream store holds plaintext (offset %d)", code, off)
			}
		}
	}

	// DE: nothing on its inbound stream, nothing held, and the ciphertext is not for it.
	if subs := f.subjects("DE", federation.InboundStream("DE"), federation.OutSubjectPrefix+"*.*.*."+attach.Kind+".>"); len(subs) != 0 {
		t.Errorf("DE's inbound stream holds %d attachment chunks, want none", len(subs))
	}
	if _, err := readAll(ctx, de, ref); !errors.Is(err, attach.ErrNotHeld) {
		t.Errorf("DE Open = %v, want ErrNotHeld", err)
	}
	if _, err := sealed.Decrypt(ct, f.ids["DE"], 1<<30); !errors.Is(err, sealed.ErrNotRecipient) {
		t.Errorf("DE decrypting the ciphertext: %v, want ErrNotRecipient", err)
	}
	if pt, err := sealed.Decrypt(ct, f.ids["BE"], 1<<30); err != nil || !bytes.Equal(pt, plain) {
		t.Errorf("BE decrypting the ciphertext: %v", err)
	}
}

// bucket is code's attachment bucket, opened directly in the private account.
func bucket(t *testing.T, f *fed, code string) jetstream.ObjectStore {
	t.Helper()
	o, err := f.leaves[code].pjs.ObjectStore(ctxT(t), attach.BucketName(code))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestBucketNotReachableFromHubAccount: the bucket lives in the private account, not in
// the account bound to the hub (whose streams other administrations source from).
func TestBucketNotReachableFromHubAccount(t *testing.T) {
	f := startFed(t)
	ctx := ctxT(t)
	nl := f.store(f.options("NL"))
	if _, err := nl.Put(ctx, "BE", "a.txt", "text/plain", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.leaves["NL"].js.ObjectStore(ctx, attach.BucketName("NL")); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("bucket in the hub-bound account: %v, want ErrBucketNotFound", err)
	}
	bucket(t, f, "NL") // and it is in the private one
}

// TestOpenRefusesMismatch: a reference that does not match the stored ciphertext, or a
// ciphertext corrupted or truncated, fails Open or the read to the end.
func TestOpenRefusesMismatch(t *testing.T) {
	f := startFed(t)
	ctx := ctxT(t)
	nl := f.store(f.options("NL"))
	plain := randomBytes(t, 300<<10)
	ref, err := nl.Put(ctx, "BE", "photo.jpg", "image/jpeg", bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(ctx, nl, ref); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open: %d bytes, %v", len(got), err)
	}
	flip := func(d [32]byte) [32]byte { d[7] ^= 1; return d }

	notHeld := map[string]attach.Ref{}
	r := ref
	r.CipherSHA256 = flip(r.CipherSHA256)
	notHeld["other ciphertext digest"] = r
	r = ref
	r.CipherSize--
	notHeld["ciphertext one byte shorter"] = r
	r = ref
	r.CipherSize++
	notHeld["ciphertext one byte longer"] = r
	for name, r := range notHeld {
		if ok, err := nl.Held(ctx, r); err != nil || ok {
			t.Errorf("%s: Held = %v, %v; want false", name, ok, err)
		}
		if _, err := nl.Open(ctx, r); !errors.Is(err, attach.ErrNotHeld) {
			t.Errorf("%s: Open = %v, want ErrNotHeld", name, err)
		}
	}

	failsAtEnd := map[string]attach.Ref{}
	r = ref
	r.SHA256 = flip(r.SHA256)
	failsAtEnd["other plaintext digest"] = r
	r = ref
	r.Size--
	failsAtEnd["plaintext one byte shorter"] = r
	r = ref
	r.Size++
	failsAtEnd["plaintext one byte longer"] = r
	for name, r := range failsAtEnd {
		if _, err := readAll(ctx, nl, r); !errors.Is(err, attach.ErrMismatch) {
			t.Errorf("%s: reading to the end = %v, want ErrMismatch", name, err)
		}
	}

	// Ciphertexts damaged at rest, with references that match them (as a forged
	// reference would): age's authentication refuses them.
	obj := bucket(t, f, "NL")
	ct, err := obj.GetBytes(ctx, hex.EncodeToString(ref.CipherSHA256[:]))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(ct)
	corrupt[len(corrupt)/2] ^= 0x40
	// After the header ("--- <mac>\n") and the 16-byte nonce, the payload is in chunks of
	// 64 KiB + 16; dropping whole chunks at the end must fail too.
	mac := bytes.Index(ct, []byte("\n--- "))
	payload := mac + 1 + bytes.IndexByte(ct[mac+1:], '\n') + 1 + 16
	damaged := map[string][]byte{"truncated": ct[:len(ct)-100], "corrupted": corrupt, "truncated at a chunk boundary": ct[:payload+2*(64<<10+16)]}
	for name, c := range damaged {
		sum := sha256.Sum256(c)
		if _, err := obj.PutBytes(ctx, hex.EncodeToString(sum[:]), c); err != nil {
			t.Fatal(err)
		}
		r := ref
		r.CipherSHA256, r.CipherSize = sum, int64(len(c))
		if ok, err := nl.Held(ctx, r); err != nil || !ok {
			t.Fatalf("%s: Held = %v, %v; want true", name, ok, err)
		}
		got, err := readAll(ctx, nl, r)
		if err == nil {
			t.Errorf("%s ciphertext: read %d bytes without error", name, len(got))
		}
	}

	// The right name with other bytes (replaced in the bucket): not held.
	if _, err := obj.PutBytes(ctx, hex.EncodeToString(ref.CipherSHA256[:]), corrupt); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.Open(ctx, ref); !errors.Is(err, attach.ErrNotHeld) {
		t.Errorf("Open of a replaced object = %v, want ErrNotHeld", err)
	}
	if err := nl.Send(ctx, "BE", ref); !errors.Is(err, attach.ErrNotHeld) {
		t.Errorf("Send of a replaced object = %v, want ErrNotHeld", err)
	}
}

// TestPutRefuses: over the limit (named in the error), and bad arguments.
func TestPutRefuses(t *testing.T) {
	f := startFed(t)
	ctx := ctxT(t)
	o := f.options("NL")
	nl := f.store(o)
	_, err := nl.Put(ctx, "BE", "big.bin", "", io.LimitReader(zeros{}, attach.DefaultMaxSize+1))
	if !errors.Is(err, attach.ErrTooLarge) || !strings.Contains(err.Error(), "32 MiB") {
		t.Fatalf("Put of 32 MiB + 1 byte = %v, want ErrTooLarge naming 32 MiB", err)
	}
	emptyDir(t, o.TempDir)
	if _, err := bucket(t, f, "NL").List(ctx); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Errorf("bucket after a refused Put: %v, want no objects", err)
	}

	small := f.options("NL")
	small.MaxSize = 100 << 10
	s := f.store(small)
	if _, err := s.Put(ctx, "BE", "at-limit.bin", "", io.LimitReader(zeros{}, 100<<10)); err != nil {
		t.Errorf("Put at the limit: %v", err)
	}
	if _, err := s.Put(ctx, "BE", "over.bin", "", io.LimitReader(zeros{}, 100<<10+1)); !errors.Is(err, attach.ErrTooLarge) || !strings.Contains(err.Error(), "102400 bytes") {
		t.Errorf("Put over a limit of 100 KiB = %v, want ErrTooLarge naming 102400 bytes", err)
	}

	for name, c := range map[string]struct{ to, name, mt, field string }{
		"no name":          {"BE", "", "text/plain", "name"},
		"control in name":  {"BE", "a\nb", "text/plain", "name"},
		"bad media type":   {"BE", "a", "not a type", "media_type"},
		"itself":           {"NL", "a", "text/plain", "counterpart"},
		"unknown member":   {"XX", "a", "text/plain", "counterpart"},
		"lower-case ccode": {"be", "a", "text/plain", "counterpart"},
	} {
		_, err := nl.Put(ctx, c.to, c.name, c.mt, strings.NewReader("x"))
		if !errors.Is(err, attach.ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: Put = %v, want ErrInvalid naming %s", name, err, c.field)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestReceiverRestartMidTransfer: the sender stops after some chunks, the receiver takes
// those and stops; the sender sends again, and the restarted receiver completes the
// object from the chunks it had acknowledged and the new ones.
func TestReceiverRestartMidTransfer(t *testing.T) {
	f := startFed(t)
	ctx := ctxT(t)
	plain := randomBytes(t, 3<<20)
	var calls atomic.Int64
	failing := f.options("NL")
	inner := attach.JetStreamPublisher(f.leaves["NL"].js, federation.OutboundStream("NL"))
	failing.Publish = func(ctx context.Context, subject, msgID string, data []byte, hdr nats.Header) error {
		if calls.Add(1) > 5 {
			return errors.New("sender stopped")
		}
		return inner(ctx, subject, msgID, data, hdr)
	}
	nl := f.store(failing)
	ref, err := nl.Put(ctx, "BE", "ledger.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.Send(ctx, "BE", ref); err == nil || !strings.Contains(err.Error(), "chunk 6 of") {
		t.Fatalf("Send with a publisher failing at the 6th chunk = %v, want its error", err)
	}

	beOpts := f.options("BE")
	be := f.store(beOpts)
	r := run(t, be)
	eventually(t, func() error { // the five chunks handled and acknowledged
		ci, err := f.leaves["BE"].js.Consumer(ctx, federation.InboundStream("BE"), "attach_BE")
		if err != nil {
			return err
		}
		if ci.CachedInfo().AckFloor.Consumer < 5 {
			return fmt.Errorf("BE acknowledged %d chunks, want 5", ci.CachedInfo().AckFloor.Consumer)
		}
		return nil
	})
	r.stop(t)
	if ok, err := be.Held(ctx, ref); err != nil || ok {
		t.Fatalf("BE Held with 5 chunks = %v, %v; want false", ok, err)
	}

	nl2 := f.store(f.options("NL"))
	if err := nl2.Send(ctx, "BE", ref); err != nil {
		t.Fatal(err)
	}
	chunks := int((ref.CipherSize + attach.ChunkSize - 1) / attach.ChunkSize)
	eventually(t, func() error {
		if n := len(f.subjects("BE", federation.InboundStream("BE"), attachFilter("NL", "BE"))); n != chunks {
			return fmt.Errorf("BE's inbound stream holds %d chunks, want %d", n, chunks)
		}
		return nil
	})
	if ok, err := be.Held(ctx, ref); err != nil || ok {
		t.Fatalf("BE Held while its receiver is stopped = %v, %v; want false", ok, err)
	}
	be2 := f.store(f.options("BE"))
	run(t, be2)
	eventually(t, func() error {
		if ok, err := be2.Held(ctx, ref); err != nil || !ok {
			return fmt.Errorf("BE holds the attachment: %v, %v", ok, err)
		}
		return nil
	})
	if got, err := readAll(ctx, be2, ref); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("BE Open after the restart: %d bytes, %v", len(got), err)
	}
	if st := be2.Stats(); st.Stored != 1 || st.Corrupt+st.Malformed != 0 {
		t.Errorf("BE stats after the restart %+v, want one stored", st)
	}
}

// TestSendWhileHubDown: Send returns while the hub is away; the attachment arrives once
// it is back.
func TestSendWhileHubDown(t *testing.T) {
	f := startFed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	nl, be := f.store(f.options("NL")), f.store(f.options("BE"))
	run(t, be)
	plain := randomBytes(t, 1<<20+12345)
	ref, err := nl.Put(ctx, "BE", "report.pdf", "application/pdf", bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	f.stopHub()
	if err := nl.Send(ctx, "BE", ref); err != nil {
		t.Fatalf("Send with the hub down: %v", err)
	}
	if ok, err := be.Held(ctx, ref); err != nil || ok {
		t.Fatalf("BE Held with the hub down = %v, %v; want false", ok, err)
	}
	f.startHub()
	f.waitLeafNodes(3)
	// After a hub outage the inbound stream's source may be re-created only after
	// nats-server's timeouts (about 40 s here; docs/transport.md, "Source stalls after a
	// hub outage"), hence a longer bound.
	back := time.Now()
	eventuallyWithin(t, 150*time.Second, func() error {
		if ok, err := be.Held(ctx, ref); err != nil || !ok {
			return fmt.Errorf("BE holds the attachment: %v, %v", ok, err)
		}
		return nil
	})
	t.Logf("BE held the attachment %v after the hub returned", time.Since(back))
	if got, err := readAll(ctx, be, ref); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("BE Open: %d bytes, %v", len(got), err)
	}
}

// TestBadChunks: malformed chunks, an object whose chunks do not hash to its digest and
// an object over the limit are refused and counted; the receiver goes on.
func TestBadChunks(t *testing.T) {
	f := startFed(t)
	ctx := ctxT(t)
	// What BE's receiver refuses goes to the quarantine it is given (the node's, in
	// cixd); recorded here.
	var qmu sync.Mutex
	var quarantined []feed.Quarantined
	bo := f.options("BE")
	bo.Quarantine = func(_ context.Context, qs []feed.Quarantined) error {
		qmu.Lock()
		defer qmu.Unlock()
		quarantined = append(quarantined, qs...)
		return nil
	}
	nl, be := f.store(f.options("NL")), f.store(bo)
	run(t, be)
	js := f.leaves["NL"].js
	pub := func(subject string, data []byte, h map[string]string) {
		t.Helper()
		m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
		for k, v := range h {
			m.Header.Set(k, v)
		}
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(subject)); err != nil {
			t.Fatal(err)
		}
	}
	out := func(id string) string {
		return federation.OutboundSubject("NL", federation.ToMember("BE"), attach.Kind, id)
	}
	headers := func(digest [32]byte, size int64, chunkSize, i, n int) map[string]string {
		return map[string]string{
			attach.HeaderSHA256: hex.EncodeToString(digest[:]), attach.HeaderSize: strconv.FormatInt(size, 10),
			attach.HeaderChunkSize: strconv.Itoa(chunkSize), attach.HeaderChunk: strconv.Itoa(i), attach.HeaderChunks: strconv.Itoa(n),
		}
	}
	chunkID := func(d [32]byte, i int) string { return hex.EncodeToString(d[:24]) + "-" + strconv.Itoa(i) }

	// Malformed: no headers; a length that disagrees; an id that does not match.
	pub(out("junk"), []byte("junk"), nil)
	other := sha256.Sum256([]byte("other"))
	pub(out(chunkID(other, 0)), make([]byte, 10), headers(other, 5000, attach.ChunkSize, 0, 1))
	pub(out(chunkID(other, 1)), make([]byte, 5000), headers(other, 5000, attach.ChunkSize, 0, 1))
	// Corrupt: one chunk whose bytes are not what the digest says.
	claimed := sha256.Sum256([]byte("claimed"))
	pub(out(chunkID(claimed, 0)), randomBytes(t, 5000), headers(claimed, 5000, attach.ChunkSize, 0, 1))
	// Over the limit: 64 MiB announced.
	big := sha256.Sum256([]byte("big"))
	pub(out(chunkID(big, 0)), make([]byte, attach.ChunkSize), headers(big, 64<<20, attach.ChunkSize, 0, 256))
	pub(out(chunkID(big, 1)), make([]byte, attach.ChunkSize), headers(big, 64<<20, attach.ChunkSize, 1, 256))

	plain := randomBytes(t, 700<<10)
	ref, err := nl.Put(ctx, "BE", "ok.bin", "", bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.Send(ctx, "BE", ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if ok, err := be.Held(ctx, ref); err != nil || !ok {
			return fmt.Errorf("BE holds the good attachment: %v, %v", ok, err)
		}
		return nil
	})
	want := attach.Stats{Stored: 1, Malformed: 3, Corrupt: 1, TooLarge: 1}
	st := be.Stats()
	st.Skipped = 0 // chunks of the good object after the one that completed it: timing
	if st != want {
		t.Errorf("BE stats %+v, want %+v", st, want)
	}
	// One quarantine entry per malformed chunk and per refused object, with its reason.
	wantQ := map[string]string{
		out("junk"): "malformed", out(chunkID(other, 0)): "malformed", out(chunkID(other, 1)): "malformed",
		out(chunkID(claimed, 0)): "refused", out(chunkID(big, 0)): "over the limit",
	}
	qmu.Lock()
	gotQ := slices.Clone(quarantined)
	qmu.Unlock()
	if len(gotQ) != len(wantQ) {
		subjects := make([]string, 0, len(gotQ))
		for _, q := range gotQ {
			subjects = append(subjects, q.Subject)
		}
		t.Errorf("quarantined %d chunks, want %d: %v", len(gotQ), len(wantQ), subjects)
	}
	for _, q := range gotQ {
		want, ok := wantQ[q.Subject]
		if !ok || q.Reason != "invalid_content" || !strings.Contains(q.Detail, want) || len(q.Raw) == 0 {
			t.Errorf("quarantined %s (%s: %s, %d bytes); want %q in the detail of invalid_content", q.Subject, q.Reason, q.Detail, len(q.Raw), want)
		}
	}
	if ok, err := be.Held(ctx, attach.Ref{CipherSHA256: claimed, CipherSize: 5000}); err != nil || ok {
		t.Errorf("BE holds the corrupt object: %v, %v", ok, err)
	}
	if got, err := readAll(ctx, be, ref); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("BE Open: %d bytes, %v", len(got), err)
	}
}
