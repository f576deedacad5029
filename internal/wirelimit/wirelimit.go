// Package wirelimit bounds what a protobuf message may hold before it is decoded.
//
// A protobuf message of 1 MiB can hold half a million empty repeated elements, and
// proto.Unmarshal turns each into a Go struct: about 160 MiB for one message. Check walks
// the wire format with protowire (allocating nothing per element) and counts, per
// message, the elements of each repeated field, the elements of the whole message and
// its nesting depth, against Limits; only a message within them is worth decoding.
// Unmarshal is Check followed by proto.Unmarshal, and it names the field of a string that
// is not valid UTF-8 when protobuf refuses one.
package wirelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits bound one message on the wire.
type Limits struct {
	// Repeated is the most elements one repeated field (or map) of one message may hold.
	Repeated int
	// Elements is the most nested messages plus repeated elements in the whole message
	// (fields unknown to this version included).
	Elements int
	// Depth is the deepest nesting of messages and groups; the message itself is 1.
	Depth int
}

// Default is for the payloads and requests of cix: no repeated field of an alert may
// hold more than alert.MaxItems (1,000) elements, and the largest valid alert holds
// about 10,000 elements in all (1,000 goods of 4 messages each, 1,000 persons of 2, and
// the other lists at their maximum). Its schema nests 5 deep.
var Default = Limits{Repeated: 1000, Elements: 32768, Depth: 32}

// Error is a message refused by Check, or one that does not decode.
type Error struct {
	// Field is the path of the field at fault from the message's root, as in
	// "alert.seizure.goods" (the root's name, when given, first); empty when it is not
	// known.
	Field string
	// Reason says what is wrong.
	Reason string
	// Err is protobuf's decoding error, if the refusal is one.
	Err error
}

