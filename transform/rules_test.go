package transform

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// event builds a mapped track event with the given traits and consent JSON.
func event(traitsJSON, consentJSON string) []byte {
	return fmt.Appendf(nil, `{"type":"track","event":"Lead Submitted","traits":%s,"context":{"consent":%s}}`, traitsJSON, consentJSON)
}

// TestOrderOfChecks pins the full path's order, so it runs with StrictJSON;
// the fast path comes before all of it (TestFastPathComesFirst).
func TestOrderOfChecks(t *testing.T) {
	tr := mustNew(t, Config{StrictJSON: true})
	cases := []struct {
		name  string
		input string
		kind  Kind
		drop  DropReason
	}{
		{"invalid JSON beats everything", `{"type":"track","event":"Lead Submitted"`, KindInvalid, ""},
		{"wrong traits type beats not_mapped", `{"type":"page","traits":"x"}`, KindInvalid, ""},
		{"not_mapped beats no_email", `{"type":"track","event":"Other","traits":{}}`, KindDropped, DropNotMapped},
		{"not_mapped beats a malformed email", `{"type":"identify","traits":{"email":"nope"}}`, KindDropped, DropNotMapped},
		{"not_mapped beats bad context.traits", `{"type":"page","context":{"traits":5}}`, KindDropped, DropNotMapped},
		{"no_email beats no_consent", string(event(`{}`, `{}`)), KindDropped, DropNoEmail},
		{"malformed email beats no_consent", string(event(`{"email":"a@"}`, `{}`)), KindInvalid, ""},
		{"no_consent last", string(event(`{"email":"a@b.co"}`, `{"marketing":false}`)), KindDropped, DropNoConsent},
		{"all good", string(event(`{"email":"a@b.co"}`, `{"marketing":true}`)), KindLead, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tr.Transform([]byte(tc.input))
			checkResultShape(t, r)
			if r.Kind != tc.kind || r.Drop != tc.drop {
				t.Fatalf("got %v/%q (err %v), want %v/%q", r.Kind, r.Drop, r.Err, tc.kind, tc.drop)
			}
		})
	}
}

func TestConsentShapes(t *testing.T) {
	cases := []struct {
		consent  string
		category string
		granted  bool
	}{
		{`{"marketing":true}`, "", true},
		{`{"categories":{"marketing":true}}`, "", true},
		{`{"canonical":{"marketing":true}}`, "", true},
		{`{"marketing":false,"canonical":{"marketing":true}}`, "", true},
		{`{"marketing":false}`, "", false},
		{`{"marketing":"true"}`, "", false},
		{`{"marketing":1}`, "", false},
		{`{"marketing":null}`, "", false},
		{`{"marketing":{"granted":true}}`, "", false},
		{`{"Marketing":true}`, "", false},
		{`{"categories":{"marketing":false},"canonical":{"marketing":false}}`, "", false},
		{`{"categories":true,"canonical":[true]}`, "", false},
		{`{"analytics":true}`, "", false},
		{`{}`, "", false},
		{`null`, "", false},
		{`"marketing"`, "", false},
		{`[true]`, "", false},
		{`{"marketing":true,"marketing":false}`, "", false}, // last duplicate wins
		{`{"C0004":true}`, "C0004", true},
		{`{"categories":{"C0004":true}}`, "C0004", true},
		{`{"marketing":true}`, "advertising", false},
		{`{"categories":true}`, "categories", true}, // a category may be named like a shape
	}
	for _, tc := range cases {
		t.Run(tc.category+tc.consent, func(t *testing.T) {
			tr := mustNew(t, Config{ConsentCategory: tc.category})
			r := tr.Transform(event(`{"email":"a@b.co"}`, tc.consent))
			if got := r.Kind == KindLead; got != tc.granted {
				t.Fatalf("granted=%v, want %v (result %v %q %v)", got, tc.granted, r.Kind, r.Drop, r.Err)
			}
			if !tc.granted && r.Drop != DropNoConsent {
				t.Fatalf("drop %q, want no_consent", r.Drop)
			}
		})
	}
	t.Run("no context at all", func(t *testing.T) {
		r := mustNew(t, Config{}).Transform([]byte(`{"type":"track","event":"Signed Up","traits":{"email":"a@b.co"}}`))
		if r.Drop != DropNoConsent {
			t.Fatalf("got %v %q", r.Kind, r.Drop)
		}
	})
}

func TestDescriptionURLAndStatus(t *testing.T) {
	in := []byte(`{"type":"track","event":"Demo Requested","properties":{"lead_type":" Pricing "},
		"traits":{"email":"a@b.co"},"context":{"consent":{"marketing":true},"page":{"url":" https://x.test/p?q=1 "}}}`)
	r := mustNew(t, Config{LeadStatusID: "stat_abc"}).Transform(in)
	if r.Kind != KindLead || r.Lead.Description != "Pricing" || r.Lead.URL != "https://x.test/p?q=1" || r.Lead.StatusID != "stat_abc" {
		t.Fatalf("%+v", r.Lead)
	}
	// Without a status id the payload has no status_id key at all.
	r = mustNew(t, Config{}).Transform(in)
	out, _ := json.Marshal(r.Lead)
	if strings.Contains(string(out), "status_id") {
		t.Fatalf("status_id present without config: %s", out)
	}
	// Non-string lead_type and page.url are absent; page of the wrong type too.
	r = mustNew(t, Config{}).Transform([]byte(`{"type":"track","event":"Demo Requested","properties":{"lead_type":7},
		"traits":{"email":"a@b.co"},"context":{"consent":{"marketing":true},"page":"https://x.test"}}`))
	if r.Kind != KindLead || r.Lead.Description != "Demo Requested" || r.Lead.URL != "" {
		t.Fatalf("%+v", r.Lead)
	}
}

