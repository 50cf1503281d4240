package delivery

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateLimitInfo is what a response said about the rate limit window.
type RateLimitInfo struct {
	Limit     float64       // requests allowed in the window
	Remaining float64       // requests left in the window
	Reset     time.Duration // time until the window resets, capped at MaxServerWait
	OK        bool          // at least one of the three was present and valid

	HasLimit, HasRemaining, HasReset bool // which fields were present and valid
}

// ParseRateLimit reads Close's rate limit headers (close-api.md). It accepts,
// in order of preference per field:
//   - RateLimit: limit=100, remaining=50, reset=5 (',' or ';' separators,
//     decimal values, quoted values, any key order, repeated headers);
//   - RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset;
//   - legacy X-Rate-Limit-Limit, X-Rate-Limit-Remaining, X-Rate-Limit-Reset.
//
// reset is seconds until the window resets. Negative, NaN, infinite and
// unparsable values are ignored. ParseRateLimit is pure and never fails.
func ParseRateLimit(h http.Header) RateLimitInfo {
	var info RateLimitInfo
	if len(h) == 0 {
		return info
	}
	for _, v := range h[rateLimitKey] {
		for part := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == ';' }) {
			key, val, found := strings.Cut(part, "=")
			if !found {
				continue
			}
			info.set(strings.ToLower(strings.TrimSpace(key)), val)
		}
	}
	for _, k := range separateKeys {
		if v := h[k.header]; len(v) > 0 && v[0] != "" {
			info.set(k.field, v[0])
		}
	}
	info.OK = info.HasLimit || info.HasRemaining || info.HasReset
	return info
}

// Header keys in canonical form, so lookups index the map directly (this
// runs on every response).
var (
	rateLimitKey = http.CanonicalHeaderKey("RateLimit")
	separateKeys = func() (keys []struct{ header, field string }) {
		for _, prefix := range [...]string{"RateLimit-", "X-Rate-Limit-"} {
			for _, field := range [...]string{"limit", "remaining", "reset"} {
				keys = append(keys, struct{ header, field string }{http.CanonicalHeaderKey(prefix + field), field})
			}
		}
		return keys
	}()
)

// set records field=raw unless the field is already set (earlier sources win).
func (info *RateLimitInfo) set(field, raw string) {
	f, ok := parseNonNegative(raw)
	if !ok {
		return
	}
	switch field {
	case "limit":
		if !info.HasLimit {
			info.Limit, info.HasLimit = f, true
		}
	case "remaining":
		if !info.HasRemaining {
			info.Remaining, info.HasRemaining = f, true
		}
	case "reset":
		if !info.HasReset {
			info.Reset, info.HasReset = seconds(f), true
		}
	}
}

// parseNonNegative parses a possibly quoted decimal number >= 0.
func parseNonNegative(raw string) (float64, bool) {
	s := strings.Trim(strings.TrimSpace(raw), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

// seconds converts a non-negative number of seconds to a duration capped at
// MaxServerWait.
func seconds(f float64) time.Duration {
	if f >= MaxServerWait.Seconds() {
		return MaxServerWait
	}
	return time.Duration(f * float64(time.Second))
}

// RetryAfter returns the wait a server asked for, capped at MaxServerWait.
// It prefers the decimal RateLimit reset (any header form ParseRateLimit
// accepts), then Retry-After (seconds, or an HTTP date measured from now;
// a date in the past means 0), then a rate_reset value in a JSON body, at
// the top level or as {"error": {"rate_reset": ...}}, a number or a numeric
// string. ok is false when none is present. Pure; safe for concurrent use.
func RetryAfter(h http.Header, body []byte, now time.Time) (time.Duration, bool) {
	if rl := ParseRateLimit(h); rl.HasReset {
		return rl.Reset, true
	}
	if d, ok := retryAfterHeader(h, now); ok {
		return d, true
	}
	return rateResetFromBody(body)
}

// retryAfterHeader parses the Retry-After header alone.
func retryAfterHeader(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if f, ok := parseNonNegative(v); ok {
		return seconds(f), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return min(d, MaxServerWait), true
}

// rateResetFromBody finds a legacy rate_reset value in a 429 body.
func rateResetFromBody(body []byte) (time.Duration, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return 0, false
	}
	var top struct {
		RateReset json.RawMessage `json:"rate_reset"`
		Error     json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &top) != nil {
		return 0, false
	}
	if d, ok := rawSeconds(top.RateReset); ok {
		return d, true
	}
	var nested struct {
		RateReset json.RawMessage `json:"rate_reset"`
	}
	if len(top.Error) > 0 && top.Error[0] == '{' && json.Unmarshal(top.Error, &nested) == nil {
		return rawSeconds(nested.RateReset)
	}
	return 0, false
}

// rawSeconds reads a JSON number or numeric string as seconds.
func rawSeconds(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
	}
	f, ok := parseNonNegative(s)
	if !ok {
		return 0, false
	}
	return seconds(f), true
}
