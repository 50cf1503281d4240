package transform

import (
	"encoding/json"
	"errors"
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

func TestOrderOfChecks(t *testing.T) {
	tr := mustNew(t, Config{})
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

func TestEmailHandling(t *testing.T) {
	tr := mustNew(t, Config{})
	cases := []struct {
		email string // raw JSON value
		kind  Kind
		want  string
	}{
		{`"jane@acme.com"`, KindLead, "jane@acme.com"},
		{`"  Jane.Doe@ACME.com\t"`, KindLead, "jane.doe@acme.com"},
		{`"j+tag@sub.acme.co.uk"`, KindLead, "j+tag@sub.acme.co.uk"},
		{`"ÉLODIE@exemple.fr"`, KindLead, "élodie@exemple.fr"},
		{`"user@bücher.de"`, KindLead, "user@bücher.de"},
		{`""`, KindDropped, ""},
		{`"   "`, KindDropped, ""},
		{`null`, KindDropped, ""},
		{`"jane"`, KindInvalid, ""},
		{`"jane@"`, KindInvalid, ""},
		{`"@acme.com"`, KindInvalid, ""},
		{`"jane@acme"`, KindInvalid, ""},
		{`"jane@@acme.com"`, KindInvalid, ""},
		{`"ja ne@acme.com"`, KindInvalid, ""},
		{`"jane@acme..com"`, KindInvalid, ""},
		{`"jane.@acme.com"`, KindInvalid, ""},
		{`"jane@-acme.com"`, KindInvalid, ""},
		{`"jane@10.0.0.1"`, KindInvalid, ""},
		{`"Jane Doe <jane@acme.com>"`, KindInvalid, ""},
		{`"jane@acme.com."`, KindInvalid, ""},
		{`"jane\u0000@acme.com"`, KindInvalid, ""},
		{`"jane\ud800@acme.com"`, KindInvalid, ""},
		{`"` + strings.Repeat("a", 65) + `@acme.com"`, KindInvalid, ""},
		{`"a@` + strings.Repeat("b", 64) + `.com"`, KindInvalid, ""},
		{`"a@` + strings.Repeat("b.", 130) + `com"`, KindInvalid, ""},
		{`42`, KindInvalid, ""},
		{`true`, KindInvalid, ""},
		{`["jane@acme.com"]`, KindInvalid, ""},
		{`{"email":"jane@acme.com"}`, KindInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.email, func(t *testing.T) {
			r := tr.Transform(event(`{"email":`+tc.email+`}`, `{"marketing":true}`))
			checkResultShape(t, r)
			if r.Kind != tc.kind {
				t.Fatalf("kind %v (drop %q, err %v), want %v", r.Kind, r.Drop, r.Err, tc.kind)
			}
			switch r.Kind {
			case KindLead:
				if r.Email() != tc.want {
					t.Fatalf("email %q, want %q", r.Email(), tc.want)
				}
			case KindDropped:
				if r.Drop != DropNoEmail {
					t.Fatalf("drop %q, want no_email", r.Drop)
				}
			case KindInvalid:
				if strings.Contains(r.Err.Error(), "jane") || strings.Contains(r.Err.Error(), "acme") {
					t.Fatalf("error quotes event data: %v", r.Err)
				}
			}
		})
	}
}

func TestPhoneNormalization(t *testing.T) {
	cases := []struct {
		raw, region string
		want, issue string
	}{
		{`"+44 7700 900123"`, "US", "+447700900123", ""}, // possible, not valid: kept
		{`"07700 900123"`, "GB", "+447700900123", ""},
		{`"(415) 555-0132"`, "US", "+14155550132", ""},
		{`"415.555.0132"`, "US", "+14155550132", ""},
		{`"+1 415 555 0132 x 22"`, "GB", "+14155550132", ""}, // extension dropped
		{`"030 1234567"`, "DE", "+49301234567", ""},
		{`"  +33 6 12 34 56 78  "`, "US", "+33612345678", ""},
		{`""`, "US", "", ""},
		{`"   "`, "US", "", ""},
		{`null`, "US", "", ""},
		{`"call me"`, "US", "", PhoneIssueNotANumber},
		{`"+999 1234567"`, "US", "", PhoneIssueNotANumber}, // no such country code
		{`"` + strings.Repeat("1", 300) + `"`, "US", "", PhoneIssueNotANumber},
		{`"+44 12"`, "US", "", PhoneIssueInvalid},
		{`"+1 415 555 01329999"`, "US", "", PhoneIssueInvalid},
		{`4155550132`, "US", "", PhoneIssueWrongType},
		{`["+447700900123"]`, "US", "", PhoneIssueWrongType},
		{`{"number":"+447700900123"}`, "US", "", PhoneIssueWrongType},
	}
	for _, tc := range cases {
		t.Run(tc.region+" "+tc.raw, func(t *testing.T) {
			got, issue := normalizePhone([]byte(tc.raw), tc.region)
			if got != tc.want || issue != tc.issue {
				t.Fatalf("got %q/%q, want %q/%q", got, issue, tc.want, tc.issue)
			}
		})
	}
	t.Run("issue is reported on the lead result", func(t *testing.T) {
		r := mustNew(t, Config{PhoneRegion: "gb"}).Transform(event(`{"email":"a@b.co","phone":"07700 900123"}`, `{"marketing":true}`))
		if r.Kind != KindLead || r.Lead.Contacts[0].Phones[0].Phone != "+447700900123" {
			t.Fatalf("lowercase region not applied: %+v", r)
		}
	})
}

func TestNamesTitlesAndLeadName(t *testing.T) {
	tr := mustNew(t, Config{})
	cases := []struct {
		name, traits                        string
		leadName, contactName, contactTitle string
	}{
		{"full", `{"firstName":"Jane","lastName":"Doe","title":"CEO","company":"Acme"}`, "Acme", "Jane Doe", "CEO"},
		{"trimmed parts", `{"firstName":"  Jane ","lastName":" Doe  ","company":" Acme  "}`, "Acme", "Jane Doe", ""},
		{"first only", `{"firstName":"Jane"}`, "x@y.co", "Jane", ""},
		{"last only", `{"lastName":"Doe"}`, "Doe", "Doe", ""},
		{"name trait fallback", `{"name":"Jane Q. Doe"}`, "x@y.co", "Jane Q. Doe", ""},
		{"first/last beat name", `{"firstName":"Jane","name":"Other"}`, "x@y.co", "Jane", ""},
		{"blank company falls back", `{"company":"   ","lastName":"Doe"}`, "Doe", "Doe", ""},
		{"wrong types are absent", `{"firstName":5,"lastName":{"x":1},"title":12,"company":true,"name":["n"]}`, "x@y.co", "", ""},
		{"scripts kept byte for byte", `{"firstName":"Zoë","lastName":"Ødegård","title":"Директор","company":"株式会社テスト"}`, "株式会社テスト", "Zoë Ødegård", "Директор"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			traits := strings.Replace(tc.traits, "{", `{"email":"X@Y.co",`, 1)
			r := tr.Transform(event(traits, `{"marketing":true}`))
			if r.Kind != KindLead {
				t.Fatalf("kind %v err %v drop %q", r.Kind, r.Err, r.Drop)
			}
			c := r.Lead.Contacts[0]
			if r.Lead.Name != tc.leadName || c.Name != tc.contactName || c.Title != tc.contactTitle {
				t.Fatalf("lead %q contact %q title %q; want %q %q %q", r.Lead.Name, c.Name, c.Title, tc.leadName, tc.contactName, tc.contactTitle)
			}
		})
	}
}

func TestTruncateRunes(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"héllo", 2, "hé"},
		{"日本語テキスト", 3, "日本語"},
		{"a🚀b", 2, "a🚀"},
		{strings.Repeat("é", 1500), MaxTextLen, strings.Repeat("é", MaxTextLen)},
	}
	for _, tc := range cases {
		got := truncateRunes(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("truncateRunes(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestLongNamesAreCutAtRuneBoundary(t *testing.T) {
	long := strings.Repeat("名", 1200)
	r := mustNew(t, Config{}).Transform(event(
		fmt.Sprintf(`{"email":"a@b.co","name":%q,"title":%q,"company":%q}`, long, "T"+long, long+"x"),
		`{"marketing":true}`))
	if r.Kind != KindLead {
		t.Fatalf("kind %v", r.Kind)
	}
	c := r.Lead.Contacts[0]
	for field, s := range map[string]string{"lead name": r.Lead.Name, "contact name": c.Name, "title": c.Title} {
		if n := utf8.RuneCountInString(s); n != MaxTextLen || !utf8.ValidString(s) {
			t.Errorf("%s: %d runes, valid=%v", field, n, utf8.ValidString(s))
		}
	}
	if !strings.HasPrefix(c.Title, "T名") {
		t.Errorf("title should keep its start, got %q...", c.Title[:10])
	}
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

func TestEventLabels(t *testing.T) {
	tr := mustNew(t, Config{Events: []string{"Trial Started"}})
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
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindLead: "lead", KindDropped: "dropped", KindInvalid: "invalid_event", Kind(0): "Kind(0)"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", int(k), k.String(), want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	cases := map[string]string{
		"jane.doe@acme.com":   "j***@acme.com",
		" Jane@Acme.com ":     "J***@Acme.com",
		"j@acme.com":          "j***@acme.com",
		"élodie@exemple.fr":   "é***@exemple.fr",
		"jane":                "***",
		"@acme.com":           "***",
		"jane@":               "***",
		"":                    "***",
		"\xffane@acme.com":    "***@acme.com",
		"jane@ac\xffme.com":   "j***@ac\uFFFDme.com",
		"a@b@c.com":           "a***@c.com",
		"\u200bjane@acme.com": "***@acme.com",
	}
	for in, want := range cases {
		got := MaskEmail(in)
		if got != want || !utf8.ValidString(got) {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResultEmail(t *testing.T) {
	if (Result{}).Email() != "" || (Result{Kind: KindDropped, Drop: DropNoEmail}).Email() != "" {
		t.Fatal("non-lead results must have no email")
	}
	r := mustNew(t, Config{}).Transform(event(`{"email":" A@B.co "}`, `{"marketing":true}`))
	if r.Email() != "a@b.co" {
		t.Fatalf("Email() = %q", r.Email())
	}
}

func TestInvalidErrorsWrapSentinel(t *testing.T) {
	for _, in := range []string{"", "{", "[]", `{"traits":1}`, string(event(`{"email":1}`, `{}`))} {
		r := mustNew(t, Config{}).Transform([]byte(in))
		if r.Kind != KindInvalid || !errors.Is(r.Err, ErrInvalidEvent) {
			t.Errorf("%q: kind %v err %v", in, r.Kind, r.Err)
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
		name string
		in   string
		kind Kind
	}{
		{"2 MiB page view", `{"type":"page","properties":{"s":"` + big + `"}}`, KindDropped},
		{"2 MiB page view, broken at the end", `{"type":"page","properties":{"s":"` + big + `"}`, KindInvalid},
		{"lead with 2 MiB company", lead(`{}`), KindLead},
		// deep(n) is the properties object itself, inside the record: n+1 levels.
		{"lead nested to the limit", lead(deep(maxNestingDepth - 1)), KindLead},
		{"lead nested past the limit", lead(deep(maxNestingDepth)), KindInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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