func TestCustomValues(t *testing.T) {
	cases := []struct {
		raw  string
		want string // "" means not set
	}{
		{`"Pro"`, `"Pro"`},
		{`""`, `""`},
		{`"a\"b\u00e9"`, `"a\"bé"`},
		{"\"bad\xffbyte\"", `"bad` + "\uFFFD" + `byte"`},
		{`"\ud800"`, `"` + "\uFFFD" + `"`},
		{`12.50`, `12.50`},
		{`1e400`, `1e400`},
		{`-0`, `-0`},
		{`true`, `true`},
		{`false`, `false`},
		{`[ "a", 1, true, null ]`, `["a",1,true,null]`},
		{`[12345678901234567890123]`, `[12345678901234567890123]`},
		{`null`, ``},
		{`{"a":1}`, ``},
		{``, ``},
	}
	for _, tc := range cases {
		got, ok := customValue([]byte(tc.raw))
		if ok != (tc.want != "") || string(got) != tc.want {
			t.Errorf("customValue(%s) = %s, %v; want %s", tc.raw, got, ok, tc.want)
		}
		if ok && !utf8.Valid(got) {
			t.Errorf("customValue(%s) is not valid UTF-8", tc.raw)
		}
	}
}

func TestCustomFieldTraitsMerge(t *testing.T) {
	tr := mustNew(t, Config{CustomFields: map[string]string{
		"cf_ind":  "traits.industry",
		"cf_city": "traits.address.city",
		"cf_deep": "context.campaign.source",
	}})
	r := tr.Transform([]byte(`{"type":"track","event":"Signed Up",
		"traits":{"email":"a@b.co","industry":null,"address":{"zip":"1"}},
		"context":{"consent":{"marketing":true},"campaign":{"source":"ads"},
		           "traits":{"industry":"Retail","address":{"city":"Paris"}}}}`))
	if r.Kind != KindLead {
		t.Fatalf("kind %v err %v", r.Kind, r.Err)
	}
	got := map[string]string{}
	for k, v := range r.Lead.Custom {
		got[k] = string(v)
	}
	// industry: a top-level null does not hide context.traits.
	// address: top-level object wins as a whole (the merge is shallow), so no city.
	want := map[string]string{"cf_ind": `"Retail"`, "cf_deep": `"ads"`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("custom %v, want %v", got, want)
	}
}

func TestResultDoesNotAliasInput(t *testing.T) {
	in := []byte(`{"type":"track","event":"Lead Submitted","properties":{"plan":"Pro","lead_type":"Trial"},
		"traits":{"email":"jane@acme.com","firstName":"Jane","company":"Acme"},
		"context":{"consent":{"marketing":true},"page":{"url":"https://x.test"}}}`)
	r := mustNew(t, Config{CustomFields: map[string]string{"cf_p": "properties.plan"}}).Transform(in)
	before, _ := json.Marshal(r.Lead)
	for i := range in {
		in[i] = 'X'
	}
	after, _ := json.Marshal(r.Lead)
	if string(before) != string(after) {
		t.Fatalf("lead changed when the input buffer was reused:\n%s\n%s", before, after)
	}
}

