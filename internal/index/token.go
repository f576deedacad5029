package index

import (
	"encoding/base64"
	"encoding/binary"
	"errors"

	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
)

// pageToken is where the next page starts: after the group (key, grp) in the order of
// sort, among the groups that existed when the first page was served (first received at
// or before snap). hash binds it to the selection and order it was made for. Tokens are
// not secret: a forged one only moves where a page starts.
type pageToken struct {
	sort      searchv1.SortField
	ascending bool
	hash      uint64
	snap      uint64
	key       int64
	grp       int64
}

const tokenVersion = 1

var errBadToken = errors.New("not a token from a previous page")

func (t pageToken) encode() string {
	b := []byte{tokenVersion, byte(t.sort), 0}
	if t.ascending {
		b[2] = 1
	}
	b = binary.BigEndian.AppendUint64(b, t.hash)
	b = binary.AppendUvarint(b, t.snap)
	b = binary.AppendVarint(b, t.key)
	b = binary.AppendVarint(b, t.grp)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (pageToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 11 || b[0] != tokenVersion || b[2] > 1 {
		return pageToken{}, errBadToken
	}
	t := pageToken{sort: searchv1.SortField(b[1]), ascending: b[2] == 1, hash: binary.BigEndian.Uint64(b[3:11])}
	if _, ok := searchv1.SortField_name[int32(t.sort)]; !ok {
		return pageToken{}, errBadToken
	}
	b = b[11:]
	var n int
	if t.snap, n = binary.Uvarint(b); n <= 0 {
		return pageToken{}, errBadToken
	}
	b = b[n:]
	if t.key, n = binary.Varint(b); n <= 0 {
		return pageToken{}, errBadToken
	}
	b = b[n:]
	if t.grp, n = binary.Varint(b); n <= 0 || n != len(b) {
		return pageToken{}, errBadToken
	}
	return t, nil
}
