package jsoncompare

import (
	"encoding/json"
	"testing"

	"github.com/closesink/closesink/transform"
)

// candidate is one library doing the transform's and delivery's JSON work.
type candidate struct {
	name string
	// drop validates data like json.Valid and classifies it; ok is false
	// for invalid_event.
	drop func(data []byte) (mapped, ok bool)
	// lead is drop plus reading the fields a lead is built from; ok is
	// false unless data is a valid, mapped event.
	lead func(data []byte) (leadFields, bool)
	// created finds the lead id and first contact id in Close's response.
	created func(body []byte) (leadID, contactID string)
}

var candidates = []candidate{handCandidate, stdCandidate, jsontextCandidate, fastjsonCandidate, gjsonCandidate, sonicCandidate}

// BenchmarkJSON runs every candidate on the same inputs in one run: the
// hand-written reference (frozen copies of the scanners in transform and
// delivery before this change), the five libraries, the same-run baseline
// of the transform's own benchmark (json.Unmarshal into map[string]any) and
// transform.Transform as the service now runs it:
//
//	go test -run '^$' -bench JSON -benchmem -count 5 . | tee bench.txt
func BenchmarkJSON(b *testing.B) {
	tr, err := transform.New(transform.Config{LeadStatusID: "stat_bench"})
	if err != nil {
		b.Fatal(err)
	}
	full, noPhone := leadInputs()
	for _, bc := range []struct {
		name  string
		input []byte
		kind  transform.Kind
	}{
		{"page_view", benchPageView, transform.KindDropped},
		{"non_lead_track", benchNonLeadTrack, transform.KindDropped},
		{"full_lead", full, transform.KindLead},
		{"full_lead_no_phone", noPhone, transform.KindLead},
	} {
		b.Run(bc.name+"/baseline_json_unmarshal", func(b *testing.B) { benchMap(b, bc.input) })
		// What the service runs now: transform.Transform, built on jsontext.
		b.Run(bc.name+"/transform_pkg", func(b *testing.B) {
			if r := tr.Transform(bc.input); r.Kind != bc.kind {
				b.Fatalf("kind %v, want %v", r.Kind, bc.kind)
			}
			b.ReportAllocs()
			for b.Loop() {
				tr.Transform(bc.input)
			}
		})
		for _, c := range candidates {
			b.Run(bc.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				if bc.kind == transform.KindDropped {
					if mapped, ok := c.drop(bc.input); mapped || !ok {
						b.Fatalf("mapped %v ok %v", mapped, ok)
					}
					for b.Loop() {
						c.drop(bc.input)
					}
					return
				}
				if f, ok := c.lead(bc.input); !ok || finish(&f) == nil {
					b.Fatal("no lead")
				}
				for b.Loop() {
					f, _ := c.lead(bc.input)
					finish(&f)
				}
			})
		}
	}
	b.Run("created_lead_response/baseline_json_unmarshal", func(b *testing.B) { benchMap(b, benchCreated) })
	for _, c := range candidates {
		b.Run("created_lead_response/"+c.name, func(b *testing.B) {
			if l, ct := c.created(benchCreated); l == "" || ct != "cont_x" {
				b.Fatalf("ids %q %q", l, ct)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.created(benchCreated)
			}
		})
	}
}

func benchMap(b *testing.B, input []byte) {
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(input, &v); err != nil {
			b.Fatal(err)
		}
	}
}
