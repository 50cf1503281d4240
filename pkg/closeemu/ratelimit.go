package closeemu

import (
	"math"
	"strconv"
	"time"
)

// bucket is one key's token bucket. It is not safe for concurrent use; the
// Server guards it with its mutex. Time comes from the caller so tests can
// drive it with an injected clock.
type bucket struct {
	tokens float64
	last   time.Time
}

// rateDecision is what one request learned from the bucket.
type rateDecision struct {
	allowed   bool
	limit     int
	remaining int
	// reset is how long until remaining next grows by one (0 when the bucket
	// is full). With a token bucket there is no window that "resets", so this
	// is the useful reading of Close's reset: after remaining=0 or a 429, a
	// client that waits reset gets its next request admitted.
	reset time.Duration
}

// take refills the bucket up to now and spends one token if there is one.
func (b *bucket) take(now time.Time, rate float64, burst int) rateDecision {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+elapsed.Seconds()*rate)
		// Round away float dust so 0.5s at 2/s is exactly one token, not
		// 0.9999999 (which would read as remaining=0).
		b.tokens = math.Round(b.tokens*1e9) / 1e9
	}
	// A clock that goes backwards must not mint tokens, so only ever move
	// last forward.
	if now.After(b.last) {
		b.last = now
	}
	d := rateDecision{limit: burst}
	if b.tokens >= 1 {
		b.tokens--
		d.allowed = true
	}
	d.remaining = int(math.Floor(b.tokens))
	if d.remaining < burst {
		next := float64(d.remaining+1) - b.tokens
		d.reset = time.Duration(next / rate * float64(time.Second))
	}
	return d
}

// resetMillis rounds a reset up to whole milliseconds, so a client that
// honours it never comes back a fraction too early.
func resetMillis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// header renders the RateLimit header value, reset in decimal seconds.
func (d rateDecision) header() string {
	return rateLimitHeader(d.limit, d.remaining, d.reset)
}

func rateLimitHeader(limit, remaining int, reset time.Duration) string {
	secs := strconv.FormatFloat(float64(resetMillis(reset))/1000, 'f', -1, 64)
	return "limit=" + strconv.Itoa(limit) + ", remaining=" + strconv.Itoa(remaining) + ", reset=" + secs
}

// retryAfterSeconds is Retry-After: whole seconds, rounded up, at least 1
// (a 0 would invite an immediate retry into the same empty bucket).
func retryAfterSeconds(reset time.Duration) int64 {
	ms := resetMillis(reset)
	return max(1, (ms+999)/1000)
}
