package closeemu

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closesink/closesink/pkg/closeapi"
)

// upsertCall is one request to an upsert endpoint against fresh leads a, b.
type upsertCall struct {
	endpoint     Endpoint
	method, path string
	body         string
}

func upsertCalls(t *testing.T, ts *httptest.Server) []upsertCall {
	t.Helper()
	a := mustCreate(t, ts, leadFor("jane@acme.com"))
	b := mustCreate(t, ts, leadFor("bob@acme.com"))
	return []upsertCall{
		{EndpointSearch, http.MethodPost, searchPath, searchBody(t, "jane@acme.com", 1)},
		{EndpointUpdateContact, http.MethodPut, contactPath + a.contacts[0] + "/", `{"emails":[{"email":"jane@acme.com"}],"title":"CTO"}`},
		{EndpointUpdateLead, http.MethodPut, leadPath + a.id + "/", `{"description":"x"}`},
		{EndpointGetLead, http.MethodGet, leadPath + a.id + "/", ""},
		{EndpointMerge, http.MethodPost, mergePath, `{"source":"` + b.id + `","destination":"` + a.id + `"}`},
	}
}

func TestUpsertEndpointsNeedAuth(t *testing.T) {
	s, ts := start(t, Config{})
	for _, c := range upsertCalls(t, ts) {
		for _, key := range []string{"", "api_wrong"} {
			r := call(t, ts, c.method, c.path, key, c.body)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("%s with key %q: %d", c.endpoint, key, r.status)
			}
		}
	}
	if st := s.Stats(); st.Searches+st.ContactUpdates+st.LeadUpdates+st.Merges != 0 || len(s.Leads()) != 2 {
		t.Fatalf("unauthorised requests changed something: %+v", st)
	}
}

func TestUpsertEndpointsAreRateLimited(t *testing.T) {
	clock := newFakeClock()
	s, ts := start(t, Config{RateLimit: 1, RateBurst: 2, Now: clock.Now})
	calls := upsertCalls(t, ts) // spends the burst on the two creates
	for _, c := range calls {
		r := call(t, ts, c.method, c.path, testKey, c.body)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.header.Get("RateLimit") == "" {
			t.Fatalf("%s on an empty bucket: %d %v", c.endpoint, r.status, r.header)
		}
		clock.Advance(time.Second)
		r = call(t, ts, c.method, c.path, testKey, c.body)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("RateLimit"), "limit=2, remaining=0") {
			t.Fatalf("%s after a refill: %d %s %v", c.endpoint, r.status, r.body, r.header)
		}
	}
	if st := s.Stats(); st.RateLimited != len(calls) || st.Searches != 1 || st.ContactUpdates != 1 || st.LeadUpdates != 1 || st.Merges != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUpsertEndpointFaults(t *testing.T) {
	for _, target := range []Endpoint{EndpointSearch, EndpointUpdateContact, EndpointUpdateLead, EndpointGetLead, EndpointMerge} {
		t.Run(string(target), func(t *testing.T) {
			s, ts := start(t, Config{})
			calls := upsertCalls(t, ts)
			// The script is consumed by the target endpoint only; creates
			// are not in ErrorEndpoints, so they are unaffected.
			s.SetFaults(Faults{ErrorEndpoints: []Endpoint{target}, Script: []int{503, 429}})
			mustCreate(t, ts, leadFor("carol@acme.com"))
			for _, c := range calls {
				if c.endpoint != target {
					if r := call(t, ts, c.method, c.path, testKey, c.body); r.status != 200 {
						t.Fatalf("%s: %d %s", c.endpoint, r.status, r.body)
					}
					continue
				}
				if r := call(t, ts, c.method, c.path, testKey, c.body); r.status != 503 ||
					!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
					t.Fatalf("first %s: %d %v", c.endpoint, r.status, r.header)
				}
				if r := call(t, ts, c.method, c.path, testKey, c.body); r.status != 429 || r.header.Get("Retry-After") == "" {
					t.Fatalf("second %s: %d %v", c.endpoint, r.status, r.header)
				}
			}
			// The faulted requests changed nothing: the target's counter
			// (if it has one) is 1 only once the script ran out.
			for _, c := range calls {
				if c.endpoint == target {
					if r := call(t, ts, c.method, c.path, testKey, c.body); r.status != 200 {
						t.Fatalf("%s after the script: %d %s", c.endpoint, r.status, r.body)
					}
				}
			}
			st := s.Stats()
			if got := []int{st.Searches, st.ContactUpdates, st.LeadUpdates, st.Merges}; !slices.Equal(got, []int{1, 1, 1, 1}) {
				t.Fatalf("counters %v", got)
			}
		})
	}
}

func TestUpsertDefaultFaultsOnlyHitCreates(t *testing.T) {
	s, ts := start(t, Config{})
	calls := upsertCalls(t, ts)
	s.SetFaults(Faults{ErrorRate: 1, StatusForEmail: map[string]int{"jane@acme.com": 400}})
	for _, c := range calls {
		if r := call(t, ts, c.method, c.path, testKey, c.body); r.status != 200 {
			t.Fatalf("%s: %d %s", c.endpoint, r.status, r.body)
		}
	}
	if r := postLead(t, ts, minimalLead); r.status != 503 {
		t.Fatalf("create: %d", r.status)
	}
}

