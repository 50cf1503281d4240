package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/closesink/closesink/pkg/closeapi"
)

// jitterPercent spreads retries of different partitions apart.
const jitterPercent = 20

// Sender delivers the leads of one partition. It holds no per-call state, so
// it is safe for concurrent use; every sender of a client draws from the
// member's one limiter (see Client.SetPartitions).
type Sender struct {
	c         *Client
	partition int32
}

// Partition returns the partition this sender serves.
func (s *Sender) Partition() int32 { return s.partition }

// RateLimit returns the share of the budget the sender draws from (its
// member's, shared by every partition of the member); (0, 0) when rate
// limiting is off.
func (s *Sender) RateLimit() (perSecond float64, burst int) {
	if s.c.limiter == nil {
		return 0, 0
	}
	return float64(s.c.limiter.Limit()), s.c.limiter.Burst()
}

// Deliver marshals lead once and delivers it like DeliverBody. A lead that
// cannot be marshalled (or is nil) is Permanent without any request.
func (s *Sender) Deliver(ctx context.Context, lead *closeapi.Lead) Outcome {
	if lead == nil {
		return Outcome{Status: Permanent, Message: "nil lead"}
	}
	body, err := json.Marshal(lead)
	if err != nil {
		return Outcome{Status: Permanent, Message: s.c.scrub("marshal lead: " + err.Error())}
	}
	return s.DeliverBody(ctx, body)
}

// DeliverBody posts a JSON lead body (create a lead) until the outcome is
// final or ctx ends; see call. body is not modified or retained.
func (s *Sender) DeliverBody(ctx context.Context, body []byte) Outcome {
	return s.Create(ctx, body, nil)
}

// Create is DeliverBody with a check before every retry: when beforeRetry
// (if not nil) returns true, the create is not sent again and the outcome
// is Superseded. The upsert mode uses it to search for the person first: a
// create that timed out may have succeeded.
func (s *Sender) Create(ctx context.Context, body []byte, beforeRetry func(context.Context) bool) Outcome {
	return s.call(ctx, http.MethodPost, s.c.leadURL, body, beforeRetry, func(b []byte, out *Outcome) {
		out.LeadID, out.ContactID = createdIDs(b)
	})
}

// call makes one Close API call until the outcome is final or ctx ends. It
// blocks for the whole call, including rate limit waits, the shared 429
// pause and retry backoff. Cancelling ctx ends any wait at once and
// prevents further attempts (the outcome is then Interrupted, with the last
// status and message seen), but an attempt already on the wire finishes and
// its outcome is returned as is: see the package doc. onSuccess reads a 2xx
// body (which it must not retain).
func (s *Sender) call(ctx context.Context, method, url string, body []byte, beforeRetry func(context.Context) bool,
	onSuccess func(body []byte, out *Outcome)) Outcome {
	c := s.c
	clock := c.cfg.Clock
	start := clock.Now()
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxErrorBody {
			bodyBuffers.Put(buf)
		}
	}()

	var (
		out   Outcome
		first time.Time
		bo    retry.Backoff
	)
	done := func(st Status) Outcome {
		out.Status = st
		out.Elapsed = clock.Now().Sub(start)
		return out
	}
	interrupted := func() Outcome {
		reason := "interrupted"
		if c.aborted() {
			reason += ": " + ErrAborted.Error()
		} else if err := ctx.Err(); err != nil {
			reason += ": " + err.Error()
		}
		if out.Message != "" {
			reason += "; last: " + out.Message
		}
		out.Message = c.scrub(reason)
		return done(Interrupted)
	}

	for {
		if ctx.Err() != nil || c.aborted() || s.waitTurn(ctx) != nil {
			return interrupted()
		}
		if out.Attempts == 0 {
			first = clock.Now()
		}
		out.Attempts++
		res := c.send(ctx, method, url, body, buf)
		if res.err != nil && c.aborted() {
			return interrupted()
		}
		class := Classify(res.status, res.err)
		att := Attempt{
			Partition:   s.partition,
			Number:      out.Attempts,
			HTTPStatus:  res.status,
			Class:       class,
			Latency:     res.latency,
			RateLimited: res.status == http.StatusTooManyRequests,
		}
		if res.err == nil {
			out.HTTPStatus = res.status
			c.noteWindow(res.header)
		}
		switch class {
		case ClassSuccess:
			out.Message = ""
			if onSuccess != nil {
				onSuccess(res.body, &out)
			}
			s.report(att)
			return done(Delivered)
		case ClassPermanent:
			out.Message = c.scrub(errorText(res.status, res.body))
			att.Message = out.Message
			s.report(att)
			return done(Permanent)
		}

		if res.err != nil {
			out.Message = c.scrub(res.err.Error())
		} else {
			out.Message = c.scrub(errorText(res.status, res.body))
		}
		att.Message = out.Message
		if bo == nil {
			bo = s.c.newBackoff()
		}
		wait := c.retryWait(res, bo)
		if att.RateLimited {
			c.pauseFor(wait)
		}
		if ctx.Err() != nil || c.aborted() {
			s.report(att)
			return interrupted()
		}
		if budget := c.cfg.MaxRetryDuration; budget > 0 && clock.Now().Add(wait).Sub(first) > budget {
			// Waiting only to give up later would hold the partition for nothing.
			s.report(att)
			return done(RetriesExhausted)
		}
		att.Wait = wait
		s.report(att)
		if c.sleep(ctx, wait) != nil {
			return interrupted()
		}
		if beforeRetry != nil && beforeRetry(ctx) {
			return done(Superseded)
		}
	}
}

