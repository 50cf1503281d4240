package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer is the part of *kgo.Client the writer needs; tests inject failures
// through it.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Writer writes failed records to the dead-letter topic.
//
// Write blocks until Kafka acknowledged the record or ctx is done: a record
// counts as dead-lettered only once it is durable (design.md §2), so a failing
// DLQ stalls the caller's partition instead of skipping the record. Safe for
// concurrent use.
type Writer struct {
	topic    string
	producer Producer
	// Backoff between failed produce attempts; grows to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// OnError, if set, is told of every failed attempt (for logs and metrics).
	OnError func(attempt int, err error)
}

// NewWriter returns a writer producing to topic.
func NewWriter(p Producer, topic string) *Writer {
	return &Writer{topic: topic, producer: p, Backoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second}
}

// Topic is the dead-letter topic name.
func (w *Writer) Topic() string { return w.topic }

// ErrStopped is returned by Write when ctx ended before Kafka acknowledged
// the record; the record's outcome is then not final.
var ErrStopped = errors.New("deadletter: stopped before the record was acknowledged")

// Write builds the dead-letter record for src and produces it, retrying until
// it is acknowledged or ctx is done (then it returns an error wrapping
// ErrStopped and the last produce error).
func (w *Writer) Write(ctx context.Context, src *kgo.Record, f Failure) error {
	rec := Build(w.topic, src, f)
	wait := w.Backoff
	omitValue := false
	for attempt := 1; ; attempt++ {
		err := w.producer.ProduceSync(ctx, rec).FirstErr()
		if err == nil {
			return nil
		}
		if w.OnError != nil {
			w.OnError(attempt, err)
		}
		if errors.Is(err, kerr.MessageTooLarge) && !omitValue && len(src.Value) > 0 {
			// Retrying the same bytes would stall the partition forever.
			// The DLQ record keeps everything but the value; the source
			// topic still holds it at the position the headers name.
			omitValue = true
			f.Message = fmt.Sprintf("value of %d bytes left out: too large for the dead-letter topic (%s)", len(src.Value), f.Message)
			rec = withoutValue(Build(w.topic, src, f), len(src.Value))
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %v", ErrStopped, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %v", ErrStopped, err)
		case <-t.C:
		}
		wait *= 2
		if wait > w.MaxBackoff {
			wait = w.MaxBackoff
		}
		// A produced record keeps fields set by the client (partition,
		// offset, timestamp); rebuild so a retry is a clean new record.
		rec = Build(w.topic, src, f)
		if omitValue {
			rec = withoutValue(rec, len(src.Value))
		}
	}
}

// withoutValue empties rec's value (empty, not null: null is a tombstone)
// and records the original size in HeaderValueOmitted.
func withoutValue(rec *kgo.Record, size int) *kgo.Record {
	rec.Value = []byte{}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderValueOmitted, Value: []byte(strconv.Itoa(size))})
	return rec
}
