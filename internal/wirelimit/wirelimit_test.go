package wirelimit_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/synth"
	"github.com/cix-exchange/cix/internal/wirelimit"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withGoods is a valid seizure with n goods in all (the extra ones empty).
func withGoods(n int) *alertv1.Alert {
	a := synth.ValidSeizure()
	for len(a.GetSeizure().GetGoods()) < n {
		a.GetSeizure().Goods = append(a.GetSeizure().Goods, &alertv1.Goods{})
	}
	return a
}

// wantRefusal: err is a refusal of a field whose path starts with field, for reason.
func wantRefusal(t *testing.T, err error, field, reason string) {
	t.Helper()
	var e *wirelimit.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v, want a *wirelimit.Error", err)
	}
	if !strings.HasPrefix(e.Field, field) || !strings.Contains(e.Reason, reason) {
		t.Fatalf("refused %q for %q, want %q for %q", e.Field, e.Reason, field, reason)
	}
	t.Log(err)
}

// TestValidMessagesPass: the example alerts, an alert with the most goods validation
// allows and a request around one decode as they would without the check.
func TestValidMessagesPass(t *testing.T) {
	max := withGoods(1000)
	for _, g := range max.GetSeizure().GetGoods() {
		g.QuantityDeclared, g.QuantityFound, g.Value = &alertv1.Quantity{}, &alertv1.Quantity{}, &alertv1.Money{}
	}
	for name, a := range map[string]*alertv1.Alert{"seizure": synth.ValidSeizure(), "risk": synth.ValidRisk(), "1000 full goods": max} {
		got := &alertv1.Alert{}
		if err := wirelimit.Unmarshal(marshal(t, a), got, "alert", wirelimit.Default); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(got, a) {
			t.Fatalf("%s: decoded differently", name)
		}
	}
	req := &nodev1.PublishRequest{Alert: synth.ValidRisk()}
	if err := wirelimit.Unmarshal(marshal(t, req), &nodev1.PublishRequest{}, "", wirelimit.Default); err != nil {
		t.Fatal(err)
	}
}

// TestHugeRepeatedFieldRefusedBeforeDecoding: ~480,000 empty goods (1 MiB, the envelope
// maximum) are refused naming the field, and nothing is decoded: the message given to
// Unmarshal stays empty and the check allocates the same few objects as for a small
// message, where decoding would allocate one struct per element.
func TestHugeRepeatedFieldRefusedBeforeDecoding(t *testing.T) {
	b := marshal(t, withGoods(480000))
	if len(b) > 1<<20 {
		t.Fatalf("%d bytes", len(b))
	}
	got := &alertv1.Alert{}
	err := wirelimit.Unmarshal(b, got, "alert", wirelimit.Default)
	wantRefusal(t, err, "alert.seizure.goods", "more than 1000 elements")
	if got.GetSeizure() != nil || proto.Size(got) != 0 {
		t.Fatal("the refused message was decoded")
	}
	md := got.ProtoReflect().Descriptor()
	huge := testing.AllocsPerRun(5, func() { _ = wirelimit.Check(b, md, "alert", wirelimit.Default) })
	small := testing.AllocsPerRun(5, func() { _ = wirelimit.Check(marshal(t, withGoods(1001)), md, "alert", wirelimit.Default) })
	decode := testing.AllocsPerRun(1, func() { _ = proto.Unmarshal(b, &alertv1.Alert{}) })
	t.Logf("allocations: check of 480,000 goods %.0f, of 1,001 goods %.0f (marshalling included); decoding %.0f", huge, small, decode)
	if huge > 64 || decode < 480000 {
		t.Fatalf("the check allocated %.0f times for 480,000 elements (decoding %.0f)", huge, decode)
	}
	// A limit of 1,000 refuses 1,001 and accepts 1,000.
	wantRefusal(t, wirelimit.Check(marshal(t, withGoods(1001)), md, "alert", wirelimit.Default), "alert.seizure.goods", "more than 1000")
	if err := wirelimit.Check(marshal(t, withGoods(1000)), md, "alert", wirelimit.Default); err != nil {
		t.Fatal(err)
	}
}

