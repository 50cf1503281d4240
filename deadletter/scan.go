package deadletter

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Range is the part of one partition a scan reads: offsets [From, To).
type Range struct {
	Partition int32
	// Start is the log start offset: the first offset still stored
	// (retention deletes older records).
	Start int64
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64
	// From is the first offset to read.
	From int64
	// To is the end offset (one past the last record) when the range was
	// planned; records written later are not part of the range.
	To int64
	// Reset is set when Committed was outside [Start, To] (records expired
	// by retention, or a recreated topic) and From was moved to Start.
	Reset bool
}

// Pending is the number of offsets left to read in the range.
func (r Range) Pending() int64 { return max(0, r.To-r.From) }

// Plan lists the partitions of topic and, for each, the range a reader of
// group has left: from the group's committed offset (or the log start when
// it has none, or when all is set) up to the current end offset. It does not
// join or modify the group. It blocks for a few admin requests and returns
// the ranges sorted by partition.
func Plan(ctx context.Context, adm *kadm.Client, topic, group string, all bool) ([]Range, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	if err := starts.Error(); err != nil {
		return nil, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	var committed kadm.OffsetResponses
	if group != "" {
		committed, err = adm.FetchOffsetsForTopics(ctx, group, topic)
		// Kafka answers for a group it does not know with no offsets;
		// some implementations (kfake) with GROUP_ID_NOT_FOUND. Both mean
		// nothing was committed yet.
		if errors.Is(err, kerr.GroupIDNotFound) {
			committed, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("fetching committed offsets of group %s: %w", group, err)
		}
	}
	var out []Range
	var perr error
	ends.Each(func(e kadm.ListedOffset) {
		r := Range{Partition: e.Partition, To: e.Offset, Committed: -1}
		if s, ok := starts.Lookup(topic, e.Partition); ok {
			r.Start = s.Offset
		}
		if c, ok := committed.Lookup(topic, e.Partition); ok {
			if c.Err != nil && perr == nil {
				perr = fmt.Errorf("committed offset of group %s on %s partition %d: %w", group, topic, e.Partition, c.Err)
			}
			if c.At >= 0 {
				r.Committed = c.At
			}
		}
		switch {
		case all || r.Committed < 0:
			r.From = r.Start
		case r.Committed < r.Start || r.Committed > r.To:
			r.From, r.Reset = r.Start, true
		default:
			r.From = r.Committed
		}
		out = append(out, r)
	})
	if perr != nil {
		return nil, perr
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", topic)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// scanIdleCheck is how long Scan waits for records before it checks whether
// the rest of its ranges expired.
var scanIdleCheck = 5 * time.Second

// checkExpired finishes the ranges whose remaining records retention deleted.
func checkExpired(ctx context.Context, cl *kgo.Client, topic string, remaining map[int32]int64, expired func(p int32, upTo int64)) error {
	starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	for p := range remaining {
		if o, ok := starts.Lookup(topic, p); ok && o.Err == nil && o.Offset > 0 {
			expired(p, o.Offset)
		}
	}
	return nil
}

// ErrStopScan is returned by a Scan callback to end the scan early; Scan then
// returns nil.
var ErrStopScan = errors.New("deadletter: stop scan")

// Scan reads the ranges of topic directly (no consumer group) with a client
// it builds from opts (seed brokers, TLS, SASL; no consumer options) and
// closes before returning. It calls fn with the records of each fetch that
// lie inside their range, in offset order within a partition, and returns
// nil once every range is read to its end, or when fn returns ErrStopScan.
// Records written after the ranges were planned are never passed to fn, so a
// scan of a topic that keeps growing terminates.
//
// Transaction markers are read but not passed to fn: without them a range
// ending in a marker would never look finished. Records that retention
// deletes while the scan runs cannot be read: once a partition's log start
// passes its range's end (or the next record read lies beyond it), the range
// counts as read and onExpired (if not nil) is told the offsets that were
// lost, so a scan always ends. Scan blocks; fn is called from Scan's
// goroutine, one call at a time.
func Scan(ctx context.Context, opts []kgo.Opt, topic string, ranges []Range, fn func(batch []*kgo.Record) error,
	onExpired func(partition int32, from, to int64)) error {
	start := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	for _, r := range ranges {
		if r.From < r.To {
			start[r.Partition] = kgo.NewOffset().At(r.From)
			remaining[r.Partition] = r.To
		}
	}
	if len(remaining) == 0 {
		return nil
	}
	all := append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return fmt.Errorf("kafka client for reading %s: %w", topic, err)
	}
	defer cl.Close()
	next := map[int32]int64{} // the next offset each range expects
	for p := range remaining {
		next[p] = start[p].EpochOffset().Offset
	}
	var done []int32
	finish := func(p int32) {
		delete(remaining, p)
		done = append(done, p)
	}
	expired := func(p int32, upTo int64) {
		if upTo <= next[p] {
			return // nothing was skipped
		}
		if onExpired != nil {
			onExpired(p, next[p], min(upTo, remaining[p]))
		}
		if upTo >= remaining[p] {
			finish(p)
		}
	}
	for len(remaining) > 0 {
		pctx, cancel := context.WithTimeout(ctx, scanIdleCheck)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if pctx.Err() != nil && len(fs.Records()) == 0 {
			// Nothing to read for a while: the rest of a range may have
			// expired under us.
			if err := checkExpired(ctx, cl, topic, remaining, expired); err != nil {
				return err
			}
			if len(done) > 0 {
				cl.RemoveConsumePartitions(map[string][]int32{topic: done})
				done = done[:0]
			}
			continue
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("reading %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var batch []*kgo.Record
		done = done[:0]
		fs.EachRecord(func(r *kgo.Record) {
			to, ok := remaining[r.Partition]
			if !ok {
				return
			}
			if r.Offset > next[r.Partition] {
				// Retention deleted what lay between (the client was reset
				// to the new log start).
				expired(r.Partition, r.Offset)
				if _, ok := remaining[r.Partition]; !ok {
					return
				}
			}
			next[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				batch = append(batch, r)
			}
			if r.Offset+1 >= to {
				finish(r.Partition)
			}
		})
		if len(done) > 0 {
			// Stop fetching what this scan will never read.
			cl.RemoveConsumePartitions(map[string][]int32{topic: done})
		}
		if len(batch) == 0 {
			continue
		}
		if err := fn(batch); err != nil {
			if errors.Is(err, ErrStopScan) {
				return nil
			}
			return err
		}
	}
	return nil
}
