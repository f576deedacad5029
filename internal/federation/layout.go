package federation

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ScopeKind says who an alert is for.
type ScopeKind int

// The three kinds of audience.
const (
	// ScopeAll is every member of the federation.
	ScopeAll ScopeKind = iota + 1
	// ScopeGroup is the members of one group (region, operation closed user group).
	ScopeGroup
	// ScopeMember is one named administration (bilateral).
	ScopeMember
)

// Scope is the audience of an outbound alert as the transport sees it: all members, one
// group, or one named administration. An alert for several groups or administrations is
// published once per scope.
type Scope struct {
	Kind ScopeKind
	// Name is the group's name (ScopeGroup) or the administration's code (ScopeMember).
	Name string
}

// AllMembers is the all-members scope.
func AllMembers() Scope { return Scope{Kind: ScopeAll} }

// ToGroup is the scope of group name.
func ToGroup(name string) Scope { return Scope{Kind: ScopeGroup, Name: name} }

// ToMember is the bilateral scope of the administration code.
func ToMember(code string) Scope { return Scope{Kind: ScopeMember, Name: code} }

// String gives the scope as its subject tokens: "all", "g.<group>", "to.<CODE>".
func (s Scope) String() string {
	switch s.Kind {
	case ScopeAll:
		return "all"
	case ScopeGroup:
		return "g." + s.Name
	case ScopeMember:
		return "to." + s.Name
	}
	return "invalid"
}

// Names of the transport's streams and subjects; see docs/transport.md.
const (
	// OutSubjectPrefix starts every outbound subject:
	// cix.out.<ORIGIN>.<scope>.<kind>.<id>, and for alerts
	// cix.out.<ORIGIN>.<scope>.<kind>._ (AlertToken).
	OutSubjectPrefix = "cix.out."
	// AlertToken ends the outbound subject of every alert (kinds seizure and risk) in
	// place of its id, which is in the signed payload and in the message id
	// (OutboundMsgID). A subject per alert would cost the origin's outbound stream some
	// 125 bytes of memory per alert for as long as it holds it (nats-server's subject
	// index), for nothing the receivers need. Alert ids are UUIDs, never "_".
	AlertToken = "_"
	// DeliverSubjectPrefix starts the subjects on which an origin's leaf delivers
	// sourced messages to an importer: cix.deliver.<IMPORTER>.<ORIGIN>.>.
	DeliverSubjectPrefix = "cix.deliver."
	// outStreamPrefix and inStreamPrefix start the stream names.
	outStreamPrefix = "CIX_OUT_"
	inStreamPrefix  = "CIX_IN_"
)

// OutboundStream is the name of origin's outbound stream, in origin's domain: every
// alert origin publishes, whatever its scope.
func OutboundStream(origin string) string { return outStreamPrefix + origin }

// InboundStream is the name of admin's inbound stream, in admin's domain: everything admin
// is entitled to read, sourced from the origins' outbound streams, and admin's own
// outbound alerts.
func InboundStream(admin string) string { return inStreamPrefix + admin }

// OutboundSubject is the subject of a message of kind with id of origin for scope:
// a notice, an acknowledgement, a directory, a revocation, a mutual assistance
// transition, an attachment chunk. Alerts are published on OutboundAlertSubject.
func OutboundSubject(origin string, s Scope, kind, id string) string {
	return OutSubjectPrefix + origin + "." + s.String() + "." + kind + "." + id
}

// OutboundAlertSubject is the subject of every alert of kind of origin for scope:
// cix.out.<ORIGIN>.<scope>.<kind>._, the same for all of them.
func OutboundAlertSubject(origin string, s Scope, kind string) string {
	return OutboundSubject(origin, s, kind, AlertToken)
}

// OutboundMsgID is the message id (Nats-Msg-Id) of anything published on the outbound
// subject subject with id: the subject, with the id in place of AlertToken for an
// alert. It names one message of one scope: an alert for two scopes is two messages.
func OutboundMsgID(subject, id string) string {
	if base, ok := strings.CutSuffix(subject, "."+AlertToken); ok {
		return base + "." + id
	}
	return subject
}

// IsAlertSubject reports whether an outbound subject is an alert's, without an id
// (see AlertToken).
func IsAlertSubject(subject string) bool { return strings.HasSuffix(subject, "."+AlertToken) }

// ScopeFilter is the subject filter of every alert of origin for scope:
// cix.out.<ORIGIN>.<scope>.>.
func ScopeFilter(origin string, s Scope) string {
	return OutSubjectPrefix + origin + "." + s.String() + ".>"
}

// OriginFilter is the subject filter of every alert of origin: cix.out.<ORIGIN>.>.
func OriginFilter(origin string) string { return OutSubjectPrefix + origin + ".>" }

// DeliverPrefix is where origin's leaf delivers the messages importer sources from it.
// One prefix per pair: an origin can deliver only into its own flows to an importer.
func DeliverPrefix(importer, origin string) string {
	return DeliverSubjectPrefix + importer + "." + origin
}

