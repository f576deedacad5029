package sealed

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestEncryptToSeveralRecipients(t *testing.T) {
	a, _ := Generate()
	b, _ := Generate()
	c, _ := Generate()
	ct, err := Encrypt([]byte("secret alert"), a.Recipient(), b.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*age.X25519Identity{a, b} {
		pt, err := Decrypt(ct, id, 1<<20)
		if err != nil || string(pt) != "secret alert" {
			t.Fatalf("recipient: %q, %v", pt, err)
		}
	}
	if _, err := Decrypt(ct, c, 1<<20); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("non-recipient: %v, want ErrNotRecipient", err)
	}
	// The stanzas do not name the recipients.
	for _, id := range []*age.X25519Identity{a, b} {
		if strings.Contains(string(ct), id.Recipient().String()) {
			t.Error("ciphertext names a recipient")
		}
	}
	if _, err := Decrypt(ct, a, 5); err == nil {
		t.Error("limit not enforced")
	}
	ct[len(ct)-1] ^= 1
	if _, err := Decrypt(ct, a, 1<<20); err == nil || errors.Is(err, ErrNotRecipient) {
		t.Errorf("tampered: %v", err)
	}
}

func TestIdentityFile(t *testing.T) {
	id, _ := Generate()
	p := IdentityFile(filepath.Join(t.TempDir(), "keys"))
	if err := WriteFile(p, id); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, id); err == nil {
		t.Error("an existing identity was replaced")
	}
	got, err := ReadFile(p)
	if err != nil || got.String() != id.String() {
		t.Fatalf("read back: %v", err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("world-readable identity: %v", err)
	}
	if _, err := ParseIdentity("AGE-SECRET-KEY-1NOTAKEY"); err == nil {
		t.Error("bad identity parsed")
	}
	if _, err := ParseRecipient(id.Recipient().String()); err != nil {
		t.Error(err)
	}
}
