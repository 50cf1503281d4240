package transform

import (
	"encoding/json"
	"strings"
	"testing"
)

// slashEvent is a configured event name with a character JSON may escape
// ('/' as `\/`), which makes any backslash send a record down the full path.
const slashEvent = "Quote/Requested"

var fastPathEvents = []string{"Lead Submitted", "Demo Requested", "Signed Up", slashEvent}

// lead JSON around an event name as written in the record (escapes and all).
func leadWithName(rawName string) string {
	return `{"type":"track","event":"` + rawName + `","traits":{"email":"a@b.co"},"context":{"consent":{"marketing":true}}}`
}

func TestFastPath(t *testing.T) {
	identify := `{"type":"identify","traits":{"email":"a@b.co"},"context":{"consent":{"marketing":true}}}`
	cases := []struct {
		name     string
		cfg      Config // StrictJSON is set by the test
		in       string
		fast     string // outcome by default: kind, or kind/drop
		strict   string // outcome with StrictJSON
		fastType string // Result.Event by default; "" means the strict one
	}{
		{"page view", Config{}, string(benchPageView), "dropped/no_mapped_name", "dropped/not_mapped", unparsedLabel},
		{"non-lead track", Config{}, string(benchNonLeadTrack), "dropped/no_mapped_name", "dropped/not_mapped", unparsedLabel},
		{"name in another case", Config{}, `{"type":"track","event":"lead submitted"}`, "dropped/no_mapped_name", "dropped/not_mapped", unparsedLabel},
		{"surrounded by JSON whitespace", Config{}, " \t\r\n{\"type\":\"page\"}\n\t \r", "dropped/no_mapped_name", "dropped/not_mapped", unparsedLabel},
		{"malformed object", Config{}, `{"type":"page" "x"}`, "dropped/no_mapped_name", "invalid_event", unparsedLabel},
		{"two objects", Config{}, `{"type":"page"} {"type":"page"}`, "dropped/no_mapped_name", "invalid_event", unparsedLabel},
		{"fast path before the envelope check", Config{}, `{"type":"page","traits":"x"}`, "dropped/no_mapped_name", "invalid_event", unparsedLabel},
		{"empty", Config{}, ``, "invalid_event", "invalid_event", ""},
		{"blank", Config{}, " \n\t", "invalid_event", "invalid_event", ""},
		{"not JSON", Config{}, `nope`, "invalid_event", "invalid_event", ""},
		{"array", Config{}, `[]`, "invalid_event", "invalid_event", ""},
		{"array of objects", Config{}, `[{"type":"page"}]`, "invalid_event", "invalid_event", ""},
		{"string", Config{}, `"str"`, "invalid_event", "invalid_event", ""},
		{"lone brace", Config{}, `{`, "invalid_event", "invalid_event", ""},
		{"lone closing brace", Config{}, `}`, "invalid_event", "invalid_event", ""},
		{"object then garbage", Config{}, `{"type":"page"} x`, "invalid_event", "invalid_event", ""},
		{"BOM", Config{}, "\xef\xbb\xbf{}", "invalid_event", "invalid_event", ""},
		{"lead", Config{}, leadWithName("Lead Submitted"), "lead", "lead", ""},
		{"lead name with a \\u escape", Config{}, leadWithName(`Lead\u0020Submitted`), "lead", "lead", ""},
		{"lead name fully \\u escaped", Config{}, leadWithName(`\u0053igned\u0020\u0055p`), "lead", "lead", ""},
		{"escaped backslash before u is parsed", Config{}, `{"type":"page","name":"a\\u"}`, "dropped/not_mapped", "dropped/not_mapped", ""},
		{"name only in properties", Config{}, `{"type":"page","properties":{"title":"Demo Requested: thanks"}}`, "dropped/not_mapped", "dropped/not_mapped", ""},
		{"name only in a key", Config{}, `{"type":"page","Signed Up":1}`, "dropped/not_mapped", "dropped/not_mapped", ""},
		{"identify, Identify off", Config{}, identify, "dropped/no_mapped_name", "dropped/not_mapped", unparsedLabel},
		{"identify, Identify on", Config{Identify: true}, identify, "lead", "lead", ""},
		{"identify escaped, Identify on", Config{Identify: true}, strings.Replace(identify, "identify", `ident\u0069fy`, 1), "lead", "lead", ""},
		{"page, Identify on", Config{Identify: true}, `{"type":"page"}`, "dropped/no_mapped_name", "dropped/not_mapped", unparsedLabel},
		{"slash event", Config{Events: fastPathEvents}, leadWithName(slashEvent), "lead", "lead", ""},
		{"slash event written \\/", Config{Events: fastPathEvents}, leadWithName(`Quote\/Requested`), "lead", "lead", ""},
		{"any backslash with a slash event", Config{Events: fastPathEvents}, `{"type":"page","name":"a\n"}`, "dropped/not_mapped", "dropped/not_mapped", ""},
		{"no backslash with a slash event", Config{Events: fastPathEvents}, `{"type":"page","name":"a/b"}`, "dropped/no_mapped_name", "dropped/not_mapped", unparsedLabel},
		{"quote event written \\\"", Config{Events: []string{`Say "Hi"`}}, leadWithName(`Say \"Hi\"`), "lead", "lead", ""},
		{"tab event written \\t", Config{Events: []string{"Tab\tEvent"}}, leadWithName(`Tab\tEvent`), "lead", "lead", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			strictCfg := tc.cfg
			strictCfg.StrictJSON = true
			fast, strict := mustNew(t, tc.cfg).Transform([]byte(tc.in)), mustNew(t, strictCfg).Transform([]byte(tc.in))
			checkResultShape(t, fast)
			checkResultShape(t, strict)
			if got := outcome(fast); got != tc.fast {
				t.Errorf("default: %s (err %v), want %s", got, fast.Err, tc.fast)
			}
			if got := outcome(strict); got != tc.strict {
				t.Errorf("StrictJSON: %s (err %v), want %s", got, strict.Err, tc.strict)
			}
			wantEvent := tc.fastType
			if wantEvent == "" {
				wantEvent = strict.Event
			}
			if fast.Event != wantEvent {
				t.Errorf("default event label %q, want %q", fast.Event, wantEvent)
			}
		})
	}
}

