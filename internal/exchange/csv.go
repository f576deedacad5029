package exchange

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cix-exchange/cix/internal/alert"
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// KindColumn is the column naming the body of a row.
const KindColumn = "kind"

// Columns are the CSV columns, in the order of an export.
var Columns = append([]string{
	"id", KindColumn, "version", "supersedes", "origin.administration", "origin.office", "origin.node", "issued_at",
	"handling.tlp", "handling.code", "handling.restrictions", "handling.personal_data", "handling.legal_basis",
	"handling.operation_id", "grading.source_reliability", "grading.information_accuracy", "national_case_reference",
	"seizure.seized_at", "seizure.location_type", "seizure.location", "seizure.customs_office", "seizure.direction",
	"seizure.offence_types", "seizure.detection_method", "seizure.concealment",
}, concat(
	prefixed("seizure.goods[].", "commodity_group", "description", "hs_code", "brand", "species", "drug_type", "drug_form",
		"quantity_declared.amount", "quantity_declared.unit", "quantity_found.amount", "quantity_found.unit",
		"value.amount", "value.currency"),
	conveyanceColumns("seizure.conveyance."),
	routeColumns("seizure.route."),
	prefixed("seizure.persons[].", "role", "family_name", "given_names", "birth_date", "nationality",
		"document.type", "document.number", "document.issuing_country"),
	prefixed("seizure.companies[].", "role", "name", "registration_number", "eori", "country"),
	prefixed("seizure.follow_up.", "goods_held_at", "investigation_status", "arrests", "controlled_delivery", "related_alert_ids"),
	prefixed("risk.", "type", "title", "valid_until", "urgency", "commodity_groups", "hs_codes", "modus_operandi", "concealment"),
	routeColumns("risk.route."),
	conveyanceColumns("risk.conveyance."),
	[]string{"risk.ports_of_interest"},
	prefixed("risk.indicators[].", "hs_code", "shipper", "consignee", "container_prefix", "description"),
	prefixed("risk.shipments[].", "container_number", "bill_of_lading", "air_waybill", "flight_number", "eta"),
	prefixed("risk.", "requested_action", "feedback_required", "feedback_due", "evidence_links", "original_language", "status"),
)...)

func prefixed(p string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}

func conveyanceColumns(p string) []string {
	return append(prefixed(p, "mode", "flight_number", "vessel_name", "imo_number", "vehicle_registration", "container_numbers"),
		prefixed(p+"transport_documents[].", "type", "number")...)
}

