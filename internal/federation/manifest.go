package federation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/sealed"
	"github.com/cix-exchange/cix/internal/trust"
	"github.com/nats-io/nkeys"
	"gopkg.in/yaml.v3"
)

// Manifest is the federation manifest: who the members are, which groups exist, and
// (for production) where the hub listens. The hub configuration, each administration's
// leaf configuration and the streams a node creates are all derived from it.
type Manifest struct {
	// Federation names the federation: letters, digits, hyphens.
	Federation string `yaml:"federation"`
	// Members are the administrations, one per ISO 3166-1 alpha-2 code.
	Members []Member `yaml:"members"`
	// Groups are regions and operation closed user groups.
	Groups []Group `yaml:"groups"`
	// Hub describes the production hub; optional (tests and the CLI give the listen
	// addresses as options).
	Hub *Hub `yaml:"hub"`
}

// Member is one administration.
type Member struct {
	// Code is the administration's ISO 3166-1 alpha-2 code in upper case, e.g. "NL". It is
	// the administration's account at the hub and the origin token of its subjects.
	Code string `yaml:"code"`
	// Name is the administration's name for people.
	Name string `yaml:"name"`
	// Nodes are the names of the administration's cix nodes.
	Nodes []string `yaml:"nodes"`
	// Domain is the JetStream domain of the administration's leaf server; it defaults to
	// the code in lower case.
	Domain string `yaml:"domain"`
	// LeafNkeys are the public user nkeys (U...) with which the administration's leaf
	// servers authenticate to the hub. The administration generates the key pair and keeps
	// the seed; only public keys appear here and in the hub configuration. More than one
	// key allows a rotation without downtime.
	LeafNkeys []string `yaml:"leaf_nkeys"`
	// AgeRecipient is the administration's age X25519 recipient ("age1..."): alerts
	// addressed to it (every audience but all members) are encrypted to this key. Its
	// nodes hold the identity (cix federation age-key). Required to receive or send
	// anything but all-members alerts.
	AgeRecipient string `yaml:"age_recipient"`
}

// Group is a set of members that share a scope: a region or an operation's closed user
// group.
type Group struct {
	// Name is the group's name: lower-case letters, digits and hyphens, starting with a
	// letter, at most 32. It is a subject token (cix.out.<ORIGIN>.g.<name>...).
	Name string `yaml:"name"`
	// Description for people.
	Description string `yaml:"description"`
	// Members are member codes.
	Members []string `yaml:"members"`
}

// Hub is the production hub: listeners, TLS, cluster and operator access.
type Hub struct {
	// ServerName of the hub server. A value starting with "$" is written unquoted, as a
	// reference to a variable of the environment (one file for every cluster server).
	ServerName string `yaml:"server_name"`
	// ClientListen is host:port of the client listener (operators, monitoring tools).
	ClientListen string `yaml:"client_listen"`
	// LeafnodeListen is host:port where administrations' leaf servers connect.
	LeafnodeListen string `yaml:"leafnode_listen"`
	// MonitorListen is host:port of the HTTP monitoring endpoint; empty for none.
	MonitorListen string `yaml:"monitor_listen"`
	// TLS secures the client, leafnode and cluster listeners.
	TLS *TLS `yaml:"tls"`
	// Cluster joins several hub servers into one NATS cluster.
	Cluster *Cluster `yaml:"cluster"`
	// OperatorNkeys are the public user nkeys of the federation operators, users of the
	// hub's system account SYS (monitoring, server events). They are no member's.
	OperatorNkeys []string `yaml:"operator_nkeys"`
}

// TLS names certificate files on the hub servers.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile verifies the peers' certificates: leaf servers and cluster routes must
	// present one (mutual TLS).
	CAFile string `yaml:"ca_file"`
}

// Cluster is the hub's NATS cluster.
type Cluster struct {
	Name   string   `yaml:"name"`
	Listen string   `yaml:"listen"`
	Routes []string `yaml:"routes"`
}

// Load reads and validates a manifest file.
func Load(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a manifest strictly (an unknown key is an error naming it) and validates
// it.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty manifest")
		}
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

