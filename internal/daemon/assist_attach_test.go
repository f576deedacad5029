package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cix-exchange/cix/internal/attach"
	fed "github.com/cix-exchange/cix/internal/federation"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
)

// upload sends file through UploadAttachment in 256 KiB parts and returns the reference.
func upload(t *testing.T, c pb.AssistanceServiceClient, id, name, mediaType string, file []byte) *pb.AttachmentRef {
	t.Helper()
	up, err := c.UploadAttachment(actx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&pb.UploadAttachmentRequest{Part: &pb.UploadAttachmentRequest_Header{Header: &pb.AttachmentHeader{RequestId: id, Name: name, MediaType: mediaType}}}); err != nil {
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
	if ref.GetSize() != int64(len(file)) || ref.GetSha256() != fmt.Sprintf("%x", sha256.Sum256(file)) || ref.GetName() != name {
		t.Fatalf("reference %v, want %d bytes of SHA-256 %x named %s", ref, len(file), sha256.Sum256(file), name)
	}
	return ref
}

// uploadErr uploads size zero bytes and returns the outcome's error.
func uploadErr(t *testing.T, c pb.AssistanceServiceClient, id, name string, size int) error {
	t.Helper()
	up, err := c.UploadAttachment(actx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&pb.UploadAttachmentRequest{Part: &pb.UploadAttachmentRequest_Header{Header: &pb.AttachmentHeader{RequestId: id, Name: name}}}); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 256<<10)
	for sent := 0; sent < size; sent += len(part) {
		if err := up.Send(&pb.UploadAttachmentRequest{Part: &pb.UploadAttachmentRequest_Chunk{Chunk: part[:min(len(part), size-sent)]}}); err != nil {
			break // the server ended the call: CloseAndRecv says why
		}
	}
	_, err = up.CloseAndRecv()
	return err
}