func routeColumns(p string) []string {
	return prefixed(p, "country_of_origin", "country_of_departure", "transit_countries", "country_of_destination", "places")
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// column is a compiled column: the fields from the alert to the value. At most one
// step is a list: a repeated message (aligned items) or the repeated leaf.
type column struct {
	name  string
	steps []protoreflect.FieldDescriptor
	list  int // index of the repeated step, -1 for none
}

var columnIndex = func() map[string]*column {
	m := map[string]*column{}
	desc := (&alertv1.Alert{}).ProtoReflect().Descriptor()
	for _, name := range Columns {
		if name == KindColumn {
			continue
		}
		c := &column{name: name, list: -1}
		md := desc
		for _, part := range strings.Split(name, ".") {
			part = strings.TrimSuffix(part, "[]")
			if md == nil || md.Fields().ByName(protoreflect.Name(part)) == nil {
				panic("exchange: no field " + part + " in column " + name)
			}
			fd := md.Fields().ByName(protoreflect.Name(part))
			if fd.IsList() {
				if c.list >= 0 {
					panic("exchange: two lists in column " + name)
				}
				c.list = len(c.steps)
			}
			c.steps = append(c.steps, fd)
			md = fd.Message()
		}
		m[name] = c
	}
	return m
}()

// body is the alert body a column belongs to ("seizure", "risk"), or "".
func (c *column) body() string {
	if c.steps[0].ContainingOneof() != nil {
		return string(c.steps[0].Name())
	}
	return ""
}

// get renders the column's value in a.
func (c *column) get(a *alertv1.Alert) string {
	return c.getFrom(a.ProtoReflect(), 0)
}

func (c *column) getFrom(m protoreflect.Message, i int) string {
	fd := c.steps[i]
	last := i == len(c.steps)-1
	if fd.IsList() {
		l := m.Get(fd).List()
		items := make([]string, l.Len())
		for j := range items {
			if last {
				items[j] = formatValue(fd, l.Get(j))
			} else {
				items[j] = c.getFrom(l.Get(j).Message(), i+1)
			}
		}
		return joinList(items)
	}
	if !m.Has(fd) {
		return ""
	}
	if last {
		return formatValue(fd, m.Get(fd))
	}
	return c.getFrom(m.Get(fd).Message(), i+1)
}

// set parses cell into a. Errors name the field of the alert.
func (c *column) set(a *alertv1.Alert, cell string) error {
	return c.setIn(a.ProtoReflect(), 0, "alert", cell)
}

func (c *column) setIn(m protoreflect.Message, i int, path, cell string) error {
	fd := c.steps[i]
	path += "." + string(fd.Name())
	last := i == len(c.steps)-1
	if fd.IsList() {
		items, err := splitList(cell)
		if err != nil {
			return &fieldError{path, err.Error()}
		}
		l := m.Mutable(fd).List()
		for j, item := range items {
			p := path + "[" + strconv.Itoa(j) + "]"
			if last {
				v, err := parseValue(fd, item)
				if err != nil {
					return &fieldError{p, err.Error()}
				}
				l.Append(v)
				continue
			}
			for l.Len() <= j {
				l.Append(l.NewElement())
			}
			if item == "" {
				continue
			}
			if err := c.setIn(l.Get(j).Message(), i+1, p, item); err != nil {
				return err
			}
		}
		return nil
	}
	if last {
		v, err := parseValue(fd, cell)
		if err != nil {
			return &fieldError{path, err.Error()}
		}
		m.Set(fd, v)
		return nil
	}
	return c.setIn(m.Mutable(fd).Message(), i+1, path, cell)
}

const timestampName = "google.protobuf.Timestamp"

func formatValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return strconv.Itoa(int(v.Enum()))
		}
		return strings.ToLower(strings.TrimPrefix(string(ev.Name()), enumPrefix(fd.Enum())))
	case protoreflect.MessageKind:
		if fd.Message().FullName() == timestampName {
			ts := v.Message().Interface().(*timestamppb.Timestamp)
			return ts.AsTime().UTC().Format(time.RFC3339Nano)
		}
	case protoreflect.DoubleKind:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	}
	return v.String()
}

// enumPrefix is the prefix of an enum's value names: "TLP_" for TLP_UNSPECIFIED.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	return strings.TrimSuffix(string(ed.Values().ByNumber(0).Name()), "UNSPECIFIED")
}

