package assist

import (
	"strings"
	"testing"
	"time"

	pb "github.com/cix-exchange/cix/internal/gen/cix/assistance/v1"
)

func TestPolicyDefaults(t *testing.T) {
	p := DefaultPolicy()
	for u, want := range map[pb.Urgency]time.Duration{
		pb.Urgency_URGENCY_URGENT_DIRECT_ACCESS: 8 * time.Hour, pb.Urgency_URGENCY_URGENT: 72 * time.Hour, pb.Urgency_URGENCY_NORMAL: 168 * time.Hour,
	} {
		if d, e := p.Deadline("anything", u); d != want || e != DefaultEntry {
			t.Errorf("%v: %v from %s, want %v", u, d, e, want)
		}
	}
	if p.OralConfirmation != 24*time.Hour {
		t.Errorf("oral confirmation %v", p.OralConfirmation)
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(`
oral_confirmation: 12h
legal_bases:
  default: {urgent: 2d}
  naples-ii-art-10:
    normal: 10d
  sirene:
    urgent_direct_access: 12h
`))
	if err != nil {
		t.Fatal(err)
	}
	check := func(basis string, u pb.Urgency, want time.Duration, entry string) {
		t.Helper()
		if d, e := p.Deadline(basis, u); d != want || e != entry {
			t.Errorf("%s %v: %v from %s, want %v from %s", basis, u, d, e, want, entry)
		}
	}
	check("unknown", pb.Urgency_URGENCY_URGENT, 48*time.Hour, "default")
	check("unknown", pb.Urgency_URGENCY_URGENT_DIRECT_ACCESS, 8*time.Hour, "default")
	check("naples-ii-art-10", pb.Urgency_URGENCY_NORMAL, 240*time.Hour, "naples-ii-art-10")
	check("naples-ii-art-10", pb.Urgency_URGENCY_URGENT, 48*time.Hour, "naples-ii-art-10") // from the default entry
	check("sirene", pb.Urgency_URGENCY_URGENT_DIRECT_ACCESS, 12*time.Hour, "sirene")
	if p.OralConfirmation != 12*time.Hour {
		t.Errorf("oral confirmation %v", p.OralConfirmation)
	}
	for _, tc := range []struct{ in, field string }{
		{"oral_confirmation: soon", "oral_confirmation"},
		{"oral_confirmation: -1h", "oral_confirmation"},
		{"deadlines: {}", "deadlines"},
		{"legal_bases: {x: {normal: 0d}}", "legal_bases.x.normal"},
		{"legal_bases: {x: {slow: 1d}}", "legal_bases.x.slow"},
		{"legal_bases: {Bad Id: {normal: 1d}}", "legal_bases.Bad Id"},
		{"legal_bases: [a]", "legal_bases"},
		{"legal_bases: {x: 3d}", "legal_bases.x"},
		{"- a", "mapping"},
	} {
		_, err := ParsePolicy([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: %v, want an error naming %s", tc.in, err, tc.field)
		}
	}
	if p, err := ParsePolicy(nil); err != nil || p.Bases[DefaultEntry].Normal != 168*time.Hour {
		t.Errorf("empty policy: %v %v", p, err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("oral_confirmation: 24h\nlegal_bases:\n  default: {urgent_direct_access: 8h, urgent: 3d, normal: 7d}\n"))
	f.Add([]byte("legal_bases: {a: {normal: 1d}, a: {normal: 2d}}"))
	f.Add([]byte("oral_confirmation: [1]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		d, ok := p.Bases[DefaultEntry]
		if !ok {
			t.Fatal("no default entry")
		}
		for id, e := range p.Bases {
			for _, v := range []time.Duration{e.UrgentDirectAccess, e.Urgent, e.Normal} {
				if v <= 0 || v > maxPolicyDuration {
					t.Fatalf("%s: duration %v out of range", id, v)
				}
			}
		}
		if p.OralConfirmation <= 0 || d.Normal <= 0 {
			t.Fatal("non-positive duration accepted")
		}
	})
}