// download reads an attachment through GetAttachment.
func download(ctx context.Context, c pb.AssistanceServiceClient, id, sha string) ([]byte, error) {
	s, err := c.GetAttachment(ctx, &pb.GetAttachmentRequest{RequestId: id, Sha256: sha})
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

// availableAt waits until c shows the attachment sha of request id available.
func availableAt(t *testing.T, who string, c pb.AssistanceServiceClient, id, sha string) {
	t.Helper()
	eventually(t, assistWait, who+" holds attachment "+sha[:12], func() bool {
		r, err := c.GetRequest(actx(t), &pb.GetRequestRequest{RequestId: id})
		if err != nil {
			return false
		}
		for _, a := range r.GetRequest().GetAttachments() {
			if a.GetRef().GetSha256() == sha {
				return a.GetAvailable()
			}
		}
		return false
	})
}

// storeFiles reads every file under dir (a node's data directory: its leaf's JetStream
// store, the attachment store's temporary directory, the index).
func storeFiles(t *testing.T, dir string) [][]byte {
	t.Helper()
	var out [][]byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) { // compacted away meanwhile
			return nil
		}
		out = append(out, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func anyContains(files [][]byte, b []byte) bool {
	for _, f := range files {
		if bytes.Contains(f, b) {
			return true
		}
	}
	return false
}

// plaintextAtRest fails if any 64-byte window of plain starting at a multiple of 64 KiB
// (and the last one) is in a file under dir.
func plaintextAtRest(t *testing.T, who, dir string, plain []byte) {
	t.Helper()
	files := storeFiles(t, dir)
	offs := []int{len(plain) - 64}
	for off := 0; off+64 <= len(plain); off += 64 << 10 {
		offs = append(offs, off)
	}
	for _, off := range offs {
		if anyContains(files, plain[off:off+64]) {
			t.Fatalf("%s's data directory holds plaintext of the attachment (64 bytes at offset %d)", who, off)
		}
	}
}

// The node's own attachment store (internal/attach, wired by the daemon): NL uploads a
// 5 MiB file and references it in its request, BE uploads one and references it in an
// answer item with its own handling code; each side reads the other's file intact, the
// files are encrypted in both leaves' stores, and DE sees nothing.
func TestAssistanceAttachmentsEndToEnd(t *testing.T) {
	f := startFedNet(t)
	nl, be, de := assistClient(f.node("NL")), assistClient(f.node("BE")), assistClient(f.node("DE"))
	rawDE := capture(t, f.rawConn("DE"), "DE")
	ctx := actx(t)

	cr, err := nl.CreateRequest(ctx, &pb.CreateRequestRequest{ClientId: uuid.NewString(), Content: requestContent("BE", pb.Urgency_URGENCY_NORMAL)})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.GetRequest().GetRequestId()
	fileNL := make([]byte, 5<<20+17)
	fileBE := make([]byte, 1<<20+3)
	for _, b := range [][]byte{fileNL, fileBE} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	refNL := upload(t, nl, id, "invoice.pdf", "application/pdf", fileNL)

	// A reference the store does not hold is refused, with its field.
	c := requestContent("BE", pb.Urgency_URGENCY_NORMAL)
	bogus := &pb.AttachmentRef{Name: "x", Size: 1, Sha256: fmt.Sprintf("%x", sha256.Sum256([]byte("x"))), CipherSha256: fmt.Sprintf("%x", sha256.Sum256([]byte("y"))), CipherSize: 1}
	c.Attachments = []*pb.AttachmentRef{refNL, bogus}
	if _, err := nl.UpdateDraft(ctx, &pb.UpdateDraftRequest{RequestId: id, Content: c}); err != nil {
		t.Fatal(err)
	}
	_, err = nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()})
	assertFields(t, err, "content.attachments[1]")
	c.Attachments = []*pb.AttachmentRef{refNL}
	if _, err := nl.UpdateDraft(ctx, &pb.UpdateDraftRequest{RequestId: id, Content: c}); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.SubmitRequest(ctx, &pb.SubmitRequestRequest{RequestId: id, ClientId: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	r := waitState(t, "BE", be, id, pb.RequestState_REQUEST_STATE_DELIVERED)
	if len(r.GetAttachments()) != 1 || r.GetAttachments()[0].GetRef().GetSha256() != refNL.GetSha256() {
		t.Fatalf("BE shows attachments %v, want the one NL referenced", r.GetAttachments())
	}
	if !r.GetAttachments()[0].GetAvailable() {
		// Not held yet: the file is refused until it is.
		_, err := download(ctx, be, id, refNL.GetSha256())
		if err != nil {
			wantCode(t, err, codes.Unavailable)
		}
	}
	availableAt(t, "BE", be, id, refNL.GetSha256())
	got, err := download(ctx, be, id, refNL.GetSha256())
	if err != nil || !bytes.Equal(got, fileNL) {
		t.Fatalf("BE read %d bytes (%v), want the %d NL uploaded", len(got), err, len(fileNL))
	}
	_, err = download(ctx, be, id, bogus.GetSha256())
	wantCode(t, err, codes.NotFound)

	// Over assistance.max_attachment_mb (25 by default), and a bad name: refused, naming
	// the field.
	assertFields(t, uploadErr(t, nl, id, "huge.bin", 25<<20+1), "chunk")
	assertFields(t, uploadErr(t, nl, id, "bad\x01name", 10), "header.name")

	// BE answers with a file in an item of its own handling code.
	for _, call := range []func() error{
		func() error {
			_, err := be.AcknowledgeRequest(ctx, &pb.AcknowledgeRequestRequest{RequestId: id, ClientId: uuid.NewString()})
			return err
		},
		func() error {
			_, err := be.AcceptRequest(ctx, &pb.AcceptRequestRequest{RequestId: id, ClientId: uuid.NewString()})
			return err
		},
	} {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	refBE := upload(t, be, id, "inspection report.png", "image/png", fileBE)
	withFile := item("Inspection report", alertv1.HandlingCode_HANDLING_CODE_H2)
	withFile.Attachments = []*pb.AttachmentRef{refBE}
	if _, err := be.AnswerRequest(ctx, &pb.AnswerRequestRequest{RequestId: id, ClientId: uuid.NewString(), Reply: &pb.Reply{Items: []*pb.ReplyItem{
		item("Company record", alertv1.HandlingCode_HANDLING_CODE_H1), withFile}}}); err != nil {
		t.Fatal(err)
	}
	ans := waitState(t, "NL", nl, id, pb.RequestState_REQUEST_STATE_ANSWERED)
	its := ans.GetReplies()
	if len(its) != 2 || its[1].GetHandling().GetCode() != alertv1.HandlingCode_HANDLING_CODE_H2 || len(its[1].GetAttachments()) != 1 ||
		its[1].GetAttachments()[0].GetSha256() != refBE.GetSha256() || its[0].GetHandling().GetCode() != alertv1.HandlingCode_HANDLING_CODE_H1 {
		t.Fatalf("NL holds reply items %v", its)
	}
	availableAt(t, "NL", nl, id, refBE.GetSha256())
	for _, w := range []struct {
		who  string
		c    pb.AssistanceServiceClient
		sha  string
		want []byte
	}{{"NL reading BE's", nl, refBE.GetSha256(), fileBE}, {"NL reading its own", nl, refNL.GetSha256(), fileNL}, {"BE reading its own", be, refBE.GetSha256(), fileBE}} {
		got, err := download(ctx, w.c, id, w.sha)
		if err != nil || !bytes.Equal(got, w.want) {
			t.Fatalf("%s: %d bytes (%v), want %d identical", w.who, len(got), err, len(w.want))
		}
	}

	// Encrypted at rest. The ciphertext's chunks are in BE's inbound stream; a window of
	// one shows the scan finds what is stored (in both leaves, once flushed).
	js, err := jetstream.New(f.rawConn("BE"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := js.Stream(ctx, fed.InboundStream("BE"))
	if err != nil {
		t.Fatal(err)
	}
	chunk1, err := in.GetLastMsgForSubject(ctx, fed.OutSubjectPrefix+"NL.to.BE."+attach.Kind+"."+refNL.GetCipherSha256()[:48]+"-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"NL", "BE"} {
		eventually(t, assistWait, code+"'s store to show the ciphertext", func() bool {
			return anyContains(storeFiles(t, f.cfgs[code].DataDir), chunk1.Data[1000:1064])
		})
		plaintextAtRest(t, code, f.cfgs[code].DataDir, fileNL)
		plaintextAtRest(t, code, f.cfgs[code].DataDir, fileBE)
	}

	// DE: nothing on its API, its inbound stream, its raw wire or its disk.
	_, err = de.GetRequest(ctx, &pb.GetRequestRequest{RequestId: id})
	wantCode(t, err, codes.NotFound)
	_, err = download(ctx, de, id, refNL.GetSha256())
	wantCode(t, err, codes.NotFound)
	jsDE, err := jetstream.New(f.rawConn("DE"))
	if err != nil {
		t.Fatal(err)
	}
	inDE, err := jsDE.Stream(ctx, fed.InboundStream("DE"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := inDE.Info(ctx, jetstream.WithSubjectFilter(fed.OutSubjectPrefix+"*.*.*.>"))
	if err != nil {
		t.Fatal(err)
	}
	for s := range info.State.Subjects {
		if k := subjectKind(s); k == attach.Kind || k == "assist" {
			t.Fatalf("DE's inbound stream holds %s", s)
		}
	}
	for _, needle := range []string{id, refNL.GetCipherSha256()[:48], refBE.GetCipherSha256()[:48]} {
		if s := rawDE.containing(needle); len(s) > 0 {
			t.Fatalf("DE's account carried %s on %v", needle, s)
		}
	}
	if anyContains(storeFiles(t, f.cfgs["DE"].DataDir), chunk1.Data[1000:1064]) {
		t.Fatal("DE's data directory holds NL's ciphertext")
	}
}

// subjectKind is the kind token of an outbound subject cix.out.<FROM>.<scope...>.<kind>.<id>.
func subjectKind(subject string) string {
	_, _, kind, _, err := fed.ParseOutboundSubject(subject)
	if err != nil {
		return ""
	}
	return kind
}
