package delivery

import (
	"net/http"
	"testing"
	"time"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestParseRateLimit(t *testing.T) {
	full := func(limit, remaining float64, reset time.Duration) RateLimitInfo {
		return RateLimitInfo{Limit: limit, Remaining: remaining, Reset: reset, OK: true, HasLimit: true, HasRemaining: true, HasReset: true}
	}
	tests := []struct {
		name string
		h    http.Header
		want RateLimitInfo
	}{
		{"comma", hdr("RateLimit", "limit=100, remaining=50, reset=5"), full(100, 50, 5*time.Second)},
		{"semicolon", hdr("RateLimit", "limit=100; remaining=50; reset=5"), full(100, 50, 5*time.Second)},
		{"no spaces, mixed separators", hdr("RateLimit", "limit=100;remaining=0,reset=1.25"), full(100, 0, 1250*time.Millisecond)},
		{"decimals and key order", hdr("RateLimit", "reset=0.5, remaining=2.5, limit=20"), full(20, 2.5, 500*time.Millisecond)},
		{"quoted values and upper-case keys", hdr("RateLimit", `LIMIT="10", Remaining="3", Reset="2"`), full(10, 3, 2*time.Second)},
		{"header name case-insensitive", http.Header{"Ratelimit": {"limit=1, remaining=1, reset=1"}}, full(1, 1, time.Second)},
		{"separate headers", hdr("RateLimit-Limit", "60", "RateLimit-Remaining", "59", "RateLimit-Reset", "0.75"), full(60, 59, 750*time.Millisecond)},
		{"legacy headers", hdr("X-Rate-Limit-Limit", "40", "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", "3"), full(40, 0, 3*time.Second)},
		{"combined wins over separate and legacy",
			hdr("RateLimit", "limit=100, remaining=50, reset=5", "RateLimit-Remaining", "1", "X-Rate-Limit-Reset", "9"),
			full(100, 50, 5*time.Second)},
		{"separate fills what combined lacks",
			hdr("RateLimit", "remaining=7", "RateLimit-Reset", "4", "X-Rate-Limit-Limit", "30"),
			full(30, 7, 4*time.Second)},
		{"only reset", hdr("RateLimit", "reset=2"), RateLimitInfo{Reset: 2 * time.Second, OK: true, HasReset: true}},
		{"none", http.Header{}, RateLimitInfo{}},
		{"garbage ignored", hdr("RateLimit", "limit=abc, remaining=-1, reset=NaN, =5, foo"), RateLimitInfo{}},
		{"infinite ignored", hdr("RateLimit", "reset=+Inf, remaining=3"), RateLimitInfo{Remaining: 3, OK: true, HasRemaining: true}},
		{"bad combined value falls back", hdr("RateLimit", "reset=soon", "RateLimit-Reset", "1"), RateLimitInfo{Reset: time.Second, OK: true, HasReset: true}},
		{"absurd reset capped", hdr("RateLimit", "reset=1790000000"), RateLimitInfo{Reset: MaxServerWait, OK: true, HasReset: true}},
		{"repeated header", hdr("RateLimit", "limit=5", "RateLimit", "remaining=4, reset=3"), full(5, 4, 3*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseRateLimit(tt.h); got != tt.want {
				t.Errorf("ParseRateLimit(%v)\n got %+v\nwant %+v", tt.h, got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		h      http.Header
		body   string
		want   time.Duration
		wantOK bool
	}{
		{"decimal RateLimit reset preferred over Retry-After",
			hdr("RateLimit", "limit=10, remaining=0, reset=1.5", "Retry-After", "2"), "", 1500 * time.Millisecond, true},
		{"separate RateLimit-Reset", hdr("RateLimit-Reset", "0.25", "Retry-After", "1"), "", 250 * time.Millisecond, true},
		{"legacy reset", hdr("X-Rate-Limit-Reset", "4", "Retry-After", "1"), "", 4 * time.Second, true},
		{"Retry-After seconds", hdr("Retry-After", "3"), "", 3 * time.Second, true},
		{"Retry-After HTTP date", hdr("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), "", 90 * time.Second, true},
		{"Retry-After date in the past", hdr("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), "", 0, true},
		{"Retry-After huge capped", hdr("Retry-After", "99999999"), "", MaxServerWait, true},
		{"Retry-After garbage falls to body", hdr("Retry-After", "soon"), `{"rate_reset": 6}`, 6 * time.Second, true},
		{"header beats body", hdr("Retry-After", "1"), `{"rate_reset": 6}`, time.Second, true},
		{"body top-level number", nil, `{"error":"Too many requests","rate_reset": 2.5}`, 2500 * time.Millisecond, true},
		{"body top-level string", nil, `{"rate_reset": "7"}`, 7 * time.Second, true},
		{"body nested number", nil, `{"error": {"message": "slow down", "rate_reset": 1.75}}`, 1750 * time.Millisecond, true},
		{"body nested string", nil, ` {"error": {"rate_reset": "0.5"}}`, 500 * time.Millisecond, true},
		{"body rate_reset garbage", nil, `{"rate_reset": "later"}`, 0, false},
		{"body error is a string", nil, `{"error": "Too many requests"}`, 0, false},
		{"body not JSON", nil, `<html>429</html>`, 0, false},
		{"body broken JSON", nil, `{"rate_reset": `, 0, false},
		{"nothing", nil, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RetryAfter(tt.h, []byte(tt.body), now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter = (%v, %v), want (%v, %v)", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
