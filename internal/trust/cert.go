package trust

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// nodeURIPrefix starts the URI SAN of a node certificate: urn:cix:node:<ADMIN>:<node>.
const nodeURIPrefix = "urn:cix:node:"

var (
	adminRE = regexp.MustCompile(`^[A-Z]{2}$`)
	nodeRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// hostRE matches DNS host names: dot-separated labels of lower-case letters, digits
	// and inner hyphens.
	hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// ValidAdministration reports whether s is an ISO 3166-1 alpha-2 code in upper case.
func ValidAdministration(s string) bool { return adminRE.MatchString(s) }

// ValidNodeName reports whether name can name a node: lower-case letters, digits and
// hyphens, at most 63 characters, starting with a letter or digit.
func ValidNodeName(name string) bool { return nodeRE.MatchString(name) }

// ValidHost reports whether h can name a TLS server: an IP address, or a DNS host name
// in lower case without wildcard.
func ValidHost(h string) bool { return net.ParseIP(h) != nil || hostRE.MatchString(h) }

// NodeURI returns the URI SAN naming node of admin.
func NodeURI(admin, node string) *url.URL {
	u, _ := url.Parse(nodeURIPrefix + admin + ":" + node)
	return u
}

// Principal is a verified signer.
type Principal struct {
	// Administration certified by the chain (ISO 3166-1 alpha-2).
	Administration string
	// Node named by the leaf certificate; empty for a seal.
	Node string
	// SealVersion is the administration seal's key version when the leaf certificate is
	// a seal certificate, 0 for a node key.
	SealVersion int
	// KeyID is the hex SHA-256 of the leaf certificate DER.
	KeyID string
	// NotAfter is the end of the leaf certificate's validity.
	NotAfter time.Time
}

// Name is "<ADMIN>/<node>" for a node key and "seal:<ADMIN>:v<N>" for a seal.
func (p Principal) Name() string {
	if p.SealVersion != 0 {
		return SealKeyID(p.Administration, p.SealVersion)
	}
	return p.Administration + "/" + p.Node
}

// KeyID returns the key id of a certificate: the lower-case hex SHA-256 of its DER.
func KeyID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// nodeIdentity extracts administration and node from a node certificate.
func nodeIdentity(c *x509.Certificate) (admin, node string, err error) {
	for _, u := range c.URIs {
		s := u.String()
		if !strings.HasPrefix(s, nodeURIPrefix) {
			continue
		}
		admin, node, ok := strings.Cut(strings.TrimPrefix(s, nodeURIPrefix), ":")
		if !ok || !adminRE.MatchString(admin) || !ValidNodeName(node) {
			return "", "", fmt.Errorf("malformed node URI %q", s)
		}
		return admin, node, nil
	}
	return "", "", errors.New("certificate names no cix node")
}

// AnchorAdministration returns the administration of a trust anchor from its subject,
// or why the certificate is not a trust anchor.
func AnchorAdministration(c *x509.Certificate) (string, error) { return anchorAdministration(c) }

// anchorAdministration returns the administration of a trust anchor from its subject.
func anchorAdministration(c *x509.Certificate) (string, error) {
	if !c.IsCA {
		return "", errors.New("trust anchor is not a CA certificate")
	}
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		return "", errors.New("trust anchor key is not ed25519")
	}
	if len(c.Subject.Country) != 1 || !adminRE.MatchString(c.Subject.Country[0]) {
		return "", errors.New("trust anchor subject has no single ISO 3166 country")
	}
	return c.Subject.Country[0], nil
}

// ParseCertificatesPEM parses every CERTIFICATE block of a PEM file.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// LoadAnchors reads trust anchors from PEM files.
func LoadAnchors(paths ...string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read trust anchors: %w", err)
		}
		cs, err := ParseCertificatesPEM(b)
		if err != nil {
			return nil, fmt.Errorf("trust anchors %s: %w", p, err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

// EncodePEM encodes DER certificates as PEM.
func EncodePEM(ders ...[]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}
