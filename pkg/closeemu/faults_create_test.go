package closeemu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// delayingNow reports how many created leads are waiting out LatencyAfterCreate.
func (s *Server) delayingNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delaying
}

func TestAfterCreateFaults(t *testing.T) {
	tests := []struct {
		name          string
		faults        Faults
		wantStatus    int // 0: want a connection error and no response
		wantAbandoned int
		minTook       time.Duration
	}{
		{name: "no fault", faults: Faults{}, wantStatus: 200},
		{name: "pre-create faults off", faults: Faults{ErrorRate: 0, DropConnRate: 0, Seed: 9}, wantStatus: 200},
		{name: "drop after create", faults: Faults{DropAfterCreateRate: 1}, wantAbandoned: 1},
		{name: "error after create, 502", faults: Faults{ErrorAfterCreateRate: 1, ErrorStatus: 502}, wantStatus: 502, wantAbandoned: 1},
		{name: "error after create, default 503", faults: Faults{ErrorAfterCreateRate: 1}, wantStatus: 503, wantAbandoned: 1},
		{name: "error after create, 2xx status becomes 502", faults: Faults{ErrorAfterCreateRate: 1, ErrorStatus: 204}, wantStatus: 502, wantAbandoned: 1},
		{name: "error after create, 429", faults: Faults{ErrorAfterCreateRate: 1, ErrorStatus: 429}, wantStatus: 429, wantAbandoned: 1},
		{name: "drop wins over error", faults: Faults{DropAfterCreateRate: 1, ErrorAfterCreateRate: 1}, wantAbandoned: 1},
		// The delay is the fault itself; the client waits for it, so the
		// answer is a success and nothing is abandoned.
		{name: "latency after create, client waits", faults: Faults{LatencyAfterCreate: 20 * time.Millisecond}, wantStatus: 200, minTook: 20 * time.Millisecond},
		{name: "latency then error counts once", faults: Faults{LatencyAfterCreate: 5 * time.Millisecond, ErrorAfterCreateRate: 1}, wantStatus: 503, wantAbandoned: 1, minTook: 5 * time.Millisecond},
		{name: "latency then drop counts once", faults: Faults{LatencyAfterCreate: 5 * time.Millisecond, DropAfterCreateRate: 1}, wantAbandoned: 1, minTook: 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := start(t, Config{})
			s.SetFaults(tt.faults)
			began := time.Now()
			r, err := doCtx(context.Background(), ts, http.MethodPost, leadPath, testKey, minimalLead)
			took := time.Since(began)
			switch {
			case tt.wantStatus == 0 && err == nil:
				t.Fatalf("got %d %s, want a connection error", r.status, r.body)
			case tt.wantStatus != 0 && err != nil:
				t.Fatalf("got %v, want status %d", err, tt.wantStatus)
			case r.status != tt.wantStatus:
				t.Fatalf("status %d, want %d", r.status, tt.wantStatus)
			}
			if took < tt.minTook {
				t.Fatalf("answered in %v, want >= %v", took, tt.minTook)
			}
			// The lead exists whatever the client saw, and the count is in
			// place by the time the client sees the failure.
			st := s.Stats()
			if n := len(s.Leads()); n != 1 || st.Created != 1 {
				t.Fatalf("%d leads stored, Created %d; want 1", n, st.Created)
			}
			if st.AbandonedAfterCreate != tt.wantAbandoned {
				t.Fatalf("AbandonedAfterCreate = %d, want %d", st.AbandonedAfterCreate, tt.wantAbandoned)
			}
			if st.Dropped != 0 || st.Cancelled != 0 {
				t.Fatalf("after-create faults counted as pre-create ones: %+v", st)
			}
			if tt.wantStatus >= 500 && !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				t.Fatalf("injected %d should look like a proxy page, got %q", r.status, r.header.Get("Content-Type"))
			}
		})
	}
}

