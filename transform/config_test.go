package transform

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{"zero value", Config{}, ""},
		{"full", Config{
			Events:          []string{"Trial Started"},
			ConsentCategory: "C0004",
			PhoneRegion:     "gb",
			LeadStatusID:    "stat_abcXYZ0123456789abcXYZ0123456789abcXYZ0123",
			CustomFields:    map[string]string{"cf_abc": "properties.plan", "cf_def": "traits.industry", "cf_ghi": "context.page.title"},
		}, ""},
		{"empty event name", Config{Events: []string{"Lead Submitted", " "}}, "Events[1] is empty"},
		{"event name not UTF-8", Config{Events: []string{"Lead\xffSubmitted"}}, "Events[0] is not valid UTF-8"},
		{"unknown region", Config{PhoneRegion: "XX"}, `PhoneRegion "XX"`},
		{"alpha-3 region", Config{PhoneRegion: "GBR"}, `PhoneRegion "GBR"`},
		{"calling code as region", Config{PhoneRegion: "44"}, `PhoneRegion "44"`},
		{"consent with spaces", Config{ConsentCategory: " marketing"}, "ConsentCategory"},
		{"status label instead of id", Config{LeadStatusID: "Potential"}, `LeadStatusID "Potential"`},
		{"status id with bad chars", Config{LeadStatusID: "stat_a-b"}, "LeadStatusID"},
		{"custom. prefix", Config{CustomFields: map[string]string{"custom.cf_abc": "properties.plan"}}, `use the bare field id "cf_abc"`},
		{"field name instead of id", Config{CustomFields: map[string]string{"Plan": "properties.plan"}}, `CustomFields key "Plan"`},
		{"bare prefix", Config{CustomFields: map[string]string{"cf_": "properties.plan"}}, `CustomFields key "cf_"`},
		{"one-segment path", Config{CustomFields: map[string]string{"cf_a": "plan"}}, `path "plan" must be`},
		{"empty path", Config{CustomFields: map[string]string{"cf_a": ""}}, `CustomFields["cf_a"]`},
		{"empty segment", Config{CustomFields: map[string]string{"cf_a": "properties..plan"}}, "empty segment"},
		{"trailing dot", Config{CustomFields: map[string]string{"cf_a": "properties.plan."}}, "empty segment"},
		{"unknown root", Config{CustomFields: map[string]string{"cf_a": "propertes.plan"}}, `starts with "propertes"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if _, err := New(tc.cfg); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
			if _, nerr := New(tc.cfg); nerr == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	tr := mustNew(t, Config{})
	if tr.consent != "marketing" || tr.region != "US" || tr.statusID != "" || len(tr.custom) != 0 {
		t.Fatalf("defaults not applied: %+v", tr)
	}
	for _, name := range DefaultEvents {
		if tr.events[name] != name {
			t.Fatalf("default event %q missing", name)
		}
	}
	if len(tr.events) != len(DefaultEvents) {
		t.Fatalf("events %v", tr.events)
	}
}

// A Transformer must not share the caller's slice or map: changing the
// Config afterwards must not change behaviour.
func TestNewCopiesConfig(t *testing.T) {
	events := []string{"Trial Started"}
	custom := map[string]string{"cf_a": "properties.plan"}
	tr := mustNew(t, Config{Events: events, CustomFields: custom})
	events[0] = "Other"
	custom["cf_b"] = "properties.x"
	r := tr.Transform([]byte(`{"type":"track","event":"Trial Started","properties":{"plan":"P","x":1},
		"traits":{"email":"a@b.co"},"context":{"consent":{"marketing":true}}}`))
	if r.Kind != KindLead || len(r.Lead.Custom) != 1 {
		t.Fatalf("kind %v custom %v", r.Kind, r.Lead)
	}
}