// TestLimits: each limit refuses, naming where.
func TestLimits(t *testing.T) {
	md := (&alertv1.Alert{}).ProtoReflect().Descriptor()
	t.Run("elements of the whole message", func(t *testing.T) {
		b := marshal(t, withGoods(300))
		err := wirelimit.Check(b, md, "alert", wirelimit.Limits{Repeated: 1000, Elements: 200, Depth: 32})
		wantRefusal(t, err, "alert.seizure.goods[", "more than 200 elements")
	})
	t.Run("unknown fields count", func(t *testing.T) {
		b := marshal(t, synth.ValidSeizure())
		for range 40000 {
			b = protowire.AppendTag(b, 999, protowire.VarintType)
			b = protowire.AppendVarint(b, 0)
		}
		wantRefusal(t, wirelimit.Check(b, md, "alert", wirelimit.Default), "alert", "more than 32768 elements")
	})
	t.Run("packed elements count one by one", func(t *testing.T) {
		a := synth.ValidSeizure()
		for range 1001 {
			a.GetSeizure().OffenceTypes = append(a.GetSeizure().OffenceTypes, alertv1.OffenceType(1))
		}
		wantRefusal(t, wirelimit.Check(marshal(t, a), md, "alert", wirelimit.Default), "alert.seizure.offence_types", "more than 1000")
	})
	t.Run("repeated strings", func(t *testing.T) {
		a := synth.ValidSeizure()
		a.GetSeizure().Route = &alertv1.Route{TransitCountries: make([]string, 1001)}
		wantRefusal(t, wirelimit.Check(marshal(t, a), md, "alert", wirelimit.Default), "alert.seizure.route.transit_countries", "more than 1000")
	})
	t.Run("counted per message, not per field name", func(t *testing.T) {
		req := &nodev1.PublishRequest{Alert: withGoods(800)}
		b := marshal(t, req)
		if err := wirelimit.Check(b, req.ProtoReflect().Descriptor(), "", wirelimit.Default); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("deep nesting of unknown groups", func(t *testing.T) {
		b := append(marshal(t, synth.ValidSeizure()), bytes.Repeat([]byte{0xfb, 0x3e}, 100000)...) // start group of unknown field 1007
		wantRefusal(t, wirelimit.Check(b, md, "alert", wirelimit.Default), "alert", "nested more than 32 deep")
	})
	t.Run("nesting within the depth", func(t *testing.T) {
		var b []byte
		for range 10 {
			b = protowire.AppendTag(b, 999, protowire.StartGroupType)
		}
		for range 10 {
			b = protowire.AppendTag(b, 999, protowire.EndGroupType)
		}
		if err := wirelimit.Check(b, md, "alert", wirelimit.Default); err != nil {
			t.Fatal(err)
		}
		got := &alertv1.Alert{}
		if err := wirelimit.Unmarshal(b, got, "alert", wirelimit.Default); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("depth of known messages", func(t *testing.T) {
		err := wirelimit.Check(marshal(t, synth.ValidSeizure()), md, "alert", wirelimit.Limits{Repeated: 1000, Elements: 1000, Depth: 2})
		wantRefusal(t, err, "alert.", "nested more than 2 deep")
	})
	t.Run("truncated", func(t *testing.T) {
		b := marshal(t, synth.ValidSeizure())
		var e *wirelimit.Error
		if err := wirelimit.Unmarshal(b[:len(b)-3], &alertv1.Alert{}, "alert", wirelimit.Default); !errors.As(err, &e) {
			t.Fatalf("%v", err)
		} else {
			t.Log(err)
		}
	})
	t.Run("envelope signatures", func(t *testing.T) {
		env := &envelopev1.Envelope{PayloadType: "x"}
		for range 1001 {
			env.Signatures = append(env.Signatures, &envelopev1.Signature{})
		}
		wantRefusal(t, wirelimit.Check(marshal(t, env), env.ProtoReflect().Descriptor(), "", wirelimit.Default), "signatures", "more than 1000")
	})
}

// TestInvalidUTF8Named: a string that is not UTF-8 is named by its path.
func TestInvalidUTF8Named(t *testing.T) {
	for _, tc := range []struct {
		edit  func(a *alertv1.Alert)
		field string
	}{
		{func(a *alertv1.Alert) { a.NationalCaseReference = "UTF8-MARKER" }, "alert.national_case_reference"},
		{func(a *alertv1.Alert) { a.GetSeizure().GetGoods()[0].Description = "UTF8-MARKER" }, "alert.seizure.goods[0].description"},
		{func(a *alertv1.Alert) {
			a.GetSeizure().Route = &alertv1.Route{TransitCountries: []string{"DE", "UTF8-MARKER"}}
		}, "alert.seizure.route.transit_countries[1]"},
	} {
		a := synth.ValidSeizure()
		tc.edit(a)
		b := bytes.Replace(marshal(t, a), []byte("UTF8-MARKER"), []byte("UTF8-\xff\xfeRKER"), 1)
		err := wirelimit.Unmarshal(b, &alertv1.Alert{}, "alert", wirelimit.Default)
		wantRefusal(t, err, tc.field, "invalid UTF-8")
	}
}

// FuzzCheck: Check never panics, and whatever it lets through decodes as proto.Unmarshal
// alone would; Unmarshal's refusals are *Error.
func FuzzCheck(f *testing.F) {
	f.Add(marshal(f, synth.ValidSeizure()))
	f.Add(marshal(f, synth.ValidRisk()))
	f.Add(marshal(f, withGoods(1001)))
	f.Add(append(marshal(f, synth.ValidSeizure()), bytes.Repeat([]byte{0xfb, 0x3e}, 40)...))
	f.Add([]byte{0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := &alertv1.Alert{}
		err := wirelimit.Unmarshal(b, got, "alert", wirelimit.Default)
		var e *wirelimit.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("%T %v", err, err)
		}
		plain := &alertv1.Alert{}
		perr := proto.Unmarshal(b, plain)
		if err == nil && (perr != nil || !proto.Equal(got, plain)) {
			t.Fatalf("passed, but plain decoding: %v", perr)
		}
		if err != nil && e.Err == nil && perr == nil && !strings.Contains(e.Reason, "more than") && !strings.Contains(e.Reason, "nested") {
			t.Fatalf("refused %v, which decodes", err)
		}
	})
}

// BenchmarkCheck is the cost the check adds to decoding a typical alert
// (BenchmarkUnmarshalAlone).
func BenchmarkCheck(b *testing.B) {
	raw := marshal(b, synth.ValidSeizure())
	md := (&alertv1.Alert{}).ProtoReflect().Descriptor()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := wirelimit.Check(raw, md, "alert", wirelimit.Default); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalAlone(b *testing.B) {
	raw := marshal(b, synth.ValidSeizure())
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := proto.Unmarshal(raw, &alertv1.Alert{}); err != nil {
			b.Fatal(err)
		}
	}
}
