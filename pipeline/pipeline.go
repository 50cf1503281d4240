// Package pipeline is the per-record glue of closesink: transform the event,
// deliver the lead, dead-letter what failed. It decides each record's single
// outcome (docs/design.md §2) and is used by both `closesink run` (as the
// consumer's Handler) and `closesink replay`.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/transform"
)

// DefaultMaxRecordBytes is the largest record value processed; a larger one
// is dead-lettered as invalid_event. Signal events are a few KiB.
const DefaultMaxRecordBytes = 1 << 20

// Deliverer sends a lead for a source partition; a delivery client
// satisfies it through DelivererFor.
type Deliverer interface {
	Deliver(ctx context.Context, partition int32, body []byte) delivery.Outcome
}

// DeadLetterer writes a failed record to the dead-letter topic, blocking until
// it is durable (Kafka acknowledged it) or ctx ends; only a nil error makes the
// outcome final. The deadletter package's Writer satisfies it; the pipeline
// does not import that package, so the dependency runs from the DLQ to the
// pipeline and never back.
type DeadLetterer interface {
	Write(ctx context.Context, src *kgo.Record, f Failure) error
}

// Metrics is told what the pipeline does. Every method must be cheap and
// safe for concurrent use; the service's Prometheus metrics satisfy it.
type Metrics interface {
	Consumed()
	// Outcome counts a final outcome; reason is the drop reason or DLQ class.
	Outcome(outcome, reason string)
	// Delivery records a finished delivery: attempts and seconds taken.
	Delivery(attempts int, seconds float64)
	// PhoneLeftOut counts a lead created without its unusable phone.
	PhoneLeftOut(reason string)
	// DeliveredAction counts a delivered record by what it did in Close.
	DeliveredAction(action string)
}

type noMetrics struct{}

func (noMetrics) Consumed()                  {}
func (noMetrics) Outcome(string, string)     {}
func (noMetrics) Delivery(int, float64)      {}
func (noMetrics) PhoneLeftOut(reason string) {}
func (noMetrics) DeliveredAction(string)     {}

// Config wires a Pipeline.
type Config struct {
	Transformer    *transform.Transformer
	Deliverer      Deliverer
	DeadLetter     DeadLetterer
	Metrics        Metrics          // nil: none
	Logger         *zap.Logger      // nil: none
	LogPII         bool             // log emails in full (operator opt-in)
	MaxRecordBytes int              // 0: DefaultMaxRecordBytes
	Now            func() time.Time // nil: time.Now
	// DedupeWindow is how many delivered messageIds each partition
	// remembers; a lead event repeating one is dropped as "duplicate".
	// 0 turns it off. See seenIDs for what it does and does not catch.
	DedupeWindow int
	// DedupeAcrossPartitions keeps one window for every partition instead
	// of one each: a replay reads DLQ records of any source partition, and a
	// repeated event's dead-letter copies may sit on different ones.
	DedupeAcrossPartitions bool
	// Upsert, if set, makes lead events upsert by email (one lead per
	// person) instead of always creating; see upsert.go.
	Upsert *UpsertConfig
	// OnOutcome, if set, is told of every final outcome, after it is
	// durable. Called from the partition workers concurrently; must not block.
	OnOutcome func(rec *kgo.Record, out Outcome)
	// Results, if set, records every delivered record (results topic)
	// before its outcome counts as final.
	Results Results
	// ResultGrace is how long a result write may go on after ctx ended
	// (default DefaultResultGrace); see afterStop.
	ResultGrace time.Duration
}

// Pipeline is safe for concurrent use (one call per partition at a time is
// the intended use, but nothing breaks otherwise).
type Pipeline struct {
	cfg  Config
	log  *zap.Logger
	seen *seenIDs
	mem  *memory // upsert mode: email → Close ids, per partition
}

