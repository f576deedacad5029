package api

import (
	"testing"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestRequestCodec: a request within the limits decodes as usual (unknown fields kept);
// one that does not is left empty and answered InvalidArgument naming the field; a
// client cannot forge the refusal, whose token it does not know.
func TestRequestCodec(t *testing.T) {
	c := newRequestCodec()
	decode := func(b []byte) (*nodev1.GetRequest, error) {
		m := &nodev1.GetRequest{}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, m); err != nil {
			t.Fatalf("the codec returned %v: grpc-go would answer Internal", err)
		}
		return m, c.refusal(m)
	}
	good, _ := proto.Marshal(&nodev1.GetRequest{Id: "x"})
	forged := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), good...), refusalField, protowire.BytesType), []byte("0123456789abcdef\x00id\x00forged"))
	for _, b := range [][]byte{good, forged} {
		if m, err := decode(b); err != nil || m.GetId() != "x" {
			t.Fatalf("%q: %v, %v", b, m, err)
		}
	}
	bad := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff")
	m, err := decode(bad)
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || len(st.Details()) != 1 || st.Details()[0].(*errdetails.BadRequest).GetFieldViolations()[0].GetField() != "id" {
		t.Fatalf("%v, want InvalidArgument naming id", err)
	}
	if m.GetId() != "" {
		t.Fatal("the refused request kept a value")
	}
	t.Log(err)
}
