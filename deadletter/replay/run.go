package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pipeline"
)

// run is the state of one Run call; used from Scan's goroutine only.
type run struct {
	// ctx is Run's context: Scan's callback has none of its own.
	ctx context.Context
	cfg Config
	log *zap.Logger
	// lock is the replay group membership commits go through (nil in a
	// dry run, which commits nothing).
	lock *groupLock
	sum  Summary
	// next is the replay group's committed offset per partition (-1: none).
	next map[int32]int64
	// skipped are records not selected whose re-queue is not yet written.
	skipped []*kgo.Record
}

// batch handles one fetch. Skipped records are re-queued in bulk, but always
// before a selected record is handled and before the batch ends, so the
// committed offset never passes a record that is neither handled nor
// re-queued.
func (r *run) batch(recs []*kgo.Record) error {
	for _, rec := range recs {
		if err := r.ctx.Err(); err != nil {
			if qerr := r.requeue(); qerr != nil {
				return qerr
			}
			return err
		}
		r.sum.Read++
		info, _ := deadletter.Parse(rec)
		if !r.cfg.Filter.Match(info) {
			r.sum.Skipped++
			r.requeueLater(rec)
			continue
		}
		if info.ValueOmitted > 0 {
			// Nothing to send: the value was too large for the DLQ. It
			// stays in the DLQ (re-queued unchanged, marker kept) and its
			// source position still holds the value.
			r.sum.Unreplayable++
			r.log.Warn("DLQ record without its value (too large for the DLQ); replay it from its source position",
				zap.Int32("dlq_partition", rec.Partition), zap.Int64("dlq_offset", rec.Offset), zap.Int("value_bytes", info.ValueOmitted),
				zap.String("source_topic", info.SourceTopic), zap.Int32("source_partition", info.SourcePartition), zap.Int64("source_offset", info.SourceOffset))
			r.requeueLater(rec)
			continue
		}
		if err := r.requeue(); err != nil {
			return err
		}
		r.sum.Selected++
		if err := r.handle(rec, info); err != nil {
			return err
		}
		if r.cfg.Limit > 0 && r.sum.Selected >= r.cfg.Limit {
			r.sum.StoppedAtLimit = true
			return deadletter.ErrStopScan
		}
	}
	return r.requeue()
}

// requeueLater takes note of a record that is not handled: outside a dry
// run it is re-queued before the group's offset moves past it.
func (r *run) requeueLater(rec *kgo.Record) {
	if r.cfg.DryRun == nil {
		r.skipped = append(r.skipped, rec)
	}
}

// handle takes one selected record to its final outcome and commits it.
func (r *run) handle(rec *kgo.Record, info deadletter.Info) error {
	log := r.log.With(zap.Int32("dlq_partition", rec.Partition), zap.Int64("dlq_offset", rec.Offset),
		zap.String("source_topic", info.SourceTopic), zap.Int32("source_partition", info.SourcePartition),
		zap.Int64("source_offset", info.SourceOffset))
	switch {
	case r.cfg.DryRun != nil:
		r.cfg.DryRun(rec, info)
		r.sum.Previewed++
		return nil
	case r.cfg.ToTopic != "":
		out := &kgo.Record{Topic: r.cfg.ToTopic, Key: rec.Key, Value: rec.Value, Headers: deadletter.RepublishHeaders(rec)}
		if err := r.produce(out); err != nil {
			return fmt.Errorf("republishing DLQ partition %d offset %d to %s: %w", rec.Partition, rec.Offset, r.cfg.ToTopic, err)
		}
		r.sum.Republished++
		log.Debug("republished", zap.String("to_topic", r.cfg.ToTopic))
	default:
		out, err := r.process(rec)
		if err != nil {
			return fmt.Errorf("DLQ partition %d offset %d: %w", rec.Partition, rec.Offset, err)
		}
		switch out.Kind {
		case pipeline.Delivered:
			r.sum.Delivered++
		case pipeline.Dropped:
			r.sum.Dropped++
		case pipeline.DeadLettered:
			r.sum.DeadLettered++
		}
	}
	return r.commit(map[int32]int64{rec.Partition: rec.Offset + 1})
}

// process runs the processor with a context that outlives the run's by
// StopTimeout.
func (r *run) process(rec *kgo.Record) (pipeline.Outcome, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.ctx))
	defer cancel()
	grace := r.cfg.StopTimeout
	stop := context.AfterFunc(r.ctx, func() {
		if grace <= 0 {
			cancel()
			return
		}
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	defer stop()
	return r.cfg.Processor.Process(ctx, rec)
}

// requeue copies the skipped records to the end of the DLQ, unchanged
// (closesink.replays is not incremented: they were not tried), then commits
// past them. The copies get a fresh timestamp so retention counts from now,
// except those without their value (closesink.value_omitted): no replay can
// ever send them, so they keep their age and retention removes them in time.
func (r *run) requeue() error {
	if len(r.skipped) == 0 {
		return nil
	}
	copies := make([]*kgo.Record, len(r.skipped))
	offsets := map[int32]int64{}
	for i, rec := range r.skipped {
		copies[i] = &kgo.Record{Topic: r.cfg.Topic, Key: rec.Key, Value: rec.Value, Headers: rec.Headers}
		if info, _ := deadletter.Parse(rec); info.ValueOmitted > 0 {
			copies[i].Timestamp = rec.Timestamp
		}
		offsets[rec.Partition] = rec.Offset + 1
	}
	if err := r.produce(copies...); err != nil {
		return fmt.Errorf("re-queueing %d skipped record(s) to %s: %w", len(copies), r.cfg.Topic, err)
	}
	r.log.Debug("re-queued skipped records", zap.Int("records", len(copies)))
	r.skipped = r.skipped[:0]
	return r.commit(offsets)
}

// produce writes records and waits for their acknowledgement. It is not
// cut short by the end of the run's context: a write Kafka may already
// have taken must be followed by its commit, or the next run would write
// the records again.
func (r *run) produce(recs ...*kgo.Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), r.cfg.CommitTimeout)
	defer cancel()
	return r.cfg.Producer.ProduceSync(ctx, recs...).FirstErr()
}

// commit moves the replay group's offsets; like produce it completes even
// when the run's context has ended, because the outcome it records is final.
func (r *run) commit(next map[int32]int64) error {
	if r.cfg.DryRun != nil || len(next) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), r.cfg.CommitTimeout)
	defer cancel()
	if err := r.lock.commit(ctx, next); err != nil {
		return fmt.Errorf("committing replay group %s: %w", r.cfg.Group, err)
	}
	for p, at := range next {
		r.next[p] = at
	}
	return nil
}

// finish commits the planned end of every partition the run read to its
// end without committing it (a range ending in transaction markers, or one
// whose committed offset had expired), so the next run starts there.
func (r *run) finish(ranges []deadletter.Range) error {
	next := map[int32]int64{}
	for _, rg := range ranges {
		cur := r.next[rg.Partition]
		if cur != rg.To && !(cur < 0 && rg.To == 0) {
			next[rg.Partition] = rg.To
		}
	}
	return r.commit(next)
}