// New checks the wiring.
func New(cfg Config) (*Pipeline, error) {
	switch {
	case cfg.Transformer == nil:
		return nil, errors.New("pipeline: a transformer is required")
	case cfg.Deliverer == nil:
		return nil, errors.New("pipeline: a deliverer is required")
	case cfg.DeadLetter == nil:
		return nil, errors.New("pipeline: a dead-letter writer is required")
	case cfg.Upsert != nil && cfg.Upsert.API == nil:
		return nil, errors.New("pipeline: upsert mode needs an UpsertAPI")
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ResultGrace <= 0 {
		cfg.ResultGrace = DefaultResultGrace
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	pl := &Pipeline{cfg: cfg, log: log, seen: newSeenIDs(cfg.DedupeWindow, cfg.DedupeAcrossPartitions)}
	if cfg.Upsert != nil {
		pl.mem = newMemory(cfg.Upsert.Memory, cfg.Upsert.SharedMemory)
	}
	return pl, nil
}

// ForgetPartitions drops what the pipeline remembers about partitions this
// member no longer owns (their messageId windows). Safe for concurrent use.
func (p *Pipeline) ForgetPartitions(parts []int32) {
	p.seen.forget(parts)
	p.mem.drop(parts)
}

// Handle implements consumer.Handler: nil error once the outcome is final;
// urgent when a lead was created or a record dead-lettered.
func (p *Pipeline) Handle(ctx context.Context, rec *kgo.Record) (urgent bool, err error) {
	out, err := p.Process(ctx, rec)
	if err != nil {
		return false, err
	}
	return out.Kind != Dropped, nil
}

// Process takes one record to its final outcome. It blocks through rate
// limiting, retries and dead-letter retries; it returns an error wrapping
// ErrNotFinal when ctx ended before the outcome was final.
func (p *Pipeline) Process(ctx context.Context, rec *kgo.Record) (Outcome, error) {
	out, err := p.process(ctx, rec)
	if err == nil && p.cfg.OnOutcome != nil {
		p.cfg.OnOutcome(rec, out)
	}
	return out, err
}

func (p *Pipeline) process(ctx context.Context, rec *kgo.Record) (Outcome, error) {
	p.cfg.Metrics.Consumed()
	// The record's position goes on every line; built lazily, because most
	// records are drops that log nothing unless debug is on.
	log := func() *zap.Logger {
		return p.log.With(zap.String("topic", rec.Topic), zap.Int32("partition", rec.Partition), zap.Int64("offset", rec.Offset))
	}
	if n := len(rec.Value); n > p.cfg.MaxRecordBytes {
		return p.deadLetter(ctx, log(), rec, Failure{Class: ClassInvalidEvent,
			Message: fmt.Sprintf("record value is %d bytes, over the %d-byte limit", n, p.cfg.MaxRecordBytes)})
	}
	res := p.cfg.Transformer.Transform(rec.Value)
	switch res.Kind {
	case transform.KindDropped:
		p.cfg.Metrics.Outcome(Dropped.String(), string(res.Drop))
		if ce := p.log.Check(zap.DebugLevel, "dropped"); ce != nil {
			ce.Write(zap.String("topic", rec.Topic), zap.Int32("partition", rec.Partition), zap.Int64("offset", rec.Offset),
				zap.String("reason", string(res.Drop)), zap.String("event", res.Event))
		}
		return Outcome{Kind: Dropped, DropReason: res.Drop}, nil
	case transform.KindInvalid:
		return p.deadLetter(ctx, log(), rec, Failure{Class: ClassInvalidEvent, Message: res.Err.Error()})
	}
	if p.seen.seen(rec.Partition, res.MessageID) {
		p.cfg.Metrics.Outcome(Dropped.String(), string(DropDuplicate))
		log().Debug("dropped a repeat of an event already delivered", zap.String("reason", string(DropDuplicate)),
			zap.String("event", res.Event), zap.String("message_id", res.MessageID))
		return Outcome{Kind: Dropped, DropReason: DropDuplicate}, nil
	}
	if res.PhoneIssue != "" {
		p.cfg.Metrics.PhoneLeftOut(res.PhoneIssue)
	}
	body, err := res.Lead.MarshalJSON()
	if err != nil { // cannot happen for a transform-built lead; never skip it silently
		return p.deadLetter(ctx, log(), rec, Failure{Class: ClassInvalidEvent, Message: "encoding lead: " + err.Error()})
	}
	r := upserted{action: ActionCreated}
	if p.cfg.Upsert != nil {
		r = p.upsert(ctx, rec.Partition, res)
	} else {
		r.out = p.cfg.Deliverer.Deliver(ctx, rec.Partition, body)
		r.leadID, r.contactID = r.out.LeadID, r.out.ContactID
	}
	d := r.out
	p.cfg.Metrics.Delivery(d.Attempts, d.Elapsed.Seconds())
	email := p.email(res.Email())
	switch d.Status {
	case delivery.Delivered:
		if r.action == actionUnknown { // an identify call for a person Close does not have
			p.cfg.Metrics.Outcome(Dropped.String(), string(DropUnknownContact))
			log().Debug("dropped", zap.String("reason", string(DropUnknownContact)), zap.String("event", res.Event))
			return Outcome{Kind: Dropped, DropReason: DropUnknownContact}, nil
		}
		if err := p.writeResult(ctx, rec, Result{MessageID: res.MessageID, LeadID: r.leadID, ContactID: r.contactID,
			Action: r.action, DeliveredAt: p.cfg.Now()}); err != nil {
			log().Error("lead delivered, but its result was not written: the record stays uncommitted and is processed again",
				zap.String("action", string(r.action)), zap.String("lead_id", r.leadID), zap.Error(err))
			return Outcome{}, fmt.Errorf("%w: result write: %w", ErrNotFinal, err)
		}
		p.seen.add(rec.Partition, res.MessageID)
		p.cfg.Metrics.Outcome(Delivered.String(), "")
		p.cfg.Metrics.DeliveredAction(string(r.action))
		log().Info("lead delivered", zap.String("action", string(r.action)), zap.String("lead_id", r.leadID),
			zap.String("contact_id", r.contactID), zap.String("email", email), zap.Int("attempts", d.Attempts))
		return Outcome{Kind: Delivered, HTTPStatus: d.HTTPStatus, Attempts: d.Attempts, LeadID: r.leadID, ContactID: r.contactID, Action: r.action}, nil
	case delivery.Permanent, delivery.RetriesExhausted:
		class := ClassPermanent
		if d.Status == delivery.RetriesExhausted {
			class = ClassRetriesExhausted
		}
		return p.deadLetter(ctx, log().With(zap.String("email", email)), rec, Failure{
			Class: class, HTTPStatus: d.HTTPStatus, Message: d.Message, Attempts: d.Attempts})
	default:
		return Outcome{}, fmt.Errorf("%w: delivery %s after %d attempt(s)", ErrNotFinal, d.Status, d.Attempts)
	}
}

func (p *Pipeline) deadLetter(ctx context.Context, log *zap.Logger, rec *kgo.Record, f Failure) (Outcome, error) {
	f.FailedAt = p.cfg.Now()
	if err := p.cfg.DeadLetter.Write(ctx, rec, f); err != nil {
		return Outcome{}, fmt.Errorf("%w: dead-letter write: %w", ErrNotFinal, err)
	}
	p.cfg.Metrics.Outcome(DeadLettered.String(), string(f.Class))
	status := zap.Skip() // invalid events never reached Close
	if f.HTTPStatus > 0 {
		status = zap.Int("status", f.HTTPStatus)
	}
	log.Warn("dead-lettered", zap.String("class", string(f.Class)), status,
		zap.String("reason", p.maskMessage(f.Message)), zap.Int("attempts", f.Attempts))
	return Outcome{Kind: DeadLettered, Class: f.Class, HTTPStatus: f.HTTPStatus, Message: f.Message, Attempts: f.Attempts}, nil
}

func (p *Pipeline) email(e string) string {
	if p.cfg.LogPII {
		return e
	}
	return transform.MaskEmail(e)
}

// maskMessage hides email addresses inside error texts (Close or the
// transform may quote the bad value) unless the operator opted in.
func (p *Pipeline) maskMessage(s string) string {
	if p.cfg.LogPII {
		return s
	}
	return transform.MaskText(s)
}
