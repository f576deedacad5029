package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Role is what a client of a node may do. It is certified in the client's TLS
// certificate, never claimed by the client.
type Role string

// Client roles.
const (
	// RolePublisher: a national system pushing alerts.
	RolePublisher Role = "publisher"
	// RoleAnalyst: a person or tool reading alerts.
	RoleAnalyst Role = "analyst"
	// RoleAssistanceOfficer: a contact point for mutual assistance requests.
	RoleAssistanceOfficer Role = "assistance-officer"
	// RoleAdmin: the node's operators.
	RoleAdmin Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RolePublisher, RoleAnalyst, RoleAssistanceOfficer, RoleAdmin}

// ValidRole reports whether r is a known role.
func ValidRole(r Role) bool {
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// clientURIPrefix starts the URI SAN of a client certificate:
// urn:cix:client:<ADMIN>:<role>:<name>.
const clientURIPrefix = "urn:cix:client:"

// ClientURI returns the URI SAN naming a client of admin with a role.
func ClientURI(admin string, role Role, name string) *url.URL {
	u, _ := url.Parse(clientURIPrefix + admin + ":" + string(role) + ":" + name)
	return u
}

// ClientIdentity is the certified identity of a gRPC client.
type ClientIdentity struct {
	Administration string
	Role           Role
	Name           string
}

// ParseClientIdentity reads administration, role and name from a client certificate's
// URI SAN. The caller must have verified the certificate's chain.
func ParseClientIdentity(c *x509.Certificate) (ClientIdentity, error) {
	for _, u := range c.URIs {
		s := u.String()
		rest, ok := strings.CutPrefix(s, clientURIPrefix)
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) != 3 || !adminRE.MatchString(parts[0]) || !ValidRole(Role(parts[1])) || !ValidNodeName(parts[2]) {
			return ClientIdentity{}, fmt.Errorf("malformed client URI %q", s)
		}
		return ClientIdentity{Administration: parts[0], Role: Role(parts[1]), Name: parts[2]}, nil
	}
	return ClientIdentity{}, errors.New("certificate names no cix client")
}
