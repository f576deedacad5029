package watch

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
)

// Match is one entry found in one alert field.
type Match struct {
	Entry *analystv1.WatchEntry
	// Field is the path of the alert field, e.g. "alert.seizure.companies[0].name".
	Field string
	// Value is the field's value as it appears in the alert.
	Value string
}

type indexKey struct {
	kind  analystv1.WatchKind
	value string // normalised
}

// Matcher finds the watch entries an alert matches. Entries are indexed by kind and
// normalised value, so Match costs map look-ups per alert field and does not depend on
// how many entries there are. It is safe for concurrent use.
type Matcher struct {
	mu      sync.RWMutex
	entries map[string]*analystv1.WatchEntry // by id
	index   map[indexKey][]*analystv1.WatchEntry
	// phraseLens counts the free-text entries by number of words (index 1 to
	// MaxPhrase): Match builds phrases of those lengths only.
	phraseLens [MaxPhrase + 1]int
	// texts and hsRoutes count the entries of those kinds: alerts are not scanned for
	// kinds no entry has.
	texts, hsRoutes int
}

// NewMatcher returns an empty matcher.
func NewMatcher() *Matcher {
	return &Matcher{entries: map[string]*analystv1.WatchEntry{}, index: map[indexKey][]*analystv1.WatchEntry{}}
}

// Add indexes an entry; its Normalized value must come from Normalize. An entry with
// the id of one already indexed replaces it.
func (m *Matcher) Add(e *analystv1.WatchEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.entries[e.GetId()]; ok {
		m.remove(old)
	}
	m.entries[e.GetId()] = e
	k := indexKey{e.GetKind(), e.GetNormalized()}
	m.index[k] = append(m.index[k], e)
	m.count(e, 1)
}

// Remove drops the entry with this id and returns it, or nil.
func (m *Matcher) Remove(id string) *analystv1.WatchEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e != nil {
		m.remove(e)
	}
	return e
}

func (m *Matcher) remove(e *analystv1.WatchEntry) {
	delete(m.entries, e.GetId())
	k := indexKey{e.GetKind(), e.GetNormalized()}
	list := slices.DeleteFunc(m.index[k], func(x *analystv1.WatchEntry) bool { return x.GetId() == e.GetId() })
	if len(list) == 0 {
		delete(m.index, k)
	} else {
		m.index[k] = list
	}
	m.count(e, -1)
}

func (m *Matcher) count(e *analystv1.WatchEntry, d int) {
	switch e.GetKind() {
	case analystv1.WatchKind_WATCH_KIND_TEXT:
		m.phraseLens[phraseLen(e.GetNormalized())] += d
		m.texts += d
	case analystv1.WatchKind_WATCH_KIND_HS_ROUTE:
		m.hsRoutes += d
	}
}

func phraseLen(normalized string) int { return min(strings.Count(normalized, " ")+1, MaxPhrase) }

// Get returns the entry with this id, or nil.
func (m *Matcher) Get(id string) *analystv1.WatchEntry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.entries[id]
}

// Len is the number of entries.
func (m *Matcher) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

// Entries returns the entries sorted by id.
func (m *Matcher) Entries() []*analystv1.WatchEntry {
	m.mu.RLock()
	out := make([]*analystv1.WatchEntry, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *analystv1.WatchEntry) int { return strings.Compare(a.GetId(), b.GetId()) })
	return out
}

// Match returns the entries a matches, each once (with the first field it matched),
// in the order of the alert's fields.
func (m *Matcher) Match(a *alertv1.Alert) []Match {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.entries) == 0 {
		return nil
	}
	s := &scan{m: m}
	s.alert(a)
	return s.out
}

// path names an alert field: prefix, then "[i]" when i >= 0, then suffix. The string
// is built only for a hit.
type path struct {
	prefix string
	i      int
	suffix string
}

func at(p string) path { return path{prefix: p, i: -1} }

func (p path) String() string {
	if p.i < 0 {
		return p.prefix + p.suffix
	}
	return p.prefix + "[" + strconv.Itoa(p.i) + "]" + p.suffix
}

// scan walks one alert's fields and looks each up in the index.
type scan struct {
	m    *Matcher
	out  []Match
	seen map[string]bool // entry ids already matched
}

func (s *scan) lookup(kind analystv1.WatchKind, key string, field path, value string) {
	for _, e := range s.m.index[indexKey{kind, key}] {
		if s.seen[e.GetId()] {
			continue
		}
		if s.seen == nil {
			s.seen = map[string]bool{}
		}
		s.seen[e.GetId()] = true
		s.out = append(s.out, Match{Entry: e, Field: field.String(), Value: value})
	}
}