func parseValue(fd protoreflect.FieldDescriptor, s string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(strings.ToLower(s))
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not true or false", clip(s))
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Uint32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a whole number", clip(s))
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Int32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a whole number", clip(s))
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a number", clip(s))
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.EnumKind:
		ed := fd.Enum()
		name := strings.ToUpper(strings.NewReplacer("+", "_", "-", "_", " ", "_").Replace(strings.TrimSpace(s)))
		ev := ed.Values().ByName(protoreflect.Name(enumPrefix(ed) + name))
		if ev == nil {
			ev = ed.Values().ByName(protoreflect.Name(name))
		}
		if ev == nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not one of %s", clip(s), enumNames(ed))
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil
	case protoreflect.MessageKind:
		if fd.Message().FullName() == timestampName {
			t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
			if err != nil {
				return protoreflect.Value{}, fmt.Errorf("%q is not an RFC 3339 time", clip(s))
			}
			return protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()), nil
		}
	}
	return protoreflect.Value{}, fmt.Errorf("field of kind %s has no CSV form", fd.Kind())
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	var names []string
	for i := 1; i < ed.Values().Len(); i++ {
		names = append(names, strings.ToLower(strings.TrimPrefix(string(ed.Values().Get(i).Name()), enumPrefix(ed))))
	}
	return strings.Join(names, ", ")
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// joinList joins items with ";", escaping ";" and "\" in them.
func joinList(items []string) string {
	if len(items) == 0 {
		return ""
	}
	r := strings.NewReplacer(`\`, `\\`, ";", `\;`)
	for i, it := range items {
		items[i] = r.Replace(it)
	}
	return strings.Join(items, ";")
}

// splitList is the inverse of joinList. An empty cell is an empty list.
func splitList(cell string) ([]string, error) {
	if cell == "" {
		return nil, nil
	}
	var items []string
	var b strings.Builder
	for i := 0; i < len(cell); i++ {
		switch c := cell[i]; c {
		case '\\':
			if i+1 == len(cell) {
				return nil, errors.New(`a "\" ends the value: write "\\" for a backslash`)
			}
			i++
			b.WriteByte(cell[i])
		case ';':
			items = append(items, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(items, strings.TrimSpace(b.String())), nil
}

// fieldError is a cell that does not convert into its field.
type fieldError struct{ field, reason string }

func (e *fieldError) Error() string { return e.field + ": " + e.reason }

// WriteCSVHeader writes the header row.
func WriteCSVHeader(w *csv.Writer) error { return w.Write(Columns) }

// WriteCSV writes one alert as a row of Columns. Risk indicators without columns
// (routes, value thresholds) are left out.
func WriteCSV(w *csv.Writer, a *alertv1.Alert) error {
	a = withoutRowlessIndicators(a)
	row := make([]string, len(Columns))
	for i, name := range Columns {
		if name == KindColumn {
			row[i] = alert.KindName(alert.Kind(a))
			continue
		}
		row[i] = columnIndex[name].get(a)
	}
	return w.Write(row)
}

// withoutRowlessIndicators returns a, or a copy without the indicators CSV has no
// columns for.
func withoutRowlessIndicators(a *alertv1.Alert) *alertv1.Alert {
	ins := a.GetRisk().GetIndicators()
	keep := slices.DeleteFunc(slices.Clone(ins), func(in *alertv1.Indicator) bool {
		switch in.GetIndicator().(type) {
		case *alertv1.Indicator_Route, *alertv1.Indicator_ValueThreshold:
			return true
		}
		return false
	})
	if len(keep) == len(ins) {
		return a
	}
	c := proto.Clone(a).(*alertv1.Alert)
	c.GetRisk().Indicators = keep
	return c
}

// Row is one decoded row of an import: an alert, or the reasons it could not be read.
type Row struct {
	// N is the row number: the line of a JSON lines file, the record of a CSV file
	// counting the header as 1.
	N      int
	Alert  *alertv1.Alert
	Errors []RowError
	// Header is set on the errors of a CSV header: no data row was read.
	Header bool
}

// RowError is why one row was refused.
type RowError struct {
	Row    int
	Field  string // path of the field, "" for the row as a whole
	Reason string
}

// Limits of an import.
const (
	MaxImportBytes = 64 << 20
	MaxImportRows  = 100_000
)

// ReadCSV reads CSV with a header row of Columns (comma or semicolon separated, as a
// spreadsheet saves it) and returns its rows. A header naming an unknown column, or
// CSV that cannot be parsed, is reported as an error of the row where it happens, and
// nothing after it is read.
func ReadCSV(r io.Reader) []Row {
	br := newPeekReader(r)
	cr := csv.NewReader(br)
	cr.Comma = br.delimiter()
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return []Row{{N: 1, Header: true, Errors: []RowError{{Row: 1, Reason: "empty file: a header row is required"}}}}
		}
		return []Row{{N: 1, Header: true, Errors: []RowError{{Row: 1, Reason: "unreadable header: " + err.Error()}}}}
	}
	cols := make([]*column, len(header))
	kindAt := -1
	seen := map[string]bool{}
	var herrs []RowError
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		switch {
		case seen[h]:
			herrs = append(herrs, RowError{Row: 1, Field: h, Reason: "column appears twice"})
		case h == KindColumn:
			kindAt = i
		case columnIndex[h] == nil:
			herrs = append(herrs, RowError{Row: 1, Field: h, Reason: "unknown column (see the columns of a CSV export)"})
		default:
			cols[i] = columnIndex[h]
		}
		seen[h] = true
	}
	if len(herrs) > 0 {
		return []Row{{N: 1, Header: true, Errors: herrs}}
	}
	var rows []Row
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			return append(rows, Row{N: n, Errors: []RowError{{Row: n, Reason: "unreadable CSV: " + err.Error() + "; not read further"}}})
		}
		if len(rows) == MaxImportRows {
			return append(rows, Row{N: n, Errors: []RowError{{Row: n, Reason: fmt.Sprintf("more than %d rows; not read further", MaxImportRows)}}})
		}
		rows = append(rows, csvRow(n, rec, cols, kindAt))
	}
}

