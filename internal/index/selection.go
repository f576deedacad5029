package index

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
	"github.com/cix-exchange/cix/internal/node"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// maxValues bounds each repeated field of a selection, as Subscribe's filter does.
	maxValues = 256
	// maxText bounds the full-text query, in characters.
	maxText = 256
	// maxCompany bounds one company value, in characters.
	maxCompany = 200
)

// selection is a compiled Selection: SQL conditions on the alerts table "a", with their
// arguments, and a hash of what was asked (for page tokens).
type selection struct {
	conds []string
	args  []any
	hash  uint64
}

// compiler collects conditions and field violations.
type compiler struct {
	sel selection
	vs  []alert.FieldViolation
}

func (c *compiler) bad(field, format string, args ...any) {
	c.vs = append(c.vs, alert.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (c *compiler) cond(sql string, args ...any) {
	c.sel.conds = append(c.sel.conds, sql)
	c.sel.args = append(c.sel.args, args...)
}

// compileSelection validates s and compiles it. Field paths start with "selection.".
func compileSelection(s *searchv1.Selection) (*selection, error) {
	c := &compiler{}
	c.cond("a.current = 1")
	if !s.GetIncludeRecalled() {
		c.cond("a.withdrawn = 0")
	}
	f := s.GetFilter()
	if _, err := node.CompileFilter(f); err != nil {
		if ve, ok := err.(*alert.ValidationError); ok {
			for _, v := range ve.Violations {
				c.vs = append(c.vs, alert.FieldViolation{Field: "selection." + v.Field, Description: v.Description})
			}
		} else {
			return nil, err
		}
	}
	upper := func(v string) string { return strings.ToUpper(strings.TrimSpace(v)) }
	c.column("a.kind", enumValues(f.GetKinds()))
	c.column("a.origin", stringValues(f.GetOrigins(), upper))
	c.column("a.tlp", enumValues(f.GetTlps()))
	c.facet(facetCommodity, enumValues(f.GetCommodityGroups()))
	c.facet(facetCountry, stringValues(f.GetRouteCountries(), upper))
	c.hsPrefixes(f.GetHsPrefixes())
	c.timeRange("a.issued_at", "", f.GetIssuedAfter(), f.GetIssuedBefore())
	c.timeRange("a.seized_at", "selection.seized_", s.GetSeizedAfter(), s.GetSeizedBefore())

	c.column("a.mode", enums(c, "selection.transport_modes", s.GetTransportModes(), alertv1.TransportMode_name))
	c.column("a.risk_status", enums(c, "selection.risk_statuses", s.GetRiskStatuses(), alertv1.RiskAlertStatus_name))
	c.column("a.inv_status", enums(c, "selection.investigation_statuses", s.GetInvestigationStatuses(), alertv1.InvestigationStatus_name))
	compact := func(v string) string { return strings.ToUpper(strings.Join(strings.Fields(v), "")) }
	imo := func(v string) string { return strings.TrimPrefix(compact(v), "IMO") }
	c.facet(facetContainer, c.codes("selection.container_numbers", s.GetContainerNumbers(), compact, alert.ValidContainerNumber, "an ISO 6346 container number"))
	c.facet(facetIMO, c.codes("selection.imo_numbers", s.GetImoNumbers(), imo, alert.ValidIMO, "an IMO number"))
	c.facet(facetLocation, c.codes("selection.locations", s.GetLocations(), upper, alert.ValidUNLOCODE, "a UN/LOCODE"))
	c.companies(s.GetCompanies())
	c.text(s.GetText())
	if len(c.vs) > 0 {
		return nil, &alert.ValidationError{Subject: "selection", Violations: c.vs}
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(s)
	sum := sha256.Sum256(b)
	c.sel.hash = binary.BigEndian.Uint64(sum[:8])
	return &c.sel, nil
}

// checkSelection compiles s, returning its violations to add to a request's others.
func checkSelection(s *searchv1.Selection) (*selection, []alert.FieldViolation, error) {
	sel, err := compileSelection(s)
	var ve *alert.ValidationError
	if errors.As(err, &ve) {
		return nil, ve.Violations, nil
	}
	return sel, nil, err
}

func enumValues[E ~int32](vs []E) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = int64(v)
	}
	return out
}

func stringValues(vs []string, norm func(string) string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = norm(v)
	}
	return out
}

// enums checks the values of a repeated enum field that node.CompileFilter does not.
func enums[E ~int32](c *compiler, field string, vs []E, names map[int32]string) []any {
	if c.tooMany(field, len(vs)) {
		return nil
	}
	var out []any
	for i, v := range vs {
		if _, ok := names[int32(v)]; !ok || v == 0 {
			c.bad(fmt.Sprintf("%s[%d]", field, i), "unknown value %d", v)
			continue
		}
		out = append(out, int64(v))
	}
	return out
}

func (c *compiler) tooMany(field string, n int) bool {
	if n > maxValues {
		c.bad(field, "at most %d values", maxValues)
		return true
	}
	return false
}

// codes normalises and checks identifiers.
func (c *compiler) codes(field string, vs []string, norm func(string) string, valid func(string) bool, what string) []any {
	if c.tooMany(field, len(vs)) {
		return nil
	}
	var out []any
	for i, v := range vs {
		n := norm(v)
		if !valid(n) {
			c.bad(fmt.Sprintf("%s[%d]", field, i), "%q is not %s", clipText(v), what)
			continue
		}
		out = append(out, n)
	}
	return out
}

