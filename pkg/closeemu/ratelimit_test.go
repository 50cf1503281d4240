package closeemu

import (
	"testing"
	"time"
)

func TestRateLimitBurstThen429ThenRecovery(t *testing.T) {
	clock := newFakeClock()
	s, ts := start(t, Config{APIKeys: []string{testKey, "api_other"}, RateLimit: 2, RateBurst: 3, Now: clock.Now})

	steps := []struct {
		advance    time.Duration
		key        string
		wantStatus int
		wantHeader string
		wantRetry  string
	}{
		// Full bucket of 3: remaining counts down; reset is the time until
		// remaining next grows (0.5 s at 2/s), 0 when full.
		{0, testKey, 200, "limit=3, remaining=2, reset=0.5", ""},
		{0, testKey, 200, "limit=3, remaining=1, reset=0.5", ""},
		{0, testKey, 200, "limit=3, remaining=0, reset=0.5", ""},
		{0, testKey, 429, "limit=3, remaining=0, reset=0.5", "1"},
		// Another key has its own bucket.
		{0, "api_other", 200, "limit=3, remaining=2, reset=0.5", ""},
		// 0.3 s later there is 0.6 of a token: still limited, reset 0.2 s.
		{300 * time.Millisecond, testKey, 429, "limit=3, remaining=0, reset=0.2", "1"},
		{200 * time.Millisecond, testKey, 200, "limit=3, remaining=0, reset=0.5", ""},
		// Long idle: bucket refills only up to the burst.
		{time.Hour, testKey, 200, "limit=3, remaining=2, reset=0.5", ""},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		r := call(t, ts, "GET", "/api/v1/me/", st.key, "")
		if r.status != st.wantStatus {
			t.Fatalf("step %d: status %d, want %d", i, r.status, st.wantStatus)
		}
		if got := r.header.Get("RateLimit"); got != st.wantHeader {
			t.Fatalf("step %d: RateLimit %q, want %q", i, got, st.wantHeader)
		}
		if got := r.header.Get("Retry-After"); got != st.wantRetry {
			t.Fatalf("step %d: Retry-After %q, want %q", i, got, st.wantRetry)
		}
		if r.status == 429 {
			if msg, _ := r.json(t)["error"].(string); msg == "" {
				t.Fatalf("step %d: 429 body %s lacks error", i, r.body)
			}
		}
	}
	if st := s.Stats(); st.RateLimited != 2 || st.ByStatus[429] != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	tests := []struct {
		rate       float64
		wantHeader string
		wantRetry  string
	}{
		{0.4, "limit=1, remaining=0, reset=2.5", "3"},
		{1, "limit=1, remaining=0, reset=1", "1"},
		{0.5, "limit=1, remaining=0, reset=2", "2"},
		{3, "limit=3, remaining=0, reset=0.334", "1"}, // 1/3 s rounded up to the millisecond
	}
	for _, tt := range tests {
		t.Run(tt.wantHeader, func(t *testing.T) {
			clock := newFakeClock()
			_, ts := start(t, Config{RateLimit: tt.rate, Now: clock.Now})
			var r response
			for range 10 {
				if r = call(t, ts, "GET", "/api/v1/me/", testKey, ""); r.status == 429 {
					break
				}
			}
			if r.status != 429 {
				t.Fatal("never rate limited")
			}
			if got := r.header.Get("RateLimit"); got != tt.wantHeader {
				t.Errorf("RateLimit %q, want %q", got, tt.wantHeader)
			}
			if got := r.header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetry)
			}
		})
	}
}

func TestRateLimitHeaderOnEveryAuthenticatedResponse(t *testing.T) {
	_, ts := start(t, Config{RateLimit: 100, Now: newFakeClock().Now})
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/lead/", minimalLead},
		{"POST", "/api/v1/lead/", `{}`},
		{"GET", "/api/v1/lead/", ""},
		{"GET", "/api/v1/lead/lead_x/", ""},
		{"DELETE", "/api/v1/me/", ""},
	} {
		if r := call(t, ts, c.method, c.path, testKey, c.body); r.header.Get("RateLimit") == "" {
			t.Errorf("%s %s (%d): no RateLimit header", c.method, c.path, r.status)
		}
	}
	if r := call(t, ts, "GET", "/api/v1/me/", "", ""); r.status != 401 || r.header.Get("RateLimit") != "" {
		t.Errorf("401 = %d with RateLimit %q; unauthenticated requests are not counted", r.status, r.header.Get("RateLimit"))
	}
}

func TestRateLimitOffSendsNoHeader(t *testing.T) {
	_, ts := start(t, Config{})
	for range 50 {
		r := call(t, ts, "GET", "/api/v1/me/", testKey, "")
		if r.status != 200 || r.header.Get("RateLimit") != "" {
			t.Fatalf("status %d RateLimit %q", r.status, r.header.Get("RateLimit"))
		}
	}
}

func TestBucketClockGoingBackwards(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := &bucket{tokens: 1, last: t0}
	if d := b.take(t0, 1, 1); !d.allowed {
		t.Fatal("first take refused")
	}
	if d := b.take(t0.Add(-time.Hour), 1, 1); d.allowed {
		t.Fatal("a clock stepping back must not mint tokens")
	}
	if d := b.take(t0.Add(time.Second), 1, 1); !d.allowed {
		t.Fatal("a token should be back one second after the last take")
	}
}