// waitTurn waits out the shared pause, then the partition's limiter, then
// any pause that began meanwhile (another partition may have hit a 429
// while this one waited for a token).
func (s *Sender) waitTurn(ctx context.Context) error {
	clock := s.c.cfg.Clock
	reserved := s.c.limiter == nil
	for {
		if d := s.c.pauseRemaining(); d > 0 {
			if err := s.c.sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if reserved {
			return nil
		}
		now := clock.Now()
		r := s.c.limiter.ReserveN(now, 1) // burst >= 1, so always OK
		if err := s.c.sleep(ctx, r.DelayFrom(now)); err != nil {
			r.CancelAt(clock.Now()) // give the token back
			return err
		}
		reserved = true
	}
}

func (s *Sender) report(a Attempt) {
	if f := s.c.cfg.OnAttempt; f != nil {
		f(a)
	}
}

// newBackoff is exponential from BackoffBase, ±20% jitter, capped at
// BackoffMax before and after the jitter so that the cap is strict while
// capped waits still differ between partitions.
func (c *Client) newBackoff() retry.Backoff {
	b := retry.NewExponential(c.cfg.BackoffBase)
	b = retry.WithCappedDuration(c.cfg.BackoffMax, b)
	b = retry.WithJitterPercent(jitterPercent, b)
	return retry.WithCappedDuration(c.cfg.BackoffMax, b)
}

// retryWait is the wait before retrying after res.
//
// A 429 is flow control, not a fault: the wait is the server's reset
// (RetryAfter), else DefaultRateLimitWait, and it does not advance the
// backoff, which would otherwise push throughput below the budget after a
// few 429s. Other retryable answers back off exponentially, stretched to
// Retry-After when the server asks for longer. Only Retry-After counts
// there: the RateLimit reset of a 503 describes the rate window, not the
// outage.
func (c *Client) retryWait(res response, bo retry.Backoff) time.Duration {
	now := c.cfg.Clock.Now()
	if res.status == http.StatusTooManyRequests {
		if d, ok := RetryAfter(res.header, res.body, now); ok && d > 0 {
			return d
		}
		return c.cfg.DefaultRateLimitWait
	}
	wait, _ := bo.Next() // never stops: no max-retries wrapper
	if res.header != nil {
		if d, ok := retryAfterHeader(res.header, now); ok && d > wait {
			wait = d
		}
	}
	return wait
}

// noteWindow makes every partition wait for the window reset when a
// response says no requests remain in it.
func (c *Client) noteWindow(h http.Header) {
	rl := ParseRateLimit(h)
	if rl.HasRemaining && rl.Remaining < 1 && rl.HasReset {
		c.pauseFor(rl.Reset)
	}
}

// sleep waits d on the client's clock, ending early on ctx or Abort. The
// merged context is built only when there is something to wait for, which
// keeps it off the path of a delivery that never waits.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.aborted() {
		return ErrAborted
	}
	if d <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.abortCtx, cancel)
	defer stop()
	if err := c.cfg.Clock.Sleep(ctx, d); err != nil {
		if c.aborted() {
			return ErrAborted
		}
		return err
	}
	return nil
}
