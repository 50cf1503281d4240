package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pipeline"
)

// Producer is the part of *kgo.Client the writer needs; tests inject failures
// through it.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Writer writes failed records to the dead-letter topic; it satisfies
// pipeline.DeadLetterer.
//
// Write blocks until Kafka acknowledged the record or ctx is done: a record
// counts as dead-lettered only once it is durable (docs/design.md §2), so a
// failing DLQ stalls the caller's partition instead of skipping the record.
// Safe for concurrent use.
type Writer struct {
	cfg WriterConfig
}

// WriterConfig configures a Writer. Zero values take the documented defaults.
type WriterConfig struct {
	// Topic is the dead-letter topic (required).
	Topic string
	// Producer writes the records and waits for acknowledgement (required).
	Producer Producer
	// Backoff between failed produce attempts (default 200ms); it doubles
	// up to MaxBackoff (default 10s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// OnError, if set, is told of every failed attempt (for logs and metrics).
	OnError func(attempt int, err error)
}

// NewWriter returns a writer as configured.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	switch {
	case cfg.Topic == "":
		return nil, errors.New("deadletter: the dead-letter topic is required")
	case cfg.Producer == nil:
		return nil, errors.New("deadletter: a producer is required")
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.Backoff)
	}
	return &Writer{cfg: cfg}, nil
}

// Topic is the dead-letter topic name.
func (w *Writer) Topic() string { return w.cfg.Topic }

// ErrStopped is returned by Write when ctx ended before Kafka acknowledged
// the record; the record's outcome is then not final.
var ErrStopped = errors.New("deadletter: stopped before the record was acknowledged")

// ErrWouldDegrade is returned by Write for a record read from the DLQ itself
// (a replay) that the DLQ topic rejects as too large: writing it back without
// its value would lose the lead, so it is refused and the record stays where
// it is, uncommitted. Raise the DLQ topic's max.message.bytes and replay again.
var ErrWouldDegrade = errors.New("deadletter: the DLQ record would have to lose its value to be written back; left in place")

// Sizes of a dead-letter record that is too large for the topic: each step
// leaves out more of the source record, never the source pointer.
const (
	keepAll      = iota
	omitValue    // the value (the source topic still holds it)
	omitKeyAndHd // also the key and the producer's headers
)

// Write builds the dead-letter record for src and produces it, retrying until
// it is acknowledged or ctx is done (then it returns an error wrapping
// ErrStopped and the last produce error). A record the topic rejects as too
// large is written smaller (see HeaderValueOmitted and HeaderKeyOmitted),
// except one read from the DLQ itself: ErrWouldDegrade. If even the
// smallest form is too large (the topic's max.message.bytes is below a few
// KiB), Write keeps retrying with backoff, as for any failure: the partition
// waits for the topic to be fixed rather than skip the record.
func (w *Writer) Write(ctx context.Context, src *kgo.Record, f pipeline.Failure) error {
	size := keepAll
	wait := w.cfg.Backoff
	for attempt := 1; ; attempt++ {
		// Built afresh each time: a produced record keeps fields set by the
		// client (partition, offset, timestamp).
		err := w.cfg.Producer.ProduceSync(ctx, w.build(src, f, size)).FirstErr()
		if err == nil {
			return nil
		}
		if w.cfg.OnError != nil {
			w.cfg.OnError(attempt, err)
		}
		if errors.Is(err, kerr.MessageTooLarge) {
			if FromDLQ(w.cfg.Topic, src) {
				return fmt.Errorf("%w (DLQ partition %d offset %d, %d-byte value): %w", ErrWouldDegrade, src.Partition, src.Offset, len(src.Value), err)
			}
			if size < omitKeyAndHd {
				// Retrying the same bytes would stall the partition forever.
				size++
				continue
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrStopped, err)
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

// build is the dead-letter record for src at the given size step.
func (w *Writer) build(src *kgo.Record, f pipeline.Failure, size int) *kgo.Record {
	if size >= omitValue {
		f.Message = fmt.Sprintf("value of %d bytes left out: too large for the dead-letter topic (%s)", len(src.Value), f.Message)
	}
	if size < omitKeyAndHd {
		rec := Build(w.cfg.Topic, src, f)
		if size == omitValue {
			rec = withoutValue(rec, len(src.Value))
		}
		return rec
	}
	// The source pointer, the failure and nothing else.
	bare := &kgo.Record{Topic: src.Topic, Partition: src.Partition, Offset: src.Offset, Timestamp: src.Timestamp}
	rec := withoutValue(Build(w.cfg.Topic, bare, f), len(src.Value))
	rec.Headers = append(rec.Headers,
		kgo.RecordHeader{Key: HeaderKeyOmitted, Value: []byte(strconv.Itoa(len(src.Key)))},
		kgo.RecordHeader{Key: HeaderHeadersOmitted, Value: []byte(strconv.Itoa(len(OriginalHeaders(src))))})
	return rec
}

// withoutValue empties rec's value (empty, not null: null is a tombstone)
// and records the original size in HeaderValueOmitted.
func withoutValue(rec *kgo.Record, size int) *kgo.Record {
	rec.Value = []byte{}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderValueOmitted, Value: []byte(strconv.Itoa(size))})
	return rec
}
