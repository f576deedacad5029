package node

import (
	"testing"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
)

// The cache answers only for the same position with the same bytes: a position that
// holds other bytes (a feed reset) and a position that took its slot are decoded anew.
func TestDecodedCache(t *testing.T) {
	var c decodedCache
	raw := []byte("envelope at 7")
	env, a := &envelopev1.Envelope{PayloadType: "t"}, &alertv1.Alert{Id: "a7"}
	if _, _, ok := c.get(7, raw); ok {
		t.Fatal("empty cache answered")
	}
	c.put(7, raw, env, a)
	gotEnv, gotA, ok := c.get(7, []byte("envelope at 7"))
	if !ok || gotEnv != env || gotA != a {
		t.Fatalf("get(7) = %v, %v, %v; want the decoding put", gotEnv, gotA, ok)
	}
	if _, _, ok := c.get(7, []byte("other bytes at 7")); ok {
		t.Fatal("answered for other bytes at the same position")
	}
	if _, _, ok := c.get(7+decodedSize, raw); ok {
		t.Fatal("answered for another position of the same slot")
	}
	c.put(7+decodedSize, raw, env, a)
	if _, _, ok := c.get(7, raw); ok {
		t.Fatal("position 7 still answered after its slot was taken")
	}
}
