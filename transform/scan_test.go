package transform

import (
	"encoding/json"
	"strings"
	"testing"
)

// scannerCases are checked against encoding/json.Valid, the reference. They
// include the depth limit, which jsontext does not let us set (jsondec.go).
var scannerCases = []string{
	``, ` `, `{}`, ` {} `, "\t{\n}\r\n", `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e+10`,
	`"s"`, `{"a":1}`, `{"a":[1,2,{"b":null}]}`, `{"a":"\u00e9\n\t\"\\\/"}`,
	"{\"a\":\"\xff\xfe\"}", // invalid UTF-8 inside a string: valid JSON to encoding/json
	`{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{a:1}`, `{'a':1}`,
	`[1,]`, `[,1]`, `[1 2]`, `{"a":[}`, `{"a":{]}`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `1.5E-3`, `-01`, `NaN`, `Infinity`,
	`tru`, `truex`, `nul`, `True`, `"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, `"\`,
	"\"a\x01b\"", "\"tab\tin string\"", "\"\x7f\"",
	`{} {}`, `{}x`, "\xef\xbb\xbf{}", `{"a":1}}`, `[[[]]]`, `[[[]]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"a":` + strings.Repeat(`{"a":`, 9998) + `1` + strings.Repeat("}", 9999),
	`{"a":` + strings.Repeat(`{"a":`, 9999) + `1` + strings.Repeat("}", 10000),
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	for _, in := range scannerCases {
		if got, want := validJSON([]byte(in)), json.Valid([]byte(in)); got != want {
			name := in
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("validJSON(%q) = %v, json.Valid = %v", name, got, want)
		}
	}
}

// FuzzScannerMatchesValid holds the jsontext-based reader to encoding/json:
// a record parsed in full may only be called "not_mapped" if it is real JSON.
func FuzzScannerMatchesValid(f *testing.F) {
	for _, in := range scannerCases {
		if len(in) < 1000 {
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", data, got, want)
		}
	})
}

func TestParseEnvelopeLastDuplicateWins(t *testing.T) {
	env, err := parseEnvelope([]byte(`{"type":"page","traits":{"a":1},"type" : "track" ,"traits":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(env.typ) != `"track"` || string(env.traits) != `null` {
		t.Fatalf("type %s traits %s", env.typ, env.traits)
	}
	// Nested keys named like envelope keys are not envelope keys.
	env, err = parseEnvelope([]byte(`{"properties":{"type":"track","event":"Signed Up"}}`))
	if err != nil || env.typ != nil || env.event != nil {
		t.Fatalf("nested keys leaked into the envelope: %+v %v", env, err)
	}
}

// jsontext's own messages quote the record, so syntaxErr rewords them; this
// pins the wording and offsets (the goldens hold three of them too).
func TestSyntaxErrorMessages(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":tru}`:            "invalid literal at byte offset 5",
		`nul`:                  "unexpected end of input at byte offset 3",
		`{"a":nul`:             "unexpected end of input in object at byte offset 8",
		`{"a":[1`:              "unexpected end of input in array at byte offset 7",
		`{"a":1.}`:             "invalid number at byte offset 7",
		`{"a":"\x"}`:           "invalid escape in string at byte offset 6",
		`{"a":"\ud800\u12G4"}`: "invalid escape in string at byte offset 12",
		"{\"a\":\"\x01\"}":     "control character in string at byte offset 6",
		`{"a" 1}`:              "expected ':' after object key at byte offset 5",
		`{"a":}`:               "invalid character at byte offset 5",
		`{"a":1 "b":2}`:        "expected ',' or '}' in object at byte offset 7",
		`{1:2}`:                "expected a string key in object at byte offset 1",
		`[1 2]`:                "expected ',' or ']' in array at byte offset 3",
		`{"a":x}`:              "invalid character at byte offset 5",
		`[] x`:                 "unexpected data after the top-level value at byte offset 3",
		"\xef\xbb\xbf{}":       "invalid character at byte offset 0",
	} {
		if err := checkJSON([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("checkJSON(%q) = %v, want %s", in, err, want)
		}
	}
}

func TestSyntaxErrorsCarryNoRecordBytes(t *testing.T) {
	secret := "jane.doe@acme.com"
	for _, in := range []string{
		`{"email":"` + secret + `"`,
		`{"email":"` + secret + "\x01\"}",
		`{"email":` + secret + `}`,
		secret,
	} {
		// StrictJSON, so the objects without a mapped name are parsed too.
		r := mustNew(t, Config{StrictJSON: true}).Transform([]byte(in))
		if r.Kind != KindInvalid {
			t.Fatalf("%q: kind %v", in, r.Kind)
		}
		if strings.Contains(r.Err.Error(), "jane") {
			t.Errorf("error quotes the record: %v", r.Err)
		}
	}
}
