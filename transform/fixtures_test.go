package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/closesink/closesink/pkg/closeapi"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

const seedStatusID = "stat_xxxxxxxxxxxxxxxxxxxxxxxx"

// fixtureConfigs are the configurations the fixture cases run with.
var fixtureConfigs = map[string]Config{
	"default": {},
	"seed":    {LeadStatusID: seedStatusID},
	"gb":      {PhoneRegion: "GB"},
	"custom": {CustomFields: map[string]string{
		"cf_plan":      "properties.plan",
		"cf_seats":     "properties.seats",
		"cf_annual":    "properties.annual",
		"cf_addons":    "properties.addons",
		"cf_meta":      "properties.meta", // an object: sets nothing
		"cf_gone":      "properties.gone", // null: sets nothing
		"cf_missing":   "properties.nope", // missing: sets nothing
		"cf_industry":  "traits.industry", // merged traits
		"cf_pagetitle": "context.page.title",
	}},
}

// fixtureCases pins the outcome of every file in testdata/events, so that a
// careless -update cannot silently change a kind or drop reason.
var fixtureCases = []struct {
	name, config string
	kind         Kind
	drop         DropReason
	phoneIssue   string
}{
	{"seed_lead_submitted", "seed", KindLead, "", ""},
	{"page_view", "default", KindDropped, DropNoMappedName, ""},
	{"identify", "default", KindDropped, DropNoMappedName, ""},
	{"track_not_in_list", "default", KindDropped, DropNoMappedName, ""},
	{"track_wrong_case_event", "default", KindDropped, DropNoMappedName, ""},
	{"no_type", "default", KindDropped, DropNotMapped, ""},
	{"unknown_type", "default", KindDropped, DropNotMapped, ""},
	{"demo_requested_context_traits", "default", KindLead, "", ""},
	{"signed_up_national_phone_gb", "gb", KindLead, "", ""},
	{"traits_merge", "default", KindLead, "", ""},
	{"no_email", "default", KindDropped, DropNoEmail, ""},
	{"blank_email", "default", KindDropped, DropNoEmail, ""},
	{"null_email", "default", KindDropped, DropNoEmail, ""},
	{"no_email_no_consent", "default", KindDropped, DropNoEmail, ""},
	{"no_consent", "default", KindDropped, DropNoConsent, ""},
	{"consent_missing", "default", KindDropped, DropNoConsent, ""},
	{"consent_string_true", "default", KindDropped, DropNoConsent, ""},
	{"consent_other_category", "default", KindDropped, DropNoConsent, ""},
	{"malformed_email", "default", KindInvalid, "", ""},
	{"malformed_email_no_consent", "default", KindInvalid, "", ""},
	{"email_object", "default", KindInvalid, "", ""},
	{"email_number", "default", KindInvalid, "", ""},
	{"traits_array", "default", KindInvalid, "", ""},
	{"properties_string", "default", KindInvalid, "", ""},
	{"context_number", "default", KindInvalid, "", ""},
	{"context_traits_string", "default", KindInvalid, "", ""},
	{"type_number", "default", KindInvalid, "", ""},
	{"page_with_bad_properties", "default", KindDropped, DropNoMappedName, ""},
	{"not_json", "default", KindInvalid, "", ""},
	{"truncated_json", "default", KindInvalid, "", ""},
	{"empty", "default", KindInvalid, "", ""},
	{"whitespace_only", "default", KindInvalid, "", ""},
	{"array_event", "default", KindInvalid, "", ""},
	{"string_event", "default", KindInvalid, "", ""},
	{"trailing_garbage", "default", KindDropped, DropNoMappedName, ""},
	{"custom_fields", "custom", KindLead, "", ""},
	{"unicode_names", "default", KindLead, "", ""},
	{"phone_unparseable", "default", KindLead, "", PhoneIssueNotANumber},
	{"phone_not_possible", "default", KindLead, "", PhoneIssueInvalid},
	{"phone_number_type", "default", KindLead, "", PhoneIssueWrongType},
	{"phone_with_extension", "default", KindLead, "", ""},
	{"lead_name_from_last_name", "default", KindLead, "", ""},
	{"lead_name_from_email", "default", KindLead, "", ""},
	{"first_name_only", "default", KindLead, "", ""},
	{"description_from_event_name", "default", KindLead, "", ""},
	{"long_names", "default", KindLead, "", ""},
	{"invalid_utf8", "default", KindLead, "", ""},
	{"invalid_utf8_email", "default", KindInvalid, "", ""},
	{"duplicate_keys", "default", KindLead, "", ""},
	{"duplicate_type_last_not_track", "default", KindDropped, DropNotMapped, ""},
	{"escaped_keys_and_values", "default", KindLead, "", ""},
}

// strictOutcomes are the fixture cases whose outcome differs with
// Config.StrictJSON: exactly those the default mode drops no_mapped_name
// without parsing. Their strict Result is in golden/<case>.strict.json; for
// every other case the strict Result must equal the default one.
var strictOutcomes = map[string]struct {
	kind Kind
	drop DropReason
}{
	"page_view":                {KindDropped, DropNotMapped},
	"identify":                 {KindDropped, DropNotMapped},
	"track_not_in_list":        {KindDropped, DropNotMapped},
	"track_wrong_case_event":   {KindDropped, DropNotMapped},
	"page_with_bad_properties": {KindInvalid, ""},
	"trailing_garbage":         {KindInvalid, ""},
}

