package closeemu

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestStatsEndpoint(t *testing.T) {
	s, ts := start(t, Config{})
	s.SetFaults(Faults{ErrorAfterCreateRate: 1, ErrorStatus: 502})
	postLead(t, ts, minimalLead)
	s.SetFaults(Faults{})
	postLead(t, ts, minimalLead)
	call(t, ts, "GET", mePath, "", "") // 401
	want := s.Stats()

	// Faults that would drop or stall any API request do not touch it.
	s.SetFaults(Faults{DropConnRate: 1, Latency: time.Hour})
	for _, path := range []string{StatsPath, StatsPath + "/"} {
		r := call(t, ts, "GET", path, "", "")
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %v", path, r.status, r.header)
		}
		var got Stats
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, r.body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", path, got, want)
		}
		if got.Created != 2 || got.AbandonedAfterCreate != 1 || got.ByStatus[502] != 1 {
			t.Fatalf("unexpected stats %+v", got)
		}
	}
	if r := call(t, ts, "GET", StatsPath, "", ""); !json.Valid(r.body) || !containsKey(t, r.body, "abandoned_after_create") {
		t.Fatalf("body %s", r.body)
	}
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"POST", StatsPath, 405},
		{"GET", "/_emulator/leads", 404},
		{"GET", "/_emulator", 404},
	} {
		if r := call(t, ts, tt.method, tt.path, "", ""); r.status != tt.want {
			t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, r.status, tt.want)
		}
	}
	if got := s.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("reading the stats changed them: %+v, want %+v", got, want)
	}
}

func containsKey(t *testing.T, body []byte, key string) bool {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	_, ok := m[key]
	return ok
}

func TestFaultsRegisterFlags(t *testing.T) {
	tests := []struct {
		name    string
		preset  Faults
		args    []string
		want    Faults
		invalid bool
	}{
		{name: "none", args: nil, want: Faults{}},
		{name: "defaults are the preset values", preset: Faults{ErrorStatus: 502, Seed: 3}, want: Faults{ErrorStatus: 502, Seed: 3}},
		{name: "every flag", args: []string{
			"--error-rate=0.1", "--error-status", "504", "--latency=15ms", "--drop-rate=0.2", "--seed=-9",
			"--latency-after-create=2s", "--latency-after-create-rate=0.25",
			"--drop-after-create-rate=0.3", "--error-after-create-rate=0.4",
		}, want: Faults{
			ErrorRate: 0.1, ErrorStatus: 504, Latency: 15 * time.Millisecond, DropConnRate: 0.2, Seed: -9,
			LatencyAfterCreate: 2 * time.Second, LatencyAfterCreateRate: 0.25,
			DropAfterCreateRate: 0.3, ErrorAfterCreateRate: 0.4,
		}},
		{name: "rate out of range parses, fails Validate", args: []string{"--drop-after-create-rate=2"}, want: Faults{DropAfterCreateRate: 2}, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.preset
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			f.RegisterFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f, tt.want) {
				t.Fatalf("got %+v, want %+v", f, tt.want)
			}
			if err := f.Validate(); (err != nil) != tt.invalid || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("Validate() = %v, want invalid=%v", err, tt.invalid)
			}
		})
	}
}

// A client that retries every failure until it gets a 200 creates one lead
// per email plus one per abandoned create: the invariant integration tests
// of closesink assert.
func TestRetryingClientDuplicatesEqualAbandoned(t *testing.T) {
	s, ts := start(t, Config{})
	s.SetFaults(Faults{
		ErrorRate: 0.1, DropConnRate: 0.1, // before the create: no lead, no count
		DropAfterCreateRate: 0.2, ErrorAfterCreateRate: 0.2, ErrorStatus: 502,
		Seed: 11,
	})
	const emails = 30
	for i := range emails {
		body := leadFor(fmt.Sprintf("lead%d@example.com", i))
		for attempt := 0; ; attempt++ {
			if attempt == 50 {
				t.Fatalf("email %d: no success in 50 attempts", i)
			}
			r, err := doCtx(context.Background(), ts, http.MethodPost, leadPath, testKey, body)
			ts.Client().CloseIdleConnections()
			if err == nil && r.status == 200 {
				break
			}
		}
	}
	st := s.Stats()
	if st.AbandonedAfterCreate == 0 || st.Dropped == 0 {
		t.Fatalf("the seed should exercise both kinds of fault: %+v", st)
	}
	if st.Created != emails+st.AbandonedAfterCreate || len(s.Leads()) != st.Created {
		t.Fatalf("Created %d, want %d emails + %d abandoned", st.Created, emails, st.AbandonedAfterCreate)
	}
	byEmail := s.LeadsByEmail()
	dups := 0
	for _, n := range byEmail {
		dups += n - 1
	}
	if len(byEmail) != emails || dups != st.AbandonedAfterCreate || st.ByStatus[200] != emails {
		t.Fatalf("%d emails with %d duplicates; stats %+v", len(byEmail), dups, st)
	}
}