// csvRow decodes one record.
func csvRow(n int, rec []string, cols []*column, kindAt int) Row {
	row := Row{N: n}
	if len(rec) != len(cols) {
		row.Errors = []RowError{{Row: n, Reason: fmt.Sprintf("%d cells, the header has %d", len(rec), len(cols))}}
		return row
	}
	a := &alertv1.Alert{}
	kind := ""
	if kindAt >= 0 {
		kind = strings.ToLower(strings.TrimSpace(rec[kindAt]))
		if k, ok := alert.ParseKind(kind); !ok && kind != "" {
			row.Errors = append(row.Errors, RowError{Row: n, Field: KindColumn, Reason: fmt.Sprintf("%q is not seizure or risk", clip(kind))})
			kind = ""
		} else if ok {
			kind = alert.KindName(k)
		}
	}
	for i, c := range cols {
		cell := strings.TrimSpace(rec[i])
		if c == nil || cell == "" {
			continue
		}
		if b := c.body(); b != "" {
			if kind == "" {
				kind = b
			}
			if b != kind {
				row.Errors = append(row.Errors, RowError{Row: n, Field: "alert." + strings.ReplaceAll(c.name, "[]", ""), Reason: "a " + b + " column in a " + kind + " row"})
				continue
			}
		}
		if err := c.set(a, cell); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				row.Errors = append(row.Errors, RowError{Row: n, Field: fe.field, Reason: fe.reason})
			} else {
				row.Errors = append(row.Errors, RowError{Row: n, Field: c.name, Reason: err.Error()})
			}
		}
	}
	switch kind {
	case "seizure":
		if a.GetSeizure() == nil {
			a.Body = &alertv1.Alert_Seizure{Seizure: &alertv1.SeizureAlert{}}
		}
	case "risk":
		if a.GetRisk() == nil {
			a.Body = &alertv1.Alert_Risk{Risk: &alertv1.RiskAlert{}}
		}
	}
	if len(row.Errors) == 0 {
		row.Alert = a
	}
	return row
}

// peekReader is the input with its first line available before it is parsed.
type peekReader struct{ *bufio.Reader }

func newPeekReader(r io.Reader) peekReader { return peekReader{bufio.NewReaderSize(r, 64<<10)} }

// delimiter is ';' when the header line has semicolons and no comma (as spreadsheets
// save CSV in locales with a decimal comma), else ','.
func (p peekReader) delimiter() rune {
	b, _ := p.Peek(64 << 10)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if !bytes.ContainsRune(b, ',') && bytes.ContainsRune(b, ';') {
		return ';'
	}
	return ','
}
