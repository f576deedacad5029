package trust

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// sealURIPrefix starts the URI SAN of an administration seal certificate:
// urn:cix:seal:<ADMIN>:v<N>, N being the seal's key version.
const sealURIPrefix = "urn:cix:seal:"

// SealURI returns the URI SAN naming version v of admin's seal.
func SealURI(admin string, v int) *url.URL {
	u, _ := url.Parse(sealURIPrefix + admin + ":v" + strconv.Itoa(v))
	return u
}

// SealKeyID is the key id a seal signature names: seal:<ADMIN>:v<N>. Unlike node key ids
// it is not a certificate hash: it names the key version, which outlives the seal's
// certificates.
func SealKeyID(admin string, v int) string { return "seal:" + admin + ":v" + strconv.Itoa(v) }

// ParseSealKeyID splits a seal key id into administration and version.
func ParseSealKeyID(keyid string) (admin string, version int, err error) {
	rest, ok := strings.CutPrefix(keyid, "seal:")
	if ok {
		var v string
		admin, v, ok = strings.Cut(rest, ":v")
		if ok && adminRE.MatchString(admin) {
			if version, err = strconv.Atoi(v); err == nil && version > 0 && strconv.Itoa(version) == v {
				return admin, version, nil
			}
		}
	}
	return "", 0, fmt.Errorf("malformed seal key id %q", keyid)
}

// sealIdentity extracts administration and version from a seal certificate; ok is false
// when c is not a seal certificate.
func sealIdentity(c *x509.Certificate) (admin string, version int, ok bool, err error) {
	for _, u := range c.URIs {
		s := u.String()
		rest, found := strings.CutPrefix(s, sealURIPrefix)
		if !found {
			continue
		}
		admin, version, err := ParseSealKeyID("seal:" + rest)
		if err != nil {
			return "", 0, true, fmt.Errorf("malformed seal URI %q", s)
		}
		return admin, version, true, nil
	}
	return "", 0, false, nil
}
