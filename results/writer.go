// Package results writes closesink's results topic: one small JSON record per
// delivered lead event, saying which Close lead and contact it created or
// matched and what it did (README, "The results topic"). A record is written,
// and acknowledged by Kafka, before the source offset is committed, with the
// same durability rule as the dead-letter topic (docs/design.md §2): a
// failing write stalls the partition and is retried, never skipped.
package results

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pipeline"
)

// Record is the JSON value of a results record. Its key is the source
// record's key, so a consumer keyed by user sees one user's results in order.
type Record struct {
	MessageID       string    `json:"messageId"`
	SourceTopic     string    `json:"source_topic"`
	SourcePartition int32     `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	LeadID          string    `json:"lead_id"`
	ContactID       string    `json:"contact_id,omitempty"`
	Action          string    `json:"action"`
	DeliveredAt     time.Time `json:"delivered_at"`
}

// Producer is the part of *kgo.Client the writer needs; tests inject
// failures through it.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Config configures a Writer. Zero values take the documented defaults.
type Config struct {
	Topic    string   // required
	Producer Producer // required
	// Backoff between failed produce attempts (default 200ms); it doubles
	// up to MaxBackoff (default 10s).
	Backoff, MaxBackoff time.Duration
	// OnError, if set, is told of every failed attempt (logs, metrics).
	OnError func(attempt int, err error)
}

// Writer satisfies pipeline.Results. Safe for concurrent use.
type Writer struct{ cfg Config }

// NewWriter checks cfg and applies the defaults.
func NewWriter(cfg Config) (*Writer, error) {
	switch {
	case cfg.Topic == "":
		return nil, errors.New("results: the results topic is required")
	case cfg.Producer == nil:
		return nil, errors.New("results: a producer is required")
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.Backoff)
	}
	return &Writer{cfg: cfg}, nil
}

// ErrStopped is returned by Write when ctx ended before Kafka acknowledged
// the record; the source record's outcome is then not final.
var ErrStopped = errors.New("results: stopped before the result was acknowledged")

// Build is the results record for src.
func Build(topic string, src *kgo.Record, r pipeline.Result) *kgo.Record {
	v, _ := json.Marshal(Record{ // plain strings and numbers: cannot fail
		MessageID: r.MessageID, SourceTopic: src.Topic, SourcePartition: src.Partition, SourceOffset: src.Offset,
		LeadID: r.LeadID, ContactID: r.ContactID, Action: string(r.Action), DeliveredAt: r.DeliveredAt.UTC(),
	})
	return &kgo.Record{Topic: topic, Key: src.Key, Value: v,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}}
}

// Write produces src's result and waits for Kafka's acknowledgement,
// retrying with backoff until it comes or ctx ends (ErrStopped).
func (w *Writer) Write(ctx context.Context, src *kgo.Record, r pipeline.Result) error {
	wait := w.cfg.Backoff
	for attempt := 1; ; attempt++ {
		// Built afresh each time: a produced record keeps fields the client set.
		err := w.cfg.Producer.ProduceSync(ctx, Build(w.cfg.Topic, src, r)).FirstErr()
		if err == nil {
			return nil
		}
		if w.cfg.OnError != nil {
			w.cfg.OnError(attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ErrStopped, err)
		case <-t.C:
		}
		wait = min(2*wait, w.cfg.MaxBackoff)
	}
}
