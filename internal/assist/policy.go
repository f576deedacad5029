package assist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
	"gopkg.in/yaml.v3"
)

// Deadlines are the time limits of one legal basis, per urgency, counted from
// acknowledgement (RECEIVED).
type Deadlines struct {
	UrgentDirectAccess time.Duration
	Urgent             time.Duration
	Normal             time.Duration
}

// For is the time limit of urgency u.
func (d Deadlines) For(u pb.Urgency) time.Duration {
	switch u {
	case pb.Urgency_URGENCY_URGENT_DIRECT_ACCESS:
		return d.UrgentDirectAccess
	case pb.Urgency_URGENCY_URGENT:
		return d.Urgent
	}
	return d.Normal
}

// DefaultEntry is the policy entry for legal bases the policy does not name.
const DefaultEntry = "default"

// Policy is a node's deadline policy (config key assistance.policy).
type Policy struct {
	// OralConfirmation is how long after an oral urgent request its written
	// confirmation (SUBMIT) may come.
	OralConfirmation time.Duration
	// Bases are the deadlines per legal basis id; DefaultEntry is always present.
	Bases map[string]Deadlines
}

// DefaultPolicy: urgent with data directly accessible 8 hours, urgent otherwise 3 days,
// others 7 days, for every legal basis; oral requests confirmed within 24 hours.
func DefaultPolicy() *Policy {
	return &Policy{OralConfirmation: 24 * time.Hour, Bases: map[string]Deadlines{
		DefaultEntry: {UrgentDirectAccess: 8 * time.Hour, Urgent: 72 * time.Hour, Normal: 168 * time.Hour},
	}}
}

// Deadline is the time limit for a request of legalBasis and urgency u, and the policy
// entry it came from.
func (p *Policy) Deadline(legalBasis string, u pb.Urgency) (time.Duration, string) {
	if d, ok := p.Bases[legalBasis]; ok {
		return d.For(u), legalBasis
	}
	return p.Bases[DefaultEntry].For(u), DefaultEntry
}

// LoadPolicy reads a policy file; an empty path is the default policy.
func LoadPolicy(path string) (*Policy, error) {
	if path == "" {
		return DefaultPolicy(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("assistance.policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("assistance.policy %s: %w", path, err)
	}
	return p, nil
}

// maxPolicyDuration bounds any duration of the policy (10 years).
const maxPolicyDuration = 10 * 365 * 24 * time.Hour

// ParsePolicy parses a policy:
//
//	oral_confirmation: 24h
//	legal_bases:
//	  default: {urgent_direct_access: 8h, urgent: 3d, normal: 7d}
//	  naples-ii-art-10: {normal: 10d}
//
// Durations are Go durations or whole days ("3d"), positive. An entry's missing
// urgencies take the default entry's; a missing default entry is the built-in one.
// Unknown keys, duplicate keys and bad values are errors naming the field.
func ParsePolicy(b []byte) (*Policy, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return DefaultPolicy(), nil
		}
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	p := DefaultPolicy()
	if len(root.Content) == 0 {
		return p, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, errors.New("the policy is a mapping (oral_confirmation, legal_bases)")
	}
	var errs []error
	bad := func(field string, n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (line %d): %s", field, n.Line, fmt.Sprintf(format, args...)))
	}
	entries := map[string]map[string]time.Duration{}
	var order []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if seen[k.Value] {
			bad(k.Value, k, "duplicate key")
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "oral_confirmation":
			if d, err := policyDuration(v); err != nil {
				bad("oral_confirmation", v, "%v", err)
			} else {
				p.OralConfirmation = d
			}
		case "legal_bases":
			if v.Kind != yaml.MappingNode {
				bad("legal_bases", v, "a mapping of legal basis ids to deadlines")
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				id, dv := v.Content[j], v.Content[j+1]
				field := "legal_bases." + clip(id.Value)
				if id.Kind != yaml.ScalarNode || (id.Value != DefaultEntry && !legalBaseRE.MatchString(id.Value)) {
					bad(field, id, "not a legal basis id (lower-case letters, digits, '.', '_', '-')")
					continue
				}
				if _, dup := entries[id.Value]; dup {
					bad(field, id, "duplicate legal basis")
					continue
				}
				if dv.Kind != yaml.MappingNode {
					bad(field, dv, "a mapping of urgencies (urgent_direct_access, urgent, normal) to durations")
					continue
				}
				e := map[string]time.Duration{}
				for m := 0; m+1 < len(dv.Content); m += 2 {
					uk, uv := dv.Content[m], dv.Content[m+1]
					f := field + "." + clip(uk.Value)
					switch uk.Value {
					case "urgent_direct_access", "urgent", "normal":
					default:
						bad(f, uk, "unknown urgency (urgent_direct_access, urgent, normal)")
						continue
					}
					if _, dup := e[uk.Value]; dup {
						bad(f, uk, "duplicate key")
						continue
					}
					d, err := policyDuration(uv)
					if err != nil {
						bad(f, uv, "%v", err)
						continue
					}
					e[uk.Value] = d
				}
				entries[id.Value] = e
				order = append(order, id.Value)
			}
		default:
			bad(clip(k.Value), k, "unknown key (oral_confirmation, legal_bases)")
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	def := p.Bases[DefaultEntry]
	merge := func(base Deadlines, e map[string]time.Duration) Deadlines {
		if d, ok := e["urgent_direct_access"]; ok {
			base.UrgentDirectAccess = d
		}
		if d, ok := e["urgent"]; ok {
			base.Urgent = d
		}
		if d, ok := e["normal"]; ok {
			base.Normal = d
		}
		return base
	}
	if e, ok := entries[DefaultEntry]; ok {
		def = merge(def, e)
	}
	p.Bases[DefaultEntry] = def
	sort.Strings(order)
	for _, id := range order {
		if id != DefaultEntry {
			p.Bases[id] = merge(def, entries[id])
		}
	}
	return p, nil
}

// policyDuration parses a positive duration: Go syntax or whole days ("7d").
func policyDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("a duration such as 8h or 3d")
	}
	s := strings.TrimSpace(n.Value)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		k, err := strconv.Atoi(days)
		if err != nil || k <= 0 || k > 3650 {
			return 0, fmt.Errorf("%q is not a number of days (1 to 3650)", clip(s))
		}
		d = time.Duration(k) * 24 * time.Hour
	} else {
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 8h or 3d", clip(s))
		}
		d = v
	}
	if d <= 0 || d > maxPolicyDuration {
		return 0, fmt.Errorf("%q: a duration must be positive and at most 10 years", clip(s))
	}
	return d, nil
}
