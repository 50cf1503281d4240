package transform

import (
	"errors"
	"testing"
	"unicode/utf8"
)

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
	// StrictJSON: by default {"traits":1}, which names no mapped event, is
	// dropped no_mapped_name without being parsed.
	for _, in := range []string{"", "{", "[]", `{"traits":1}`, string(event(`{"email":1}`, `{}`))} {
		r := mustNew(t, Config{StrictJSON: true}).Transform([]byte(in))
		if r.Kind != KindInvalid || !errors.Is(r.Err, ErrInvalidEvent) {
			t.Errorf("%q: kind %v err %v", in, r.Kind, r.Err)
		}
	}
}