// APIPrefix is the JetStream API prefix of a domain, as a source's External.APIPrefix.
func APIPrefix(domain string) string { return "$JS." + domain + ".API" }

// ConsumerCreateSubject is the subject pattern, in origin's account at the hub, of the
// requests that create a consumer on origin's outbound stream filtered to scope: the
// JetStream API's extended form $JS.<domain>.API.CONSUMER.CREATE.<stream>.<name>.<filter>.
// The server refuses a request whose body asks for another filter than its subject
// names, so an export of this pattern lets the importer read that scope and nothing
// else of the stream.
func ConsumerCreateSubject(domain, origin string, s Scope) string {
	return APIPrefix(domain) + ".CONSUMER.CREATE." + OutboundStream(origin) + ".*." + ScopeFilter(origin, s)
}

// FlowControlSubject is the subject pattern of the flow-control replies to consumers on
// origin's outbound stream ($JS.FC.<stream>.<consumer>.<n>); sourcing stalls without it.
func FlowControlSubject(origin string) string { return "$JS.FC." + OutboundStream(origin) + ".>" }

// ParseOutboundSubject splits an outbound alert subject. It checks the shape only; the
// receiver compares origin, scope, kind and id with the signed payload.
func ParseOutboundSubject(subject string) (origin string, s Scope, kind, id string, err error) {
	rest, ok := strings.CutPrefix(subject, OutSubjectPrefix)
	if !ok {
		return "", Scope{}, "", "", fmt.Errorf("subject %q is not an outbound alert subject", clip(subject))
	}
	t := strings.Split(rest, ".")
	switch {
	case len(t) == 4 && t[1] == "all":
		s, kind, id = AllMembers(), t[2], t[3]
	case len(t) == 5 && t[1] == "g" && groupRE.MatchString(t[2]):
		s, kind, id = ToGroup(t[2]), t[3], t[4]
	case len(t) == 5 && t[1] == "to" && isCode(t[2]):
		s, kind, id = ToMember(t[2]), t[3], t[4]
	default:
		return "", Scope{}, "", "", fmt.Errorf("subject %q: want %s<ORIGIN>.(all|g.<group>|to.<CODE>).<kind>.<id>", clip(subject), OutSubjectPrefix)
	}
	origin = t[0]
	switch {
	case !isCode(origin):
		return "", Scope{}, "", "", fmt.Errorf("subject %q: origin is not two upper-case letters", clip(subject))
	case !kindRE.MatchString(kind):
		return "", Scope{}, "", "", fmt.Errorf("subject %q: malformed kind", clip(subject))
	case id == "" || len(id) > 64:
		return "", Scope{}, "", "", fmt.Errorf("subject %q: malformed id", clip(subject))
	}
	return origin, s, kind, id, nil
}

var kindRE = regexp.MustCompile(`^[a-z_]{1,32}$`)

func isCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// Scopes returns the scopes origin can publish to: all members, each group it belongs
// to, and each other member.
func (m *Manifest) Scopes(origin string) []Scope {
	out := []Scope{AllMembers()}
	for _, g := range m.GroupsOf(origin) {
		out = append(out, ToGroup(g))
	}
	for _, mb := range m.Members {
		if mb.Code != origin {
			out = append(out, ToMember(mb.Code))
		}
	}
	return out
}

// Audience returns the members other than origin entitled to read origin's alerts for
// scope, in manifest order; nil when origin cannot publish to scope.
func (m *Manifest) Audience(origin string, s Scope) []string {
	var out []string
	switch s.Kind {
	case ScopeAll:
		for _, mb := range m.Members {
			if mb.Code != origin {
				out = append(out, mb.Code)
			}
		}
	case ScopeGroup:
		g := m.Group(s.Name)
		if g == nil || !slices.Contains(g.Members, origin) {
			return nil
		}
		for _, mb := range m.Members { // manifest order
			if mb.Code != origin && slices.Contains(g.Members, mb.Code) {
				out = append(out, mb.Code)
			}
		}
	case ScopeMember:
		if s.Name != origin && m.Member(s.Name) != nil && m.Member(origin) != nil {
			out = []string{s.Name}
		}
	}
	return out
}

// Entitlement is one scope of one origin that an importer may read.
type Entitlement struct {
	Origin string
	Scope  Scope
}

// Entitlements returns what importer may read from the other members: from each, the
// all-members scope, the groups both belong to, and the bilateral scope to importer.
func (m *Manifest) Entitlements(importer string) []Entitlement {
	var out []Entitlement
	for _, o := range m.Members {
		if o.Code == importer {
			continue
		}
		for _, s := range m.Scopes(o.Code) {
			if slices.Contains(m.Audience(o.Code, s), importer) {
				out = append(out, Entitlement{Origin: o.Code, Scope: s})
			}
		}
	}
	return out
}
