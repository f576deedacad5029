package attach

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats.go"
)

// Kind is the subject kind of attachment chunks:
// cix.out.<FROM>.to.<TO>.attach.<chunk id>.
const Kind = "attach"

// ChunkSize is the ciphertext bytes per chunk on the wire, well below the outbound
// stream's message limit (1 MiB) and the leaf's max_payload (2 MB).
const ChunkSize = 256 << 10

// DefaultMaxSize is the largest attachment (plaintext) accepted unless Options say
// otherwise.
const DefaultMaxSize = 32 << 20

// Headers of a chunk. Every chunk carries the whole object's identity, so that each can
// be checked on its own.
const (
	// HeaderSHA256 is the SHA-256 of the whole ciphertext, in lower-case hex.
	HeaderSHA256 = "Cix-Attach-Sha256"
	// HeaderSize is the ciphertext's length in bytes.
	HeaderSize = "Cix-Attach-Size"
	// HeaderChunkSize is the length of every chunk but the last.
	HeaderChunkSize = "Cix-Attach-Chunk-Size"
	// HeaderChunk is the chunk's index from 0, and HeaderChunks the number of chunks.
	HeaderChunk  = "Cix-Attach-Chunk"
	HeaderChunks = "Cix-Attach-Chunks"
)

// Bounds on a declared chunk size: a receiver refuses others.
const (
	minChunkSize = 1 << 10
	maxChunkSize = 1<<20 - 4<<10
)

// objectName is the object store name of a ciphertext: its SHA-256 in hex.
func objectName(cipher [32]byte) string { return hex.EncodeToString(cipher[:]) }

// objectDigest is the object store's form of a SHA-256 digest (ObjectInfo.Digest).
func objectDigest(sum [32]byte) string {
	return "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:])
}

// chunkID is the subject id of chunk i of a ciphertext: the first 24 bytes of its
// SHA-256 in hex, '-', the index (at most 64 characters, one subject token). The full
// digest travels in the header and must match.
func chunkID(cipher [32]byte, i int) string {
	return hex.EncodeToString(cipher[:24]) + "-" + strconv.Itoa(i)
}

// chunkSubject is the subject of chunk i of a ciphertext sent by from to to.
func chunkSubject(from, to string, cipher [32]byte, i int) string {
	return federation.OutboundSubject(from, federation.ToMember(to), Kind, chunkID(cipher, i))
}

// chunkCount is the number of chunks of a ciphertext of size bytes.
func chunkCount(size int64, chunk int) int {
	if size <= 0 {
		return 0
	}
	return int((size + int64(chunk) - 1) / int64(chunk))
}

// chunkLen is the length of chunk i.
func chunkLen(size int64, chunk, i int) int {
	return int(min(int64(chunk), size-int64(i)*int64(chunk)))
}

// chunk is one chunk as its headers describe it.
type chunk struct {
	from      string
	cipher    [32]byte
	size      int64
	chunkSize int
	index     int
	count     int
}

// header renders the chunk's headers.
func (c chunk) header() nats.Header {
	h := nats.Header{}
	h.Set(HeaderSHA256, hex.EncodeToString(c.cipher[:]))
	h.Set(HeaderSize, strconv.FormatInt(c.size, 10))
	h.Set(HeaderChunkSize, strconv.Itoa(c.chunkSize))
	h.Set(HeaderChunk, strconv.Itoa(c.index))
	h.Set(HeaderChunks, strconv.Itoa(c.count))
	return h
}

// sameObject reports whether c and o describe the same object with the same chunking.
func (c chunk) sameObject(o chunk) bool {
	return c.from == o.from && c.cipher == o.cipher && c.size == o.size && c.chunkSize == o.chunkSize && c.count == o.count
}

// parseChunk checks a received chunk addressed to admin: the subject's shape, origin and
// scope, the headers, the id against the headers, and the data's length. It does not
// check the data: only the whole ciphertext has a digest.
func parseChunk(admin, subject string, h nats.Header, data []byte) (chunk, error) {
	origin, scope, kind, id, err := federation.ParseOutboundSubject(subject)
	if err != nil {
		return chunk{}, err
	}
	if kind != Kind {
		return chunk{}, fmt.Errorf("subject kind %q, want %q", kind, Kind)
	}
	if scope != federation.ToMember(admin) || origin == admin {
		return chunk{}, fmt.Errorf("scope %s from %s is not addressed to %s", scope, origin, admin)
	}
	c := chunk{from: origin}
	digest, err := hex.DecodeString(h.Get(HeaderSHA256))
	if err != nil || len(digest) != sha256.Size {
		return chunk{}, fmt.Errorf("header %s: want the ciphertext's SHA-256 in hex", HeaderSHA256)
	}
	copy(c.cipher[:], digest)
	if c.size, err = strconv.ParseInt(h.Get(HeaderSize), 10, 64); err != nil || c.size <= 0 {
		return chunk{}, fmt.Errorf("header %s: want a positive size", HeaderSize)
	}
	if c.chunkSize, err = strconv.Atoi(h.Get(HeaderChunkSize)); err != nil || c.chunkSize < minChunkSize || c.chunkSize > maxChunkSize {
		return chunk{}, fmt.Errorf("header %s: want %d to %d", HeaderChunkSize, minChunkSize, maxChunkSize)
	}
	if c.count, err = strconv.Atoi(h.Get(HeaderChunks)); err != nil || c.count != chunkCount(c.size, c.chunkSize) {
		return chunk{}, fmt.Errorf("header %s: want %d chunks of %d for %d bytes", HeaderChunks, chunkCount(c.size, c.chunkSize), c.chunkSize, c.size)
	}
	if c.index, err = strconv.Atoi(h.Get(HeaderChunk)); err != nil || c.index < 0 || c.index >= c.count {
		return chunk{}, fmt.Errorf("header %s: want 0 to %d", HeaderChunk, c.count-1)
	}
	if want := chunkID(c.cipher, c.index); id != want {
		return chunk{}, fmt.Errorf("chunk id %q does not match the headers (want %q)", clip(id), want)
	}
	if want := chunkLen(c.size, c.chunkSize, c.index); len(data) != want {
		return chunk{}, fmt.Errorf("chunk %d of %d has %d bytes, want %d", c.index, c.count, len(data), want)
	}
	return c, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// errMalformed marks a chunk that fails parseChunk.
var errMalformed = errors.New("malformed attachment chunk")