var (
	federationRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,62}$`)
	groupRE      = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	domainRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// Validate checks the manifest and fills in defaults (domains). Every problem is
// reported, each naming its field, e.g. "members[1].code".
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	// unique reports value at field unless it is valid and not yet in seen (value →
	// the field holding it first); problem says what a valid value is.
	unique := func(seen map[string]string, field, value string, valid bool, problem string) {
		switch {
		case !valid:
			bad(field, "%q %s", value, problem)
		case seen[value] != "":
			bad(field, "%q repeats %s", value, seen[value])
		default:
			seen[value] = field
		}
	}
	if !federationRE.MatchString(m.Federation) {
		bad("federation", "%q: want letters, digits and hyphens (at most 63)", m.Federation)
	}
	if len(m.Members) == 0 {
		bad("members", "at least one member is required")
	}
	codes := make(map[string]string, len(m.Members))
	domains := make(map[string]string, len(m.Members))
	for i := range m.Members {
		mb := &m.Members[i]
		f := fmt.Sprintf("members[%d]", i)
		unique(codes, f+".code", mb.Code, alert.ValidCountry(mb.Code), "is not an ISO 3166-1 alpha-2 code in upper case")
		if strings.TrimSpace(mb.Name) == "" {
			bad(f+".name", "required")
		}
		if len(mb.Nodes) == 0 {
			bad(f+".nodes", "at least one node is required")
		}
		nodes := map[string]string{}
		for j, n := range mb.Nodes {
			unique(nodes, fmt.Sprintf("%s.nodes[%d]", f, j), n, trust.ValidNodeName(n), "is not lower-case letters, digits and hyphens (at most 63)")
		}
		if mb.Domain == "" && alert.ValidCountry(mb.Code) {
			mb.Domain = strings.ToLower(mb.Code)
		}
		// Every leaf needs its own domain.
		unique(domains, f+".domain", mb.Domain, domainRE.MatchString(mb.Domain), "is not lower-case letters, digits, '-' and '_' (at most 32)")
		if mb.AgeRecipient != "" {
			if _, err := sealed.ParseRecipient(mb.AgeRecipient); err != nil {
				bad(f+".age_recipient", "not an age X25519 recipient (age1...)")
			}
		}
		for j, k := range mb.LeafNkeys {
			if !nkeys.IsValidPublicUserKey(k) {
				bad(fmt.Sprintf("%s.leaf_nkeys[%d]", f, j), "not a public user nkey (U...)")
			}
		}
	}
	groups := make(map[string]string, len(m.Groups))
	for i, g := range m.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		unique(groups, f+".name", g.Name, groupRE.MatchString(g.Name), "is not a lower-case letter followed by lower-case letters, digits and hyphens (at most 32)")
		if len(g.Members) < 2 {
			bad(f+".members", "a group needs at least two members")
		}
		in := map[string]string{}
		for j, c := range g.Members {
			unique(in, fmt.Sprintf("%s.members[%d]", f, j), c, codes[c] != "", "is not a member of the federation")
		}
	}
	if m.Hub != nil {
		errs = append(errs, m.Hub.validate()...)
	}
	return errors.Join(errs...)
}

func (h *Hub) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("hub.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if h.ServerName != "" && !serverNameRE.MatchString(h.ServerName) {
		bad("server_name", "%q: want letters, digits, '-', '_' and '.', or $VARIABLE", h.ServerName)
	}
	for _, l := range []struct{ field, v string }{
		{"client_listen", h.ClientListen}, {"leafnode_listen", h.LeafnodeListen}, {"monitor_listen", h.MonitorListen},
	} {
		if l.v != "" && !validHostPort(l.v) {
			bad(l.field, "%q: want host:port", l.v)
		}
	}
	if t := h.TLS; t != nil {
		if t.CertFile == "" || t.KeyFile == "" || t.CAFile == "" {
			bad("tls", "cert_file, key_file and ca_file are all required")
		}
	}
	if c := h.Cluster; c != nil {
		if !serverNameRE.MatchString(c.Name) || strings.HasPrefix(c.Name, "$") {
			bad("cluster.name", "%q: want letters, digits, '-', '_' and '.'", c.Name)
		}
		if !validHostPort(c.Listen) {
			bad("cluster.listen", "%q: want host:port", c.Listen)
		}
		if len(c.Routes) == 0 {
			bad("cluster.routes", "at least one route is required")
		}
		for i, r := range c.Routes {
			if !strings.HasPrefix(r, "nats://") && !strings.HasPrefix(r, "tls://") {
				bad(fmt.Sprintf("cluster.routes[%d]", i), "%q: want nats://host:port or tls://host:port", r)
			}
		}
	}
	for i, k := range h.OperatorNkeys {
		if !nkeys.IsValidPublicUserKey(k) {
			bad(fmt.Sprintf("operator_nkeys[%d]", i), "not a public user nkey (U...)")
		}
	}
	return errs
}

var serverNameRE = regexp.MustCompile(`^\$?[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i == len(s)-1 {
		return false
	}
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return !strings.ContainsAny(s[:i], " \t\"'{}")
}

// Member returns the member with code, or nil.
func (m *Manifest) Member(code string) *Member {
	for i := range m.Members {
		if m.Members[i].Code == code {
			return &m.Members[i]
		}
	}
	return nil
}

// Group returns the group named name, or nil.
func (m *Manifest) Group(name string) *Group {
	for i := range m.Groups {
		if m.Groups[i].Name == name {
			return &m.Groups[i]
		}
	}
	return nil
}

// GroupsOf returns the names of the groups code belongs to, in manifest order.
func (m *Manifest) GroupsOf(code string) []string {
	var out []string
	for _, g := range m.Groups {
		if slices.Contains(g.Members, code) {
			out = append(out, g.Name)
		}
	}
	return out
}

// Recipients returns the administrations that may read an alert of origin addressed to
// groups and administrations: the origin, the members of the groups and the named
// administrations, once each, sorted.
func (m *Manifest) Recipients(origin string, groups, administrations []string) []string {
	set := map[string]bool{origin: true}
	for _, g := range groups {
		if gr := m.Group(g); gr != nil {
			for _, c := range gr.Members {
				set[c] = true
			}
		}
	}
	for _, c := range administrations {
		set[c] = true
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
