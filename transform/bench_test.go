package transform

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// benchPageView is a realistic page view as Signal delivers it: most of a
// topic looks like this, and it must be dropped without a decode.
var benchPageView = []byte(`{"type":"page","name":"Pricing","messageId":"a1b2c3d4-e5f6-7890-abcd-ef1234567890",` +
	`"timestamp":"2026-11-25T14:30:00.000Z","anonymousId":"anon_a1b2c3d4",` +
	`"properties":{"path":"/pricing","referrer":"https://www.google.com/","search":"","title":"Pricing","url":"https://example.com/pricing"},` +
	`"context":{"ip":"203.0.113.7","locale":"en-GB","page":{"url":"https://example.com/pricing","path":"/pricing","title":"Pricing","referrer":"https://www.google.com/"},` +
	`"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",` +
	`"consent":{"analytics":true,"marketing":false}}}`)

// benchNonLeadTrack is an identified track event that is not in the list;
// it carries traits, so skipping it must not touch them.
var benchNonLeadTrack = []byte(`{"type":"track","event":"Product Viewed","messageId":"b2c3d4e5-f6a7-8901-bcde-f12345678901",` +
	`"timestamp":"2026-11-25T14:31:00.000Z","userId":"user-123","anonymousId":"anon_a1b2c3d4",` +
	`"properties":{"product_id":"sku-42","name":"Pro plan","price":49.0,"currency":"USD"},` +
	`"traits":{"email":"jane.doe@acme.com","phone":"+44 7700 900123","firstName":"Jane","lastName":"Doe","title":"Head of Growth","company":"Acme Inc"},` +
	`"context":{"page":{"url":"https://example.com/pricing","path":"/pricing","title":"Pricing"},"consent":{"analytics":true,"marketing":true}}}`)

func BenchmarkTransform(b *testing.B) {
	fullLead, err := os.ReadFile(filepath.Join("testdata", "events", "seed_lead_submitted.json"))
	if err != nil {
		b.Fatal(err)
	}
	// The same lead without its phone shows what phonenumbers.Parse costs
	// (most of a lead's time: its regular expressions).
	noPhone := bytes.Replace(fullLead, []byte(`"phone": "+44 7700 900123",`), nil, 1)
	if bytes.Equal(noPhone, fullLead) {
		b.Fatal("fixture changed: phone trait not found")
	}
	tr := mustNew(b, Config{LeadStatusID: seedStatusID})
	for _, bc := range []struct {
		name  string
		input []byte
		kind  Kind
	}{
		{"page_view", benchPageView, KindDropped},
		{"non_lead_track", benchNonLeadTrack, KindDropped},
		{"full_lead", fullLead, KindLead},
		{"full_lead_no_phone", noPhone, KindLead},
	} {
		// Baseline, measured in the same run: what a plain full decode of
		// the same bytes costs (what "drop without a full decode" avoids).
		b.Run("baseline_json_unmarshal/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.input)))
			for b.Loop() {
				var v map[string]any
				if err := json.Unmarshal(bc.input, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name, func(b *testing.B) {
			if r := tr.Transform(bc.input); r.Kind != bc.kind {
				b.Fatalf("kind %v, want %v (%v)", r.Kind, bc.kind, r.Err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.input)))
			for b.Loop() {
				tr.Transform(bc.input)
			}
		})
	}
}

// BenchmarkFastPath measures, in the same run, the default transform (a
// record that cannot be a lead is dropped no_mapped_name without parsing)
// against StrictJSON (every record validated in full, dropped not_mapped)
// on the non-lead records most of a topic is made of. Compare
// <case>/fast with <case>/strict.
func BenchmarkFastPath(b *testing.B) {
	fast := mustNew(b, Config{LeadStatusID: seedStatusID})
	strict := mustNew(b, Config{LeadStatusID: seedStatusID, StrictJSON: true})
	for _, bc := range []struct {
		name  string
		input []byte
	}{
		{"page_view", benchPageView},
		{"non_lead_track", benchNonLeadTrack},
	} {
		for _, m := range []struct {
			name string
			tr   *Transformer
			drop DropReason
		}{{"fast", fast, DropNoMappedName}, {"strict", strict, DropNotMapped}} {
			b.Run(bc.name+"/"+m.name, func(b *testing.B) {
				if r := m.tr.Transform(bc.input); r.Kind != KindDropped || r.Drop != m.drop {
					b.Fatalf("got %v %q, want dropped %q", r.Kind, r.Drop, m.drop)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(bc.input)))
				for b.Loop() {
					m.tr.Transform(bc.input)
				}
			})
		}
	}
}
