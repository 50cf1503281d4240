package transform

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

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
		{`"555 0132"`, "US", "", PhoneIssueInvalid}, // local only: no area code
		{`"+1 234 5678"`, "US", "", PhoneIssueInvalid},
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