// goldenResult is the reviewable form of a Result stored in testdata/golden.
type goldenResult struct {
	Kind       string         `json:"kind"`
	Event      string         `json:"event"`
	Drop       string         `json:"drop,omitempty"`
	Error      string         `json:"error,omitempty"`
	PhoneIssue string         `json:"phone_issue,omitempty"`
	Lead       *closeapi.Lead `json:"lead,omitempty"`
}

func toGolden(r Result) goldenResult {
	g := goldenResult{Kind: r.Kind.String(), Event: r.Event, Drop: string(r.Drop), PhoneIssue: r.PhoneIssue, Lead: r.Lead}
	if r.Err != nil {
		g.Error = r.Err.Error()
	}
	return g
}

func mustNew(t testing.TB, cfg Config) *Transformer {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return tr
}

func TestFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range fixtureCases {
		covered[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok := fixtureConfigs[tc.config]
			if !ok {
				t.Fatalf("unknown config %q", tc.config)
			}
			input, err := os.ReadFile(filepath.Join("testdata", "events", tc.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			res := mustNew(t, cfg).Transform(input)
			checkResultShape(t, res)
			if res.Kind != tc.kind || res.Drop != tc.drop || res.PhoneIssue != tc.phoneIssue {
				t.Fatalf("got kind=%v drop=%q phone_issue=%q err=%v; want kind=%v drop=%q phone_issue=%q",
					res.Kind, res.Drop, res.PhoneIssue, res.Err, tc.kind, tc.drop, tc.phoneIssue)
			}
			got := marshalGolden(t, res)
			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".json"), got)

			// The same record with StrictJSON.
			cfg.StrictJSON = true
			strict := mustNew(t, cfg).Transform(input)
			checkResultShape(t, strict)
			gotStrict := marshalGolden(t, strict)
			want, differs := strictOutcomes[tc.name]
			if differs != (res.Drop == DropNoMappedName) {
				t.Fatalf("default drop %q: list the case in strictOutcomes exactly when it is %q", res.Drop, DropNoMappedName)
			}
			if !differs {
				if !bytes.Equal(gotStrict, got) {
					t.Fatalf("StrictJSON changed the result:\n got: %s\nwant: %s", gotStrict, got)
				}
				return
			}
			if strict.Kind != want.kind || strict.Drop != want.drop {
				t.Fatalf("StrictJSON: got kind=%v drop=%q err=%v; want kind=%v drop=%q", strict.Kind, strict.Drop, strict.Err, want.kind, want.drop)
			}
			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".strict.json"), gotStrict)
		})
	}
	for name := range strictOutcomes {
		if !covered[name] {
			t.Errorf("strictOutcomes lists %s, which is not in fixtureCases", name)
		}
	}
	// Every fixture file must be in the table (and so have a pinned outcome).
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if !covered[name] {
			t.Errorf("testdata/events/%s.json has no entry in fixtureCases", name)
		}
	}
}

// marshalGolden renders r as stored in testdata/golden.
func marshalGolden(t *testing.T, r Result) []byte {
	t.Helper()
	got, err := json.MarshalIndent(toGolden(r), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(got, '\n')
}

// checkResultShape asserts the Result contract: exactly the field for its
// Kind is set, and invalid errors wrap ErrInvalidEvent.
func checkResultShape(t *testing.T, r Result) {
	t.Helper()
	switch r.Kind {
	case KindLead:
		if r.Lead == nil || r.Drop != "" || r.Err != nil {
			t.Fatalf("lead result with extra fields: %+v", r)
		}
	case KindDropped:
		if r.Lead != nil || r.Drop == "" || r.Err != nil {
			t.Fatalf("dropped result with wrong fields: %+v", r)
		}
	case KindInvalid:
		if r.Lead != nil || r.Drop != "" || !errors.Is(r.Err, ErrInvalidEvent) {
			t.Fatalf("invalid result with wrong fields: %+v", r)
		}
	default:
		t.Fatalf("unknown kind %v", r.Kind)
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after reviewing):\n got: %s\nwant: %s", path, got, want)
	}
}

// TestSeedExample is the product page's "Example: Lead Submitted": the
// payload must be exactly the one the page shows, compared semantically
// against the page's text and byte for byte against the stored golden bytes.
func TestSeedExample(t *testing.T) {
	input, err := os.ReadFile(filepath.Join("testdata", "events", "seed_lead_submitted.json"))
	if err != nil {
		t.Fatal(err)
	}
	res := mustNew(t, Config{LeadStatusID: seedStatusID}).Transform(input)
	if res.Kind != KindLead {
		t.Fatalf("kind %v, err %v, drop %q", res.Kind, res.Err, res.Drop)
	}
	got, err := json.Marshal(res.Lead)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join("testdata", "seed_close_payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	if err := json.Unmarshal(got, &gotV); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(page, &wantV); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotV, wantV) {
		t.Fatalf("payload differs from the product page\n got: %s\nwant: %s", got, page)
	}
	compareGolden(t, filepath.Join("testdata", "golden", "seed_lead_submitted.close.json"), got)
	if res.Event != "Lead Submitted" || res.PhoneIssue != "" || res.Email() != "jane.doe@acme.com" {
		t.Fatalf("event %q phone issue %q email %q", res.Event, res.PhoneIssue, res.Email())
	}
}

// TestFixtureConfigsAreUsed guards against dead entries in fixtureConfigs.
func TestFixtureConfigsAreUsed(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range fixtureCases {
		used[tc.config] = true
	}
	var unused []string
	for name := range fixtureConfigs {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Fatalf("unused fixture configs: %v", unused)
	}
}