// Requests that create nothing are never touched by after-create faults.
func TestAfterCreateFaultsSpareOtherRequests(t *testing.T) {
	s, ts := start(t, Config{})
	s.SetFaults(Faults{DropAfterCreateRate: 1, ErrorAfterCreateRate: 1, LatencyAfterCreate: time.Hour})
	if r := postLead(t, ts, `{"name":""}`); r.status != 400 {
		t.Fatalf("invalid lead: %d", r.status)
	}
	if r := call(t, ts, "GET", leadPath, testKey, ""); r.status != 200 {
		t.Fatalf("list: %d", r.status)
	}
	if r := call(t, ts, "GET", mePath, testKey, ""); r.status != 200 {
		t.Fatalf("me: %d", r.status)
	}
	s.SetFaults(Faults{Script: []int{503}, DropAfterCreateRate: 1})
	if r := postLead(t, ts, minimalLead); r.status != 503 {
		t.Fatalf("scripted 503: %d", r.status)
	}
	if st := s.Stats(); st.Created != 0 || st.AbandonedAfterCreate != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLatencyAfterCreateAbandoned(t *testing.T) {
	t.Run("client cancels", func(t *testing.T) {
		s, ts := start(t, Config{})
		s.SetFaults(Faults{LatencyAfterCreate: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := doCtx(ctx, ts, http.MethodPost, leadPath, testKey, minimalLead)
			errc <- err
		}()
		waitFor(t, "the lead to be stored and its answer delayed", func() bool { return s.delayingNow() == 1 })
		if n := len(s.Leads()); n != 1 {
			t.Fatalf("want the lead stored before the answer; have %d", n)
		}
		if st := s.Stats(); st.AbandonedAfterCreate != 0 {
			t.Fatalf("counted before the client gave up: %+v", st)
		}
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("client error %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the client did not return after cancelling")
		}
		waitFor(t, "the abandoned create to be counted", func() bool { return s.Stats().AbandonedAfterCreate == 1 })
		st := s.Stats()
		if st.Created != 1 || st.Cancelled != 0 || len(st.ByStatus) != 0 || len(s.Leads()) != 1 || s.delayingNow() != 0 {
			t.Fatalf("stats = %+v, %d leads, %d delaying", st, len(s.Leads()), s.delayingNow())
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		s, ts := start(t, Config{})
		s.SetFaults(Faults{LatencyAfterCreate: time.Hour})
		client := *ts.Client()
		client.Timeout = 200 * time.Millisecond
		req, err := http.NewRequest(http.MethodPost, ts.URL+leadPath, strings.NewReader(minimalLead))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(testKey, "")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("status %d, want a client timeout", resp.StatusCode)
		}
		waitFor(t, "the abandoned create to be counted", func() bool { return s.Stats().AbandonedAfterCreate == 1 })
		if n := len(s.Leads()); n != 1 {
			t.Fatalf("the abandoned lead must stay created; have %d", n)
		}
	})
}

// outcomes posts n leads, each on a fresh connection so the transport never
// retries, and describes each answer: "200", "503", ... or "conn".
func outcomes(t *testing.T, f Faults, n int) ([]string, Stats) {
	t.Helper()
	s, ts := start(t, Config{})
	s.SetFaults(f)
	out := make([]string, n)
	for i := range out {
		r, err := doCtx(context.Background(), ts, http.MethodPost, leadPath, testKey, leadFor(fmt.Sprintf("l%d@example.com", i)))
		out[i] = fmt.Sprint(r.status)
		if err != nil {
			out[i] = "conn"
		}
		ts.Client().CloseIdleConnections()
	}
	return out, s.Stats()
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestAfterCreateRatesDeterministic(t *testing.T) {
	const n = 40
	mixed := Faults{DropAfterCreateRate: 0.3, ErrorAfterCreateRate: 0.3, ErrorStatus: 502, Seed: 7}
	a, st := outcomes(t, mixed, n)
	if b, _ := outcomes(t, mixed, n); !slices.Equal(a, b) {
		t.Fatalf("same seed, different outcomes:\n%v\n%v", a, b)
	}
	other := mixed
	other.Seed = 8
	if c, _ := outcomes(t, other, n); slices.Equal(a, c) {
		t.Fatal("different seeds gave the same outcomes")
	}
	drops, errs := count(a, "conn"), count(a, "502")
	if drops == 0 || errs == 0 || drops+errs+count(a, "200") != n {
		t.Fatalf("outcomes %v", a)
	}
	if st.Created != n || st.AbandonedAfterCreate != drops+errs {
		t.Fatalf("stats %+v; %d drops and %d errors", st, drops, errs)
	}

	// Each rate has its own stream: alone, the drop rate picks the same
	// leads; the error rate alone picks a superset of the mixed run's errors
	// (it loses only where a drop won).
	dropOnly, _ := outcomes(t, Faults{DropAfterCreateRate: 0.3, Seed: 7}, n)
	errOnly, _ := outcomes(t, Faults{ErrorAfterCreateRate: 0.3, ErrorStatus: 502, Seed: 7}, n)
	for i := range a {
		if (a[i] == "conn") != (dropOnly[i] == "conn") {
			t.Fatalf("request %d: mixed %s, drop alone %s", i, a[i], dropOnly[i])
		}
		if a[i] == "502" && errOnly[i] != "502" {
			t.Fatalf("request %d: mixed %s, error alone %s", i, a[i], errOnly[i])
		}
	}
	// And after-create rates do not move the pre-create ErrorRate's picks.
	before, _ := outcomes(t, Faults{ErrorRate: 0.3, Seed: 7}, n)
	with, _ := outcomes(t, Faults{ErrorRate: 0.3, DropAfterCreateRate: 0.5, Seed: 7}, n)
	for i := range before {
		if (before[i] == "503") != (with[i] == "503") {
			t.Fatalf("request %d: ErrorRate alone %s, with drop-after-create %s", i, before[i], with[i])
		}
	}
}

func TestLatencyAfterCreateRateDeterministic(t *testing.T) {
	draws := func(f Faults, n int) []bool {
		var fs faultState
		fs.set(f)
		out := make([]bool, n)
		for i := range out {
			out[i] = fs.drawAfterCreate().delay > 0
		}
		return out
	}
	f := Faults{LatencyAfterCreate: time.Hour, LatencyAfterCreateRate: 0.5, Seed: 3}
	want := draws(f, 200)
	if !slices.Equal(want, draws(f, 200)) {
		t.Fatal("same seed, different delays")
	}
	if k := count(boolStrings(want), "true"); k < 70 || k > 130 {
		t.Fatalf("%d of 200 delayed at rate 0.5", k)
	}
	g := f
	g.DropAfterCreateRate, g.ErrorAfterCreateRate = 0.4, 0.4
	if !slices.Equal(want, draws(g, 200)) {
		t.Fatal("other after-create rates moved the latency picks")
	}
	g = f
	g.Seed = 4
	if slices.Equal(want, draws(g, 200)) {
		t.Fatal("different seeds gave the same delays")
	}
	for _, r := range []float64{0, 1} {
		if got := draws(Faults{LatencyAfterCreate: time.Hour, LatencyAfterCreateRate: r}, 20); slices.Contains(got, false) {
			t.Fatalf("rate %v should delay every lead: %v", r, got)
		}
	}

	// End to end: exactly the drawn leads are delayed, and exactly those,
	// once their clients give up, are counted.
	const n = 12
	s, ts := start(t, Config{})
	s.SetFaults(f)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := doCtx(ctx, ts, http.MethodPost, leadPath, testKey, minimalLead)
			errc <- err
		}()
		var err error
		delayed, deadline := false, time.Now().Add(5*time.Second)
	poll:
		for {
			select {
			case err = <-errc:
				break poll
			default:
			}
			if s.delayingNow() == 1 {
				delayed = true
				cancel()
				err = <-errc
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %d neither answered nor delayed", i)
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if delayed != want[i] || delayed != (err != nil) {
			t.Fatalf("request %d: delayed %v (err %v), want %v", i, delayed, err, want[i])
		}
		// The next request may only look at the gauge once this handler
		// has seen its client go.
		k := count(boolStrings(want[:i+1]), "true")
		waitFor(t, "the abandoned create to be counted", func() bool {
			return s.Stats().AbandonedAfterCreate == k && s.delayingNow() == 0
		})
		ts.Client().CloseIdleConnections()
	}
	k := count(boolStrings(want[:n]), "true")
	if st := s.Stats(); st.Created != n || st.ByStatus[200] != n-k {
		t.Fatalf("stats %+v, want %d created and %d answered", st, n, n-k)
	}
}

func boolStrings(bs []bool) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = fmt.Sprint(b)
	}
	return out
}
