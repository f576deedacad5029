package revocation_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	trustv1 "github.com/cix-exchange/cix/internal/gen/cix/trust/v1"
	"github.com/cix-exchange/cix/internal/revocation"
	"github.com/cix-exchange/cix/internal/trust"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func devSeal(t testing.TB, admin string) (*trust.SigningKey, *trust.DevKeystore) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), admin)
	ks, err := trust.OpenDevKeystore(dir, admin, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ks.Seal()
	if err != nil {
		t.Fatal(err)
	}
	return s, ks
}

// TestCheckNamesTheWrongField: every malformed notice is refused by Make with the field
// that is wrong, and nothing is sealed.
func TestCheckNamesTheWrongField(t *testing.T) {
	seal, _ := devSeal(t, "NL")
	ok := func() *trustv1.Revocation {
		return &trustv1.Revocation{
			Administration: "NL", Reason: trustv1.RevocationReason_REVOCATION_REASON_KEY_COMPROMISE,
			Target: &trustv1.Revocation_NodeKey{NodeKey: &trustv1.NodeKey{Node: "n1", KeyId: strings.Repeat("0f", 32)}},
		}
	}
	if _, err := revocation.Make(ok(), seal, time.Now()); err != nil {
		t.Fatalf("valid notice: %v", err)
	}
	for field, mutate := range map[string]func(*trustv1.Revocation){
		"id":              func(n *trustv1.Revocation) { n.Id = "not-a-uuid" },
		"reason":          func(n *trustv1.Revocation) { n.Reason = 0 },
		"comment":         func(n *trustv1.Revocation) { n.Comment = strings.Repeat("x", 1001) },
		"administration":  func(n *trustv1.Revocation) { n.Administration = "nl" },
		"target":          func(n *trustv1.Revocation) { n.Target = nil },
		"node_key.key_id": func(n *trustv1.Revocation) { n.GetNodeKey().KeyId = "" },
		"node_key":        func(n *trustv1.Revocation) { n.GetNodeKey().KeyId = "xyz" },
		"node": func(n *trustv1.Revocation) {
			n.Target = &trustv1.Revocation_Node{Node: &trustv1.NodeCertificates{Node: "Bad Name"}}
		},
		"seal.min_version": func(n *trustv1.Revocation) {
			n.Target = &trustv1.Revocation_Seal{Seal: &trustv1.SealRetirement{MinVersion: 1}}
		},
		"effective_at": func(n *trustv1.Revocation) { n.EffectiveAt = &timestamppb.Timestamp{Seconds: -1 << 62} },
	} {
		n := ok()
		mutate(n)
		_, err := revocation.Make(n, seal, time.Now())
		if fe, isField := err.(*revocation.FieldError); !isField || fe.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
}

// FuzzVerifyNotice: any bytes are either refused with a reason or a notice sealed by
// the seal of the administration it revokes for.
func FuzzVerifyNotice(f *testing.F) {
	seal, ks := devSeal(f, "NL")
	v, err := trust.NewVerifier(nil, ks.Anchor())
	if err != nil {
		f.Fatal(err)
	}
	raw, err := revocation.Make(&trustv1.Revocation{
		Administration: "NL", Reason: trustv1.RevocationReason_REVOCATION_REASON_SUPERSEDED,
		Target: &trustv1.Revocation_Node{Node: &trustv1.NodeCertificates{Node: "n1"}},
	}, seal, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte{})
	f.Add([]byte("\x0a\x02hi"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := revocation.Verify(v, raw, time.Now())
		if err != nil {
			if envelope.ReasonOf(err) == 0 {
				t.Fatalf("refusal without reason: %v", err)
			}
			return
		}
		if o.Revoked.Administration != o.Seal.Administration || o.Seal.SealVersion == 0 || o.Revoked.Validate() != nil {
			t.Fatalf("accepted %+v sealed by %+v", o.Revoked, o.Seal)
		}
	})
}