func (s *scan) alert(a *alertv1.Alert) {
	if sz := a.GetSeizure(); sz != nil {
		s.conveyance("alert.seizure.conveyance", sz.GetConveyance())
		for i, c := range sz.GetCompanies() {
			p := path{"alert.seizure.companies", i, ".name"}
			s.company(p, c.GetName())
			if c.GetEori() != "" {
				p.suffix = ".eori"
				s.lookup(analystv1.WatchKind_WATCH_KIND_COMPANY, nameKey(c.GetEori()), p, c.GetEori())
			}
			if c.GetRegistrationNumber() != "" {
				p.suffix = ".registration_number"
				s.lookup(analystv1.WatchKind_WATCH_KIND_COMPANY, nameKey(c.GetRegistrationNumber()), p, c.GetRegistrationNumber())
			}
		}
		for i, pe := range sz.GetPersons() {
			if n := pe.GetDocument().GetNumber(); n != "" {
				s.lookup(analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT, documentKey(n), path{"alert.seizure.persons", i, ".document.number"}, n)
			}
		}
		s.text(at("alert.seizure.concealment"), sz.GetConcealment())
		for i, g := range sz.GetGoods() {
			s.text(path{"alert.seizure.goods", i, ".description"}, g.GetDescription())
			s.text(path{"alert.seizure.goods", i, ".brand"}, g.GetBrand())
			s.text(path{"alert.seizure.goods", i, ".species"}, g.GetSpecies())
			s.text(path{"alert.seizure.goods", i, ".drug_type"}, g.GetDrugType())
		}
	}
	if r := a.GetRisk(); r != nil {
		s.conveyance("alert.risk.conveyance", r.GetConveyance())
		for i, sh := range r.GetShipments() {
			s.container(path{"alert.risk.shipments", i, ".container_number"}, sh.GetContainerNumber())
		}
		for i, in := range r.GetIndicators() {
			switch x := in.GetIndicator().(type) {
			case *alertv1.Indicator_Shipper:
				s.company(path{"alert.risk.indicators", i, ".shipper"}, x.Shipper)
			case *alertv1.Indicator_Consignee:
				s.company(path{"alert.risk.indicators", i, ".consignee"}, x.Consignee)
			}
			s.text(path{"alert.risk.indicators", i, ".description"}, in.GetDescription())
		}
		s.text(at("alert.risk.title"), r.GetTitle())
		s.text(at("alert.risk.modus_operandi"), r.GetModusOperandi())
		s.text(at("alert.risk.concealment"), r.GetConcealment())
	}
	s.hsRoute(a)
}

func (s *scan) conveyance(p string, c *alertv1.Conveyance) {
	if c == nil {
		return
	}
	for i, n := range c.GetContainerNumbers() {
		s.container(path{p + ".container_numbers", i, ""}, n)
	}
	if n := c.GetImoNumber(); n != "" {
		s.lookup(analystv1.WatchKind_WATCH_KIND_IMO, imoKey(n), at(p+".imo_number"), n)
	}
	if n := c.GetVesselName(); n != "" {
		s.lookup(analystv1.WatchKind_WATCH_KIND_VESSEL_NAME, nameKey(n), at(p+".vessel_name"), n)
		s.text(at(p+".vessel_name"), n)
	}
}

func (s *scan) container(field path, n string) {
	if n != "" {
		s.lookup(analystv1.WatchKind_WATCH_KIND_CONTAINER, containerKey(n), field, n)
	}
}

func (s *scan) company(field path, name string) {
	if name != "" {
		s.lookup(analystv1.WatchKind_WATCH_KIND_COMPANY, nameKey(name), field, name)
		s.text(field, name)
	}
}

// text looks up every phrase of the lengths free-text entries have.
func (s *scan) text(field path, v string) {
	if v == "" || s.m.texts == 0 {
		return
	}
	lens := &s.m.phraseLens
	words := Words(v)
	for i := range words {
		if lens[1] > 0 {
			s.lookup(analystv1.WatchKind_WATCH_KIND_TEXT, words[i], field, v)
		}
		for l := 2; l <= MaxPhrase && i+l <= len(words); l++ {
			if lens[l] > 0 {
				s.lookup(analystv1.WatchKind_WATCH_KIND_TEXT, strings.Join(words[i:i+l], " "), field, v)
			}
		}
	}
}

// hsRoute looks up every prefix of every HS code of the alert with every country of
// its route.
func (s *scan) hsRoute(a *alertv1.Alert) {
	if s.m.hsRoutes == 0 {
		return
	}
	countries := alert.RouteCountries(a)
	if len(countries) == 0 {
		return
	}
	check := func(field path, code string) {
		for l := 1; l <= len(code); l++ {
			for _, country := range countries {
				s.lookup(analystv1.WatchKind_WATCH_KIND_HS_ROUTE, code[:l]+":"+country, field, code+" route "+country)
			}
		}
	}
	for i, g := range a.GetSeizure().GetGoods() {
		check(path{"alert.seizure.goods", i, ".hs_code"}, g.GetHsCode())
	}
	r := a.GetRisk()
	for i, c := range r.GetHsCodes() {
		check(path{"alert.risk.hs_codes", i, ""}, c)
	}
	for i, in := range r.GetIndicators() {
		check(path{"alert.risk.indicators", i, ".hs_code"}, in.GetHsCode())
	}
}