func (e *Error) Error() string {
	s := e.Reason
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Check refuses b, a serialised message of type md, when it goes beyond l. root, when not
// empty, starts the field paths of its errors. It does not decode anything and
// allocates nothing per element; it does not check what proto.Unmarshal checks (a
// message that passes may still not decode).
func Check(b []byte, md protoreflect.MessageDescriptor, root string, l Limits) error {
	w := walkers.Get().(*walker)
	defer walkers.Put(w)
	w.init(l, root)
	return w.message(b, md, 1)
}

// walkers keeps the walkers' stacks between checks.
var walkers = sync.Pool{New: func() any { return &walker{} }}

// Unmarshal is Check with l, then proto.Unmarshal of b into m. Its errors are *Error;
// a string field that is not valid UTF-8 is named.
func Unmarshal(b []byte, m proto.Message, root string, l Limits) error {
	md := m.ProtoReflect().Descriptor()
	if err := Check(b, md, root, l); err != nil {
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		e := &Error{Field: root, Reason: "does not decode as " + string(md.FullName()), Err: err}
		if strings.Contains(err.Error(), "UTF-8") {
			if f, ok := InvalidUTF8(b, md, root); ok {
				e.Field, e.Reason, e.Err = f, "string field contains invalid UTF-8", nil
			}
		}
		return e
	}
	return nil
}

// InvalidUTF8 returns the path of the first string field of b (a message of type md)
// whose value is not valid UTF-8, if there is one.
func InvalidUTF8(b []byte, md protoreflect.MessageDescriptor, root string) (string, bool) {
	w := walkers.Get().(*walker)
	defer walkers.Put(w)
	w.init(Limits{Repeated: int(^uint(0) >> 1), Elements: int(^uint(0) >> 1), Depth: protowire.DefaultRecursionLimit}, root)
	w.utf8 = true
	err := w.message(b, md, 1)
	var e *Error
	if errors.As(err, &e) && w.badUTF8 {
		return e.Field, true
	}
	return "", false
}

var errTruncated = errors.New("group not closed by its own end")

// frame is one step of the path to the field being walked.
type frame struct {
	name  string
	index int // element index within a repeated field; -1 for none
}

type walker struct {
	l        Limits
	elements int
	// counts holds, for each message being walked, one counter per field (by index),
	// and path the field names down to it: stacks, so walking allocates only while they
	// grow.
	counts  []int
	path    []frame
	utf8    bool
	badUTF8 bool
}

func (w *walker) init(l Limits, root string) {
	w.l, w.elements, w.utf8, w.badUTF8 = l, 0, false, false
	w.counts = w.counts[:0]
	w.path = append(w.path[:0], frame{name: root, index: -1})
}

// where is the path of the field being walked, built only for an error.
func (w *walker) where() string {
	var sb strings.Builder
	for _, f := range w.path {
		if f.name == "" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(f.name)
		if f.index >= 0 {
			sb.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return sb.String()
}

func (w *walker) refuse(format string, args ...any) error {
	return &Error{Field: w.where(), Reason: fmt.Sprintf(format, args...)}
}

func (w *walker) malformed(n int) error {
	return &Error{Field: w.where(), Reason: "not a valid protobuf message", Err: protowire.ParseError(n)}
}

func (w *walker) count(n int) error {
	w.elements += n
	if w.elements > w.l.Elements {
		return w.refuse("the message holds more than %d elements", w.l.Elements)
	}
	return nil
}

// message walks the fields of b, a message of type md at depth d.
func (w *walker) message(b []byte, md protoreflect.MessageDescriptor, d int) error {
	if d > w.l.Depth {
		return w.refuse("nested more than %d deep", w.l.Depth)
	}
	fields := md.Fields()
	base := len(w.counts)
	for range fields.Len() {
		w.counts = append(w.counts, 0)
	}
	defer func() { w.counts = w.counts[:base] }()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return w.malformed(n)
		}
		b = b[n:]
		fd := fields.ByNumber(num)
		if fd == nil || !wireTypeFits(fd, typ) {
			// Unknown to this version (or of another wire type, which protobuf keeps as
			// unknown): counted, skipped without decoding, groups within the depth.
			if err := w.count(1); err != nil {
				return err
			}
			m, err := w.skip(num, typ, b, d)
			if err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		if err := w.field(fd, num, typ, &b, d); err != nil {
			return err
		}
	}
	return nil
}

// field walks the value of a known field at the start of *b and consumes it.
func (w *walker) field(fd protoreflect.FieldDescriptor, num protowire.Number, typ protowire.Type, b *[]byte, d int) error {
	w.path = append(w.path, frame{name: string(fd.Name()), index: -1})
	defer func() { w.path = w.path[:len(w.path)-1] }()
	var v []byte
	var n int
	if typ == protowire.StartGroupType {
		v, n = protowire.ConsumeGroup(num, *b)
	} else {
		n = protowire.ConsumeFieldValue(num, typ, *b)
		if n >= 0 && typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(*b)
		}
	}
	if n < 0 {
		return w.malformed(n)
	}
	*b = (*b)[n:]
	elems := 1
	if fd.IsList() && typ == protowire.BytesType && isPackable(fd.Kind()) {
		elems = packedCount(fd.Kind(), v)
	}
	if fd.IsList() || fd.IsMap() {
		c := &w.counts[len(w.counts)-fd.ContainingMessage().Fields().Len()+fd.Index()]
		if *c+elems > w.l.Repeated {
			return w.refuse("more than %d elements", w.l.Repeated)
		}
		w.path[len(w.path)-1].index = *c
		*c += elems
	}
	switch k := fd.Kind(); {
	case k == protoreflect.MessageKind || k == protoreflect.GroupKind:
		if err := w.count(1); err != nil {
			return err
		}
		return w.message(v, fd.Message(), d+1)
	case fd.IsList():
		if err := w.count(elems); err != nil {
			return err
		}
	}
	if w.utf8 && fd.Kind() == protoreflect.StringKind && !utf8.Valid(v) {
		w.badUTF8 = true
		return w.refuse("invalid UTF-8")
	}
	return nil
}

// skip returns the length of the value of an unknown field, walking groups within the
// depth limit.
func (w *walker) skip(num protowire.Number, typ protowire.Type, b []byte, d int) (int, error) {
	if typ != protowire.StartGroupType {
		n := protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, w.malformed(n)
		}
		return n, nil
	}
	if d+1 > w.l.Depth {
		return 0, w.refuse("nested more than %d deep (field %d, unknown)", w.l.Depth, num)
	}
	total := 0
	for {
		gnum, gtyp, n := protowire.ConsumeTag(b[total:])
		if n < 0 {
			return 0, w.malformed(n)
		}
		total += n
		if gtyp == protowire.EndGroupType {
			if gnum != num {
				return 0, &Error{Field: w.where(), Reason: "not a valid protobuf message", Err: errTruncated}
			}
			return total, nil
		}
		if err := w.count(1); err != nil {
			return 0, err
		}
		m, err := w.skip(gnum, gtyp, b[total:], d+1)
		if err != nil {
			return 0, err
		}
		total += m
	}
}

// wireTypeFits reports whether protobuf decodes a field of fd's kind from typ (anything
// else it keeps as an unknown field).
func wireTypeFits(fd protoreflect.FieldDescriptor, typ protowire.Type) bool {
	k := fd.Kind()
	if fd.IsList() && typ == protowire.BytesType && isPackable(k) {
		return true
	}
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return typ == protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return typ == protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return typ == protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return typ == protowire.BytesType
	case protoreflect.GroupKind:
		return typ == protowire.StartGroupType
	}
	return false
}

func isPackable(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return true
}

// packedCount is the number of elements of a packed field of kind k in v.
func packedCount(k protoreflect.Kind, v []byte) int {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return len(v) / 4
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return len(v) / 8
	}
	n := 0
	for _, c := range v {
		if c < 0x80 {
			n++
		}
	}
	return n
}
