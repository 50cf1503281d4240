package pipeline

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Result is what the results topic records about one delivered record:
// which Close objects the lead event created or matched, and how.
type Result struct {
	MessageID   string // the event's messageId ("" when it had none)
	LeadID      string
	ContactID   string // "" when Close did not say
	Action      Action // created, updated, unchanged or skipped
	DeliveredAt time.Time
}

// Results writes a delivered record's Result, blocking until it is durable
// (Kafka acknowledged it) or ctx ends; only a nil error makes the outcome
// final, so the offset is committed only after the result is written (the
// same rule as DeadLetterer). The results package's Writer satisfies it; the
// pipeline does not import that package.
type Results interface {
	Write(ctx context.Context, src *kgo.Record, r Result) error
}

// DefaultResultGrace is Config.ResultGrace's default.
const DefaultResultGrace = 10 * time.Second

// afterStop returns a context that ends grace after ctx does. A result is
// written after Close created the lead: a stop arriving meanwhile must not
// turn a delivered record into an uncommitted one (the next owner would
// create the lead again), so the write gets a bounded grace period.
func afterStop(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return c, func() { stop(); cancel() }
}

// writeResult writes rec's result, when a results topic is configured.
func (p *Pipeline) writeResult(ctx context.Context, rec *kgo.Record, r Result) error {
	if p.cfg.Results == nil {
		return nil
	}
	ctx, cancel := afterStop(ctx, p.cfg.ResultGrace)
	defer cancel()
	return p.cfg.Results.Write(ctx, rec, r)
}