// column adds "col IN (values)".
func (c *compiler) column(col string, vs []any) {
	if len(vs) > 0 {
		c.cond(col+" IN ("+placeholders(len(vs))+")", vs...)
	}
}

// facet adds a condition on a repeated field. Common values (probed) are tested alert by
// alert while results are read in order; rare ones (identifiers) select the alerts first.
func (c *compiler) facet(k facet, vs []any) {
	if len(vs) == 0 {
		return
	}
	t := facetTables[k]
	if probed[k] {
		c.cond("EXISTS (SELECT 1 FROM "+t+" f WHERE f.aid = a.aid AND f.value IN ("+placeholders(len(vs))+"))", vs...)
		return
	}
	c.cond("a.aid IN (SELECT aid FROM "+t+" WHERE value IN ("+placeholders(len(vs))+"))", vs...)
}

// hsPrefixes matches HS codes by prefix (checked by node.CompileFilter).
func (c *compiler) hsPrefixes(ps []string) {
	if len(ps) == 0 || len(ps) > maxValues {
		return
	}
	var ors []string
	var args []any
	for _, p := range ps {
		p = strings.ReplaceAll(strings.TrimSpace(p), ".", "")
		ors = append(ors, "(f.value >= ? AND f.value < ?)")
		args = append(args, p, p+":") // ':' follows '9'
	}
	c.cond("EXISTS (SELECT 1 FROM "+facetTables[facetHS]+" f WHERE f.aid = a.aid AND ("+strings.Join(ors, " OR ")+"))", args...)
}

// companies matches a prefix of a company's name, EORI or registration number.
func (c *compiler) companies(vs []string) {
	if c.tooMany("selection.companies", len(vs)) || len(vs) == 0 {
		return
	}
	var ors []string
	var args []any
	for i, v := range vs {
		k := companyKey(v)
		if k == "" || utf8.RuneCountInString(k) > maxCompany {
			c.bad(fmt.Sprintf("selection.companies[%d]", i), "want 1 to %d characters", maxCompany)
			continue
		}
		ors = append(ors, "(value >= ? AND value < ?)")
		args = append(args, k, k+"\U0010FFFF")
	}
	if len(ors) > 0 {
		c.cond("a.aid IN (SELECT aid FROM "+facetTables[facetCompany]+" WHERE "+strings.Join(ors, " OR ")+")", args...)
	}
}

// timeRange adds after <= col < before. prefix names the fields ("" when
// node.CompileFilter checked them).
func (c *compiler) timeRange(col, prefix string, after, before *timestamppb.Timestamp) {
	if prefix != "" {
		for _, t := range []struct {
			name string
			ts   *timestamppb.Timestamp
		}{{"after", after}, {"before", before}} {
			if t.ts != nil {
				if err := t.ts.CheckValid(); err != nil {
					c.bad(prefix+t.name, "%v", err)
					return
				}
			}
		}
		if after != nil && before != nil && !before.AsTime().After(after.AsTime()) {
			c.bad(prefix+"before", "must be after %safter", prefix)
			return
		}
	}
	if after != nil {
		c.cond(col+" >= ?", after.AsTime().UnixNano())
	}
	if before != nil {
		c.cond(col+" < ?", before.AsTime().UnixNano())
	}
}

// text adds the full-text condition.
func (c *compiler) text(t string) {
	if strings.TrimSpace(t) == "" {
		return
	}
	if utf8.RuneCountInString(t) > maxText {
		c.bad("selection.text", "at most %d characters", maxText)
		return
	}
	q := ftsQuery(t)
	if q == "" {
		c.bad("selection.text", "no word to search for")
		return
	}
	c.cond("a.aid IN (SELECT rowid FROM alert_text WHERE alert_text MATCH ?)", q)
}

// ftsQuery turns what a user typed into an FTS5 query that is always valid: words and
// "quoted phrases" (all must match), a trailing * for a prefix, OR between two terms.
// Everything else is taken literally (FTS5 operators and column filters too).
func ftsQuery(t string) string {
	// Control characters mean nothing in a search, and FTS5 ends a string at NUL
	// ("unterminated string"): they become spaces.
	t = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, t)
	var terms []string
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	for t = strings.TrimSpace(t); t != ""; t = strings.TrimSpace(t) {
		var term string
		if t[0] == '"' {
			end := strings.IndexByte(t[1:], '"')
			if end < 0 {
				end = len(t) - 1
			}
			term, t = quote(t[1:1+end]), t[min(len(t), end+2):]
		} else {
			end := strings.IndexAny(t, " \t\n\r\"")
			if end < 0 {
				end = len(t)
			}
			w := t[:end]
			t = t[end:]
			switch {
			case w == "OR":
				term = "OR"
			case strings.TrimRight(w, "*") == "":
				continue
			case strings.HasSuffix(w, "*"):
				term = quote(strings.TrimRight(w, "*")) + "*"
			default:
				term = quote(w)
			}
		}
		if term == `""` {
			continue
		}
		if term == "OR" && (len(terms) == 0 || terms[len(terms)-1] == "OR") {
			continue
		}
		terms = append(terms, term)
	}
	if len(terms) > 0 && terms[len(terms)-1] == "OR" {
		terms = terms[:len(terms)-1]
	}
	return strings.Join(terms, " ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// clipText shortens a value quoted in an error message.
func clipText(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		return string([]rune(s)[:40]) + "…"
	}
	return s
}