func TestConcurrentUse(t *testing.T) {
	tr := mustNew(t, Config{LeadStatusID: seedStatusID})
	inputs := [][]byte{
		event(`{"email":"a@b.co","phone":"+44 7700 900123","company":"A"}`, `{"marketing":true}`),
		[]byte(`{"type":"page"}`),
		[]byte(`not json`),
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		b, _ := json.Marshal(toGolden(tr.Transform(in)))
		want[i] = string(b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				i := (g + n) % len(inputs)
				b, _ := json.Marshal(toGolden(tr.Transform(inputs[i])))
				if string(b) != want[i] {
					errs <- fmt.Errorf("input %d: got %s want %s", i, b, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEventLabels pins the labels of records parsed in full (StrictJSON);
// by default, those without the mapped name are labelled "unparsed".
func TestEventLabels(t *testing.T) {
	tr := mustNew(t, Config{Events: []string{"Trial Started"}, StrictJSON: true})
	dflt := mustNew(t, Config{Events: []string{"Trial Started"}})
	cases := map[string]string{
		`{"type":"track","event":"Trial Started"}`:        "Trial Started",
		`{"type":"track","event":"Lead Submitted"}`:       "track", // not in this config
		`{"type":"track","event":"jane@acme.com"}`:        "track", // never echo event text
		`{"type":"screen"}`:                               "screen",
		`{"type":"alias"}`:                                "alias",
		`{"type":"group"}`:                                "group",
		`{"type":"jane@acme.com"}`:                        "unknown",
		`{}`:                                              "unknown",
		`{"type":null}`:                                   "unknown",
		`{"type":"track","event":"Trial\u0020Started"}`:   "Trial Started",
		`{"type":"track","event":null,"traits":{"a":1}}`:  "track",
		`{"type":"track","event":"Trial Started","x":[}`:  "",
		`{"type":"tr\u0061ck","event":"Trial Started"}  `: "Trial Started",
	}
	for in, want := range cases {
		if r := tr.Transform([]byte(in)); r.Event != want {
			t.Errorf("%s: event label %q, want %q", in, r.Event, want)
		}
		if !strings.Contains(in, "Trial Started") && !strings.Contains(in, `\u`) {
			want = unparsedLabel
		}
		if r := dflt.Transform([]byte(in)); r.Event != want {
			t.Errorf("%s: default event label %q, want %q", in, r.Event, want)
		}
	}
}

// Real topics carry very large and oddly nested records; they must be
// classified correctly (no stack exhaustion, no truncation of the scan).
func TestLargeAndDeepRecords(t *testing.T) {
	tr := mustNew(t, Config{CustomFields: map[string]string{"cf_a": "properties.a.a.a"}})
	big := strings.Repeat("x", 2<<20)
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + `1` + strings.Repeat("}", n) }
	lead := func(props string) string {
		return `{"type":"track","event":"Signed Up","properties":` + props +
			`,"traits":{"email":"a@b.co","company":"` + big + `"},"context":{"consent":{"marketing":true}}}`
	}
	cases := []struct {
		name   string
		in     string
		kind   Kind
		strict bool
	}{
		{"2 MiB page view", `{"type":"page","properties":{"s":"` + big + `"}}`, KindDropped, false},
		{"2 MiB page view, StrictJSON", `{"type":"page","properties":{"s":"` + big + `"}}`, KindDropped, true},
		// Names no mapped event: dropped unparsed unless StrictJSON.
		{"2 MiB page view, broken at the end", `{"type":"page","properties":{"s":"` + big + `"}`, KindDropped, false},
		{"2 MiB page view, broken at the end, StrictJSON", `{"type":"page","properties":{"s":"` + big + `"}`, KindInvalid, true},
		{"lead with 2 MiB company", lead(`{}`), KindLead, false},
		// deep(n) is the properties object itself, inside the record: n+1 levels.
		{"lead nested to the limit", lead(deep(maxNestingDepth - 1)), KindLead, false},
		{"lead nested past the limit", lead(deep(maxNestingDepth)), KindInvalid, false},
	}
	strict := mustNew(t, Config{CustomFields: map[string]string{"cf_a": "properties.a.a.a"}, StrictJSON: true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := tr
			if tc.strict {
				tr = strict
			}
			r := tr.Transform([]byte(tc.in))
			if r.Kind != tc.kind {
				t.Fatalf("kind %v (err %v), want %v", r.Kind, r.Err, tc.kind)
			}
			if r.Kind == KindLead {
				if n := utf8.RuneCountInString(r.Lead.Name); n != MaxTextLen {
					t.Fatalf("lead name %d runes", n)
				}
				if v, ok := r.Lead.Custom["cf_a"]; ok {
					t.Fatalf("an object must not fill a custom field, got %.20s", v)
				}
			}
		})
	}
}

// Identify calls become results only when asked for, marked as such; the
// product's rule (only lead events create leads) is the default.
func TestIdentifyResultsOnlyWhenAsked(t *testing.T) {
	ev := []byte(`{"type":"identify","traits":{"email":"Jane@Acme.com","firstName":"Jane","title":"CMO"},"context":{"consent":{"marketing":true}}}`)
	off, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if res := off.Transform(ev); res.Kind != KindDropped || res.Drop != DropNoMappedName {
		t.Fatalf("identify without Config.Identify: %+v", res)
	}
	if res := mustNew(t, Config{StrictJSON: true}).Transform(ev); res.Kind != KindDropped || res.Drop != DropNotMapped {
		t.Fatalf("identify without Config.Identify, StrictJSON: %+v", res)
	}
	on, err := New(Config{Identify: true})
	if err != nil {
		t.Fatal(err)
	}
	res := on.Transform(ev)
	if res.Kind != KindLead || !res.Identify || res.Email() != "jane@acme.com" || res.Lead.Contacts[0].Title != "CMO" {
		t.Fatalf("identify with Config.Identify: %+v", res)
	}
	if res := on.Transform([]byte(`{"type":"identify","traits":{"email":"jane@acme.com"}}`)); res.Kind != KindDropped || res.Drop != DropNoConsent {
		t.Fatalf("identify without consent: %+v", res)
	}
	lead := on.Transform([]byte(`{"type":"track","event":"Lead Submitted","traits":{"email":"jane@acme.com"},"context":{"consent":{"marketing":true}}}`))
	if lead.Kind != KindLead || lead.Identify {
		t.Fatalf("a lead event is not an identify: %+v", lead)
	}
}
