package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/cix-exchange/cix/internal/attach"
	"github.com/cix-exchange/cix/internal/daemon"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
)

// fakeWire stands in for the attachment store (internal/attach, built separately): it
// records what each administration holds and what was sent to whom, and delivers sent
// files only when the test says so. The "ciphertext" is the plaintext reversed: this
// checks the service's plumbing (references, Held before available, Send with the
// transition, streaming), not encryption.
type fakeWire struct {
	mu    sync.Mutex
	held  map[string]map[[32]byte][]byte // administration -> cipher digest -> ciphertext
	sent  map[string]map[[32]byte][]byte // in flight to an administration
	sends int
}

func newFakeWire() *fakeWire {
	return &fakeWire{held: map[string]map[[32]byte][]byte{}, sent: map[string]map[[32]byte][]byte{}}
}

// deliver lands everything sent to admin.
func (w *fakeWire) deliver(admin string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range w.sent[admin] {
		if w.held[admin] == nil {
			w.held[admin] = map[[32]byte][]byte{}
		}
		w.held[admin][k] = v
	}
	w.sent[admin] = nil
}

type fakeStore struct {
	admin string
	w     *fakeWire
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

func (s fakeStore) Put(_ context.Context, counterpart, name, mediaType string, r io.Reader) (attach.Ref, error) {
	pt, err := io.ReadAll(r)
	if err != nil {
		return attach.Ref{}, err
	}
	ct := reverse(pt)
	ref := attach.Ref{Name: name, MediaType: mediaType, SHA256: sha256.Sum256(pt), Size: int64(len(pt)), CipherSHA256: sha256.Sum256(ct), CipherSize: int64(len(ct))}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if s.w.held[s.admin] == nil {
		s.w.held[s.admin] = map[[32]byte][]byte{}
	}
	s.w.held[s.admin][ref.CipherSHA256] = ct
	return ref, nil
}

func (s fakeStore) Send(_ context.Context, counterpart string, ref attach.Ref) error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	ct, ok := s.w.held[s.admin][ref.CipherSHA256]
	if !ok {
		return errors.New("not held")
	}
	if s.w.sent[counterpart] == nil {
		s.w.sent[counterpart] = map[[32]byte][]byte{}
	}
	s.w.sent[counterpart][ref.CipherSHA256] = ct
	s.w.sends++
	return nil
}

func (s fakeStore) Held(_ context.Context, ref attach.Ref) (bool, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	ct, ok := s.w.held[s.admin][ref.CipherSHA256]
	return ok && sha256.Sum256(ct) == ref.CipherSHA256, nil
}

func (s fakeStore) Open(_ context.Context, ref attach.Ref) (io.ReadCloser, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	ct, ok := s.w.held[s.admin][ref.CipherSHA256]
	if !ok {
		return nil, fmt.Errorf("not held")
	}
	return io.NopCloser(bytes.NewReader(reverse(ct))), nil
}

func TestAssistanceAttachmentsThroughTheStoreInterface(t *testing.T) {
	w := newFakeWire()
	f := startFedNetWith(t, func(code string) daemon.Options { return daemon.Options{Attachments: fakeStore{admin: code, w: w}} })
	nl, be := assistClient(f.node("NL")), assistClient(f.node("BE"))
	ctx := actx(t)
	cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.GetRequest().GetRequestId()
	file := make([]byte, 3<<20+17)
	if _, err := rand.Read(file); err != nil {
		t.Fatal(err)
	}
	up, err := nl.UploadAttachment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&pb.UploadAttachmentRequest{Part: &pb.UploadAttachmentRequest_Header{Header: &pb.AttachmentHeader{RequestId: id, Name: "invoice.pdf", MediaType: "application/pdf"}}}); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(file); off += 256 << 10 {
		if err := up.Send(&pb.UploadAttachmentRequest{Part: &pb.UploadAttachmentRequest_Chunk{Chunk: file[off:min(off+256<<10, len(file))]}}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := up.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	ref := res.GetRef()
	if ref.GetSize() != int64(len(file)) || ref.GetSha256() != fmt.Sprintf("%x", sha256.Sum256(file)) {
		t.Fatalf("reference %v", ref)
	}
	// A reference the store does not hold is refused, with its field.
	c := requestContent("BE", pb.Urgency_URGENCY_NORMAL)
	bogus := &pb.AttachmentRef{Name: "x", Size: 1, Sha256: fmt.Sprintf("%x", sha256.Sum256([]byte("x"))), CipherSha256: fmt.Sprintf("%x", sha256.Sum256([]byte("y"))), CipherSize: 1}
	c.Attachments = []*pb.AttachmentRef{ref, bogus}
	if _, err := nl.UpdateDraft(ctx, &pb.UpdateDraftRequest{RequestId: id, Content: c}); err != nil {
		t.Fatal(err)
	}
	_, err = nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()})
	assertFields(t, err, "content.attachments[1]")
	c.Attachments = []*pb.AttachmentRef{ref}
	if _, err := nl.UpdateDraft(ctx, &pb.UpdateDraftRequest{RequestId: id, Content: c}); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	r := waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	if len(r.GetAttachments()) != 1 || r.GetAttachments()[0].GetAvailable() {
		t.Fatalf("BE shows %v before the file arrived, want it referenced and not available", r.GetAttachments())
	}
	get := func() ([]byte, error) {
		s, err := be.GetAttachment(ctx, &pb.GetAttachmentRequest{RequestId: id, Sha256: ref.GetSha256()})
		if err != nil {
			return nil, err
		}
		var out []byte
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, m.GetChunk()...)
		}
	}
	_, err = get()
	wantCode(t, err, codes.Unavailable)
	w.mu.Lock()
	sends := w.sends
	w.mu.Unlock()
	if sends == 0 {
		t.Fatal("NL did not send the attachment with its transition")
	}
	w.deliver("BE")
	r = waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	if !r.GetAttachments()[0].GetAvailable() {
		t.Fatalf("BE shows %v once the file is held", r.GetAttachments())
	}
	got, err := get()
	if err != nil || !bytes.Equal(got, file) {
		t.Fatalf("BE read %d bytes (%v), want the %d uploaded", len(got), err, len(file))
	}
	_, err = be.GetAttachment(ctx, &pb.GetAttachmentRequest{RequestId: id, Sha256: bogus.GetSha256()})
	if err == nil {
		s, _ := be.GetAttachment(ctx, &pb.GetAttachmentRequest{RequestId: id, Sha256: bogus.GetSha256()})
		_, err = s.Recv()
	}
	wantCode(t, err, codes.NotFound)
}
