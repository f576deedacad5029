// Package attach holds the attachments of mutual assistance messages: files (documents,
// images) encrypted to the counterpart administration and to the sender's own
// administration, stored in a JetStream object store in the administration's own domain,
// sent to the counterpart over the bilateral scope in chunks, and referenced from the
// signed assistance message by the digests and sizes of the plaintext and of the
// ciphertext. Nothing here is signed: the signed reference is what binds an attachment to
// its sender.
package attach

import (
	"context"
	"io"
)

// Ref identifies one attachment. The assistance message that carries it is signed, so a
// receiver trusts the file only once its bytes hash to the reference's digests.
type Ref struct {
	// Name is the file name the sender gave (informative, never used as a path).
	Name string
	// MediaType is the sender's media type, such as "application/pdf".
	MediaType string
	// SHA256 is the SHA-256 of the plaintext, and Size its length in bytes.
	SHA256 [32]byte
	Size   int64
	// CipherSHA256 is the SHA-256 of the stored ciphertext (an age file), and CipherSize
	// its length: the object's identity in the object store and on the wire.
	CipherSHA256 [32]byte
	CipherSize   int64
}

// Attachments is what the assistance service needs from the attachment store.
type Attachments interface {
	// Put reads a file, encrypts it to the counterpart administration and to this
	// administration, stores the ciphertext in the object store and returns its
	// reference. It refuses a file larger than the configured limit.
	Put(ctx context.Context, counterpart, name, mediaType string, r io.Reader) (Ref, error)
	// Send publishes the stored ciphertext of ref to the counterpart over the bilateral
	// scope, chunk by chunk, idempotently (sending again publishes nothing new).
	Send(ctx context.Context, counterpart string, ref Ref) error
	// Held reports whether the object store holds ref's ciphertext, complete and
	// matching its digest (received from the counterpart, or put here).
	Held(ctx context.Context, ref Ref) (bool, error)
	// Open returns the decrypted file; reading it to the end fails unless the plaintext
	// matches ref's digest and size.
	Open(ctx context.Context, ref Ref) (io.ReadCloser, error)
}
