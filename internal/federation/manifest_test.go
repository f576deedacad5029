package federation_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cix-exchange/cix/internal/federation"
	"github.com/nats-io/nats-server/v2/conf"
)

const validManifest = `
federation: cix-test
members:
  - code: NL
    name: Douane Nederland
    nodes: [nl-1, nl-2]
  - code: BE
    name: Douane België
    nodes: [be-1]
    domain: belgium
  - code: DE
    name: Zoll
    nodes: [de-1]
groups:
  - name: benelux
    members: [NL, BE]
  - name: op-silver
    description: operation closed user group
    members: [NL, DE]
`

func TestParseFillsDomains(t *testing.T) {
	m, err := federation.Parse([]byte(validManifest))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{m.Member("NL").Domain, m.Member("BE").Domain, m.Member("DE").Domain}
	if want := []string{"nl", "belgium", "de"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("domains %v, want %v", got, want)
	}
	if g := m.GroupsOf("NL"); !reflect.DeepEqual(g, []string{"benelux", "op-silver"}) {
		t.Fatalf("groups of NL: %v", g)
	}
}

func TestParseNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"unknown key", "    nodes: [nl-1, nl-2]\n", "    nodes: [nl-1, nl-2]\n    colour: orange\n", "field colour not found"},
		{"unknown country", "  - code: DE\n", "  - code: XX\n", `members[2].code: "XX" is not an ISO 3166-1 alpha-2 code`},
		{"lower-case code", "  - code: DE\n", "  - code: de\n", `members[2].code: "de"`},
		{"repeated code", "  - code: DE\n", "  - code: NL\n", `members[2].code: "NL" repeats members[0].code`},
		{"repeated domain", "    nodes: [de-1]\n", "    nodes: [de-1]\n    domain: belgium\n", `members[2].domain: "belgium" repeats members[1].domain`},
		{"domain with a dot", "    domain: belgium\n", "    domain: be.x\n", `members[1].domain: "be.x"`},
		{"node name", "    nodes: [be-1]\n", "    nodes: [BE_1]\n", `members[1].nodes[0]: "BE_1"`},
		{"repeated node", "    nodes: [be-1]\n", "    nodes: [be-1, be-1]\n", `members[1].nodes[1]: "be-1" repeats members[1].nodes[0]`},
		{"repeated group member", "    members: [NL, DE]\n", "    members: [NL, DE, NL]\n", `groups[1].members[2]: "NL" repeats groups[1].members[0]`},
		{"no nodes", "    nodes: [be-1]\n", "    nodes: []\n", "members[1].nodes: at least one node"},
		{"no name", "    name: Zoll\n", "    name: ' '\n", "members[2].name: required"},
		{"group of a non-member", "    members: [NL, DE]\n", "    members: [NL, FR]\n", `groups[1].members[1]: "FR" is not a member`},
		{"group name as subject token", "  - name: benelux\n", "  - name: bene.lux\n", `groups[0].name: "bene.lux"`},
		{"group of one", "    members: [NL, DE]\n", "    members: [NL]\n", "groups[1].members: a group needs at least two members"},
		{"repeated group", "  - name: op-silver\n", "  - name: benelux\n", `groups[1].name: "benelux" repeats groups[0].name`},
		{"leaf key", "    nodes: [de-1]\n", "    nodes: [de-1]\n    leaf_nkeys: [SUAXXX]\n", "members[2].leaf_nkeys[0]: not a public user nkey"},
		{"age recipient", "    nodes: [de-1]\n", "    nodes: [de-1]\n    age_recipient: AGE-SECRET-KEY-1XYZ\n", "members[2].age_recipient: not an age X25519 recipient (age1...)"},
		{"federation name", "federation: cix-test\n", "federation: cix test\n", `federation: "cix test"`},
		{"hub listen", "groups:\n", "hub: {leafnode_listen: nowhere}\ngroups:\n", `hub.leafnode_listen: "nowhere"`},
		{"hub tls", "groups:\n", "hub: {tls: {cert_file: a}}\ngroups:\n", "hub.tls: cert_file, key_file and ca_file are all required"},
		{"hub route", "groups:\n", "hub: {cluster: {name: c, listen: ':6222', routes: [hub-2:6222]}}\ngroups:\n", `hub.cluster.routes[0]: "hub-2:6222"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(validManifest, tc.from, tc.to, 1)
			if doc == validManifest {
				t.Fatalf("%q is not in the manifest", tc.from)
			}
			_, err := federation.Parse([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseRefusesTwoDocumentsAndEmpty(t *testing.T) {
	if _, err := federation.Parse([]byte(validManifest + "---\nfederation: other\n")); err == nil {
		t.Fatal("two documents accepted")
	}
	if _, err := federation.Parse(nil); err == nil {
		t.Fatal("empty manifest accepted")
	}
}

func TestAudienceAndEntitlements(t *testing.T) {
	m, err := federation.Parse([]byte(validManifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		origin string
		scope  federation.Scope
		want   []string
	}{
		{"NL", federation.AllMembers(), []string{"BE", "DE"}},
		{"NL", federation.ToGroup("benelux"), []string{"BE"}},
		{"NL", federation.ToGroup("op-silver"), []string{"DE"}},
		{"BE", federation.ToGroup("op-silver"), nil}, // BE is not in the group
		{"NL", federation.ToGroup("nope"), nil},
		{"NL", federation.ToMember("DE"), []string{"DE"}},
		{"NL", federation.ToMember("NL"), nil},
		{"NL", federation.ToMember("FR"), nil},
	} {
		if got := m.Audience(tc.origin, tc.scope); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Audience(%s, %s) = %v, want %v", tc.origin, tc.scope, got, tc.want)
		}
	}
	var got []string
	for _, e := range m.Entitlements("DE") {
		got = append(got, e.Origin+":"+e.Scope.String())
	}
	want := []string{"NL:all", "NL:g.op-silver", "NL:to.DE", "BE:all", "BE:to.DE"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entitlements of DE %v, want %v", got, want)
	}
}

func TestOutboundSubjectRoundTrip(t *testing.T) {
	for _, s := range []federation.Scope{federation.AllMembers(), federation.ToGroup("op-silver"), federation.ToMember("DE")} {
		subject := federation.OutboundSubject("NL", s, "seizure", "0b7c6a")
		origin, scope, kind, id, err := federation.ParseOutboundSubject(subject)
		if err != nil || origin != "NL" || scope != s || kind != "seizure" || id != "0b7c6a" {
			t.Errorf("%s: %s %v %s %s %v", subject, origin, scope, kind, id, err)
		}
		if !strings.HasPrefix(subject, strings.TrimSuffix(federation.ScopeFilter("NL", s), ">")) {
			t.Errorf("%s is not under its scope filter %s", subject, federation.ScopeFilter("NL", s))
		}
	}
	for _, bad := range []string{
		"cix.out.NL.all.risk", "cix.out.nl.all.risk.x", "cix.out.NL.some.risk.x", "cix.out.NL.g.Bad.risk.x",
		"cix.out.NL.to.de.risk.x", "cix.alert.v1.NL.risk.x", "cix.out.NL.all.Risk.x", "cix.out.NL.all.risk." + strings.Repeat("x", 65),
	} {
		if _, _, _, _, err := federation.ParseOutboundSubject(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte("federation: x\nmembers: [{code: NL, name: \"n\\n}\\\"\", nodes: [a]}]\n"))
	seed, pub := newUserKey(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := federation.Parse(b)
		if err != nil {
			return
		}
		// What parses generates configurations that nats-server's parser reads, and every
		// name in them stays a valid token.
		for i := range m.Members {
			m.Members[i].LeafNkeys = []string{pub}
		}
		hub, err := federation.HubConfig(m, federation.HubOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conf.Parse(hub); err != nil {
			t.Fatalf("hub configuration does not parse: %v\n%s", err, hub)
		}
		for _, mb := range m.Members {
			leaf, err := federation.LeafConfig(m, mb.Code, federation.LeafOptions{HubURLs: []string{"nats-leaf://hub:7422"}, NkeySeed: seed})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conf.Parse(leaf); err != nil {
				t.Fatalf("leaf configuration does not parse: %v\n%s", err, leaf)
			}
			for _, s := range m.Scopes(mb.Code) {
				if _, _, _, _, err := federation.ParseOutboundSubject(federation.OutboundSubject(mb.Code, s, "risk", "x")); err != nil {
					t.Fatalf("scope %v of %s: %v", s, mb.Code, err)
				}
			}
			if _, err := federation.InboundStreamConfig(m, mb.Code, federation.StreamOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseOutboundSubject(f *testing.F) {
	f.Add("cix.out.NL.g.benelux.risk.0b7c")
	f.Add("cix.out.NL.to.DE.seizure.1")
	f.Fuzz(func(t *testing.T, subject string) {
		origin, s, kind, id, err := federation.ParseOutboundSubject(subject)
		if err != nil {
			return
		}
		if again := federation.OutboundSubject(origin, s, kind, id); again != subject {
			t.Fatalf("%q parses to %q", subject, again)
		}
	})
}

func TestRecipients(t *testing.T) {
	m, err := federation.Parse([]byte(validManifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		origin         string
		groups, admins []string
		want           string
	}{
		{"NL", []string{"benelux"}, nil, "BE,NL"},
		{"NL", nil, []string{"DE"}, "DE,NL"},
		{"DE", []string{"op-silver"}, []string{"BE", "NL"}, "BE,DE,NL"},
	} {
		if got := strings.Join(m.Recipients(tc.origin, tc.groups, tc.admins), ","); got != tc.want {
			t.Errorf("Recipients(%s, %v, %v) = %s, want %s", tc.origin, tc.groups, tc.admins, got, tc.want)
		}
	}
	valid := strings.Replace(validManifest, "    nodes: [de-1]\n", "    nodes: [de-1]\n    age_recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n", 1)
	if _, err := federation.Parse([]byte(valid)); err != nil {
		t.Errorf("valid age recipient refused: %v", err)
	}
}
