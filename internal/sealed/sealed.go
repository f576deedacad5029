// Package sealed encrypts alerts to the administrations of their audience with age
// (age-encryption.org/v1) X25519 keys, and holds those keys.
//
// Every member publishes its recipient ("age1...") in the federation manifest; the
// identity ("AGE-SECRET-KEY-1...") stays with the administration's nodes: a file of
// mode 0600 with the dev keystore, Vault KV with the vault keystore.
//
// age's X25519 stanzas carry an ephemeral share and a wrapped file key, not the
// recipient's public key, so a ciphertext shows how many recipients it has but not who
// they are.
package sealed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// ErrNotRecipient is returned by Decrypt when the ciphertext is not encrypted to the
// identity.
var ErrNotRecipient = errors.New("not encrypted to this identity")

// ParseRecipient parses a member's published recipient, "age1...".
func ParseRecipient(s string) (*age.X25519Recipient, error) {
	return age.ParseX25519Recipient(s)
}

// ParseIdentity parses an identity, "AGE-SECRET-KEY-1..." (surrounding space and
// comment lines starting with '#' are ignored, as in age key files).
func ParseIdentity(s string) (*age.X25519Identity, error) {
	var key string
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if key != "" {
			return nil, errors.New("age identity: more than one key")
		}
		key = line
	}
	id, err := age.ParseX25519Identity(key)
	if err != nil {
		return nil, fmt.Errorf("age identity: %w", err) // age's message does not include the key
	}
	return id, nil
}

// Generate returns a new identity.
func Generate() (*age.X25519Identity, error) { return age.GenerateX25519Identity() }

// Format renders id as an age key file: a comment with the recipient, then the key.
func Format(id *age.X25519Identity) []byte {
	return fmt.Appendf(nil, "# public key: %s\n%s\n", id.Recipient(), id)
}

// IdentityFile is the identity's file under a dev keystore directory.
func IdentityFile(keysDir string) string { return filepath.Join(keysDir, "age.key") }

// WriteFile writes id to path with mode 0600, refusing to replace an existing file.
func WriteFile(path string, id *age.X25519Identity) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write age identity: %w", err)
	}
	if _, err := f.Write(Format(id)); err != nil {
		f.Close()
		return fmt.Errorf("write age identity: %w", err)
	}
	return f.Close()
}

// ReadFile reads an identity from path, refusing a file others can read.
func ReadFile(path string) (*age.X25519Identity, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("age identity: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("age identity %s: mode %v, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("age identity: %w", err)
	}
	id, err := ParseIdentity(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// Encrypt encrypts plaintext to every recipient (binary age format).
func Encrypt(plaintext []byte, to ...age.Recipient) ([]byte, error) {
	if len(to) == 0 {
		return nil, errors.New("encrypt: no recipient")
	}
	var buf bytes.Buffer
	buf.Grow(len(plaintext) + 200*len(to) + 64)
	w, err := age.Encrypt(&buf, to...)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// Decrypt decrypts ciphertext with id, reading at most limit bytes of plaintext. It
// returns ErrNotRecipient (wrapped) when no stanza is for id.
func Decrypt(ciphertext []byte, id age.Identity, limit int64) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ciphertext), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("%w: %v", ErrNotRecipient, err)
		}
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("decrypt: plaintext exceeds %d bytes", limit)
	}
	return b, nil
}