func outcome(r Result) string {
	if r.Kind == KindDropped {
		return r.Kind.String() + "/" + string(r.Drop)
	}
	return r.Kind.String()
}

// FuzzFastPathAgreesWithStrict: the fast path only ever drops what the full
// path would drop not_mapped or reject as invalid_event, never a lead or
// another drop; and a record it does not drop gets exactly the full path's
// Result. Several configurations, since the needles and the escape rule
// depend on the event names and on Config.Identify.
func FuzzFastPathAgreesWithStrict(f *testing.F) {
	addFuzzSeeds(f)
	for _, in := range scannerCases {
		if len(in) < 1000 {
			f.Add([]byte(in))
		}
	}
	for _, s := range []string{
		string(benchPageView), string(benchNonLeadTrack),
		leadWithName(`Quote\/Requested`), leadWithName(`Lead\u0020Submitted`),
		`{"type":"identify","traits":{"email":"a@b.co"},"context":{"consent":{"marketing":true}}}`,
		`{"type":"ident\u0069fy","traits":{"email":"a@b.co"},"context":{"consent":{"marketing":true}}}`,
		`{"type":"page" "x"}`, `{"type":"page","properties":{"title":"Demo Requested"}}`,
	} {
		f.Add([]byte(s))
	}
	type pair struct{ fast, strict *Transformer }
	var pairs []pair
	for _, cfg := range []Config{
		{Events: fastPathEvents},
		{Events: fastPathEvents, Identify: true},
		{}, // DefaultEvents: no escapable character, so only `\u` forces the full path
	} {
		cfg.CustomFields = map[string]string{"cf_a": "properties.plan"}
		fast, err := New(cfg)
		if err != nil {
			f.Fatal(err)
		}
		cfg.StrictJSON = true
		strict, err := New(cfg)
		if err != nil {
			f.Fatal(err)
		}
		pairs = append(pairs, pair{fast, strict})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, p := range pairs {
			fast, strict := p.fast.Transform(data), p.strict.Transform(data)
			if strict.Drop == DropNoMappedName {
				t.Fatalf("config %d: StrictJSON dropped no_mapped_name", i)
			}
			if fast.Drop == DropNoMappedName {
				if fast.Kind != KindDropped || fast.Event != unparsedLabel {
					t.Fatalf("config %d: fast path result %+v", i, fast)
				}
				if !(strict.Kind == KindDropped && strict.Drop == DropNotMapped || strict.Kind == KindInvalid) {
					t.Fatalf("config %d: fast path dropped a record the full path makes %s (event %q)", i, outcome(strict), strict.Event)
				}
				continue
			}
			if a, b := resultString(t, fast), resultString(t, strict); a != b {
				t.Fatalf("config %d: default and StrictJSON differ:\n default: %s\n  strict: %s", i, a, b)
			}
		}
	})
}

// resultString renders everything in a Result: kind, drop, event label, error
// text, phone issue, lead JSON, message id and the identify mark.
func resultString(t *testing.T, r Result) string {
	t.Helper()
	b, err := json.Marshal(struct {
		G         goldenResult
		MessageID string
		Identify  bool
	}{toGolden(r), r.MessageID, r.Identify})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