func TestUpsertStatusForEmail(t *testing.T) {
	s, ts := start(t, Config{})
	calls := upsertCalls(t, ts)
	s.SetFaults(Faults{
		ErrorEndpoints: []Endpoint{EndpointSearch, EndpointUpdateContact},
		StatusForEmail: map[string]int{" Jane@Acme.com ": 422},
	})
	for _, c := range calls[:2] {
		if r := call(t, ts, c.method, c.path, testKey, c.body); r.status != 422 {
			t.Fatalf("%s: %d %s", c.endpoint, r.status, r.body)
		}
	}
	if got := searchIDs(t, ts, "bob@acme.com"); len(got) != 1 {
		t.Fatalf("other address: %v", got)
	}
}

func TestUpsertDropAndLatencyApply(t *testing.T) {
	s, ts := start(t, Config{})
	calls := upsertCalls(t, ts)
	s.SetFaults(Faults{DropConnRate: 1})
	for _, c := range calls {
		if _, err := doCtx(t.Context(), ts, c.method, c.path, testKey, c.body); err == nil {
			t.Fatalf("%s: want a dropped connection", c.endpoint)
		}
	}
	if st := s.Stats(); st.Dropped != len(calls) || st.Searches+st.ContactUpdates+st.LeadUpdates+st.Merges != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUpsertStatsServed(t *testing.T) {
	s, ts := start(t, Config{})
	for _, c := range upsertCalls(t, ts) {
		call(t, ts, c.method, c.path, testKey, c.body)
	}
	r := call(t, ts, http.MethodGet, StatsPath, "", "")
	var got Stats
	if err := json.Unmarshal(r.body, &got); err != nil || !reflect.DeepEqual(got, s.Stats()) {
		t.Fatalf("%s (%v)", r.body, err)
	}
	for _, k := range []string{"searches", "contact_updates", "lead_updates", "merges"} {
		if !containsKey(t, r.body, k) {
			t.Fatalf("stats JSON lacks %q: %s", k, r.body)
		}
	}
	if got.Searches != 1 || got.ContactUpdates != 1 || got.LeadUpdates != 1 || got.Merges != 1 {
		t.Fatalf("%+v", got)
	}
	s.Reset()
	if st := s.Stats(); st.Searches != 0 || len(s.ContactsByEmail()) != 0 || len(s.Updates()) != 0 {
		t.Fatalf("after Reset: %+v", st)
	}
	if got := searchIDs(t, ts, "jane@acme.com"); len(got) != 0 {
		t.Fatalf("search after Reset: %v", got)
	}
}

func TestUpsertConfigAndFlags(t *testing.T) {
	if err := (Config{IndexDelay: -1}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative IndexDelay: %v", err)
	}
	if err := (Faults{ErrorEndpoints: []Endpoint{"create"}}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown endpoint: %v", err)
	}
	if err := (Faults{ErrorEndpoints: Endpoints}).Validate(); err != nil {
		t.Fatal(err)
	}
	var f Faults
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	f.RegisterFlags(fs)
	if err := fs.Parse([]string{"--error-endpoints", "search, merge,update_lead"}); err != nil {
		t.Fatal(err)
	}
	if want := []Endpoint{EndpointSearch, EndpointMerge, EndpointUpdateLead}; !slices.Equal(f.ErrorEndpoints, want) {
		t.Fatalf("ErrorEndpoints = %v", f.ErrorEndpoints)
	}
	if err := fs.Parse([]string{"--error-endpoints", "search,nope"}); err == nil {
		t.Fatal("unknown endpoint accepted")
	}
}

// Searches, updates, merges and reads race freely (run with -race).
func TestUpsertConcurrent(t *testing.T) {
	s, ts := start(t, Config{IndexDelay: time.Millisecond})
	leads := make([]created, 8)
	for i := range leads {
		leads[i] = mustCreate(t, ts, leadFor(fmt.Sprintf("p%d@acme.com", i)))
	}
	search := func(email string) string {
		b, _ := json.Marshal(closeapi.ContactByEmail(email, 0))
		return string(b)
	}
	var wg sync.WaitGroup
	for i, l := range leads {
		wg.Go(func() {
			for j := range 10 {
				email := fmt.Sprintf("p%d.%d@acme.com", i, j)
				doCtx(t.Context(), ts, http.MethodPut, contactPath+l.contacts[0]+"/", testKey, `{"emails":[{"email":"`+email+`"}]}`)
				doCtx(t.Context(), ts, http.MethodPut, leadPath+l.id+"/", testKey, fmt.Sprintf(`{"custom.cf_n":%d}`, j))
				doCtx(t.Context(), ts, http.MethodPost, searchPath, testKey, search(email))
				doCtx(t.Context(), ts, http.MethodGet, leadPath+"?_limit=5", testKey, "")
				_ = s.Leads()
			}
			if i%2 == 1 {
				_ = s.Merge(l.id, leads[i-1].id)
			}
		})
	}
	wg.Wait()
	if n := len(s.Leads()); n != 4 {
		t.Fatalf("%d leads after 4 merges", n)
	}
	if got := len(s.ContactsByEmail()); got != 8 {
		t.Fatalf("%d addresses, want 8", got)
	}
}
