package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// worker processes one partition's records in order.
type worker struct {
	c         *Consumer
	partition int32

	ctx    context.Context // cancelled when the partition is revoked, lost or the consumer stops
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	queue  []*kgo.Record
	bytes  int // bytes queued (recordSize)
	paused bool
	wake   chan struct{} // cap 1: "the queue may have grown"

	// Touched by the worker goroutine while it runs, and by the rebalance
	// callback only after done is closed.
	final     *kgo.Record // last record whose outcome is final
	committed int64       // next offset already committed, -1 before the first commit
	pending   int         // final records not yet committed
	noCommit  atomic.Bool // set when the partition is lost
	// commitFailed: the last commit attempt failed. The worker then
	// handles no further record until a commit goes through, so a broker
	// that cannot take commits does not let it deliver leads that a lost
	// partition would then send again.
	commitFailed bool
	// skipBelow: records below this offset were already final in this
	// process before the partition was lost (see Consumer.lost); they are
	// committed, not handled again. 0: none.
	skipBelow int64
}

func newWorker(c *Consumer, p int32) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{c: c, partition: p, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		wake: make(chan struct{}, 1), committed: -1}
}

// enqueue is called by the poll loop; it never blocks on processing.
func (w *worker) enqueue(recs []*kgo.Record) {
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	for _, r := range recs {
		w.bytes += recordSize(r)
	}
	pause := !w.paused && w.full()
	if pause {
		w.paused = true
	}
	w.mu.Unlock()
	if pause {
		w.c.fc.PauseFetchPartitions(map[string][]int32{w.c.cfg.Topic: {w.partition}})
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// full and halfEmpty are the pause and resume thresholds; call with mu held.
func (w *worker) full() bool {
	return len(w.queue) >= w.c.cfg.MaxBuffered || w.bytes >= w.c.byteBound()
}

func (w *worker) halfEmpty() bool {
	return len(w.queue) <= w.c.cfg.MaxBuffered/2 && w.bytes <= w.c.byteBound()/2
}

// recordSize is what a queued record counts against the byte bounds.
func recordSize(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// next returns the next record, waiting for one; ok is false once the worker
// is cancelled. idle reports that the queue is now empty. A tick on retry
// (nil: none) makes next return with a nil record and ok true, so the caller
// can retry a failed commit while there is nothing to process.
func (w *worker) next(retry <-chan time.Time) (rec *kgo.Record, idle, ok bool) {
	for {
		if w.ctx.Err() != nil {
			return nil, false, false
		}
		w.mu.Lock()
		if len(w.queue) > 0 {
			rec = w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.bytes -= recordSize(rec)
			idle = len(w.queue) == 0
			resume := w.paused && w.halfEmpty()
			if resume {
				w.paused = false
			}
			w.mu.Unlock()
			if resume {
				w.c.fc.ResumeFetchPartitions(map[string][]int32{w.c.cfg.Topic: {w.partition}})
			}
			return rec, idle, true
		}
		w.mu.Unlock()
		select {
		case <-w.ctx.Done():
		case <-w.wake:
		case <-retry:
			return nil, true, true
		}
	}
}

func (w *worker) run() {
	defer close(w.done)
	log := w.c.log.With(zap.Int32("partition", w.partition))
	retry := time.NewTimer(w.c.cfg.CommitRetry)
	defer retry.Stop()
	for {
		// Arm the retry only while a final record is left uncommitted (a
		// commit failed): nothing else would commit it while idle.
		var tick <-chan time.Time
		if w.uncommitted() {
			retry.Reset(w.c.cfg.CommitRetry)
			tick = retry.C
		}
		rec, idle, ok := w.next(tick)
		if !ok {
			return
		}
		if rec == nil {
			w.commit(w.ctx)
			continue
		}
		if rec.Offset < w.skipBelow {
			// Final already: delivered or dead-lettered by this process
			// before the partition was lost and given back.
			w.final = rec
			w.pending++
			if rec.Offset+1 >= w.skipBelow || idle {
				w.commit(w.ctx)
			}
			continue
		}
		if w.commitFailed && !w.commitBeforeNext() {
			return
		}
		urgent, err := w.c.cfg.Handler.Handle(w.ctx, rec)
		if err != nil {
			// Not final: leave it (and everything after it) for the next
			// owner or the next start.
			log.Info("record left uncommitted", zap.Int64("offset", rec.Offset), zap.Error(err))
			return
		}
		w.final = rec
		w.pending++
		if urgent || idle || w.pending >= w.c.cfg.CommitEvery {
			w.commit(w.ctx)
		}
	}
}

// uncommitted reports a final record newer than the last commit.
func (w *worker) uncommitted() bool {
	// noCommit first: a worker abandoned while still running may write
	// final, which must then not be read.
	return !w.noCommit.Load() && w.final != nil && w.final.Offset+1 > w.committed
}

// commit commits the last final offset if it is newer than the last commit.
// A failed commit is logged and retried with the next one, or on the retry
// timer while the partition is idle. It reports whether nothing is left to
// commit.
func (w *worker) commit(ctx context.Context) bool {
	if !w.uncommitted() {
		return true
	}
	if ctx.Err() != nil {
		return false // the revocation path commits with its own context
	}
	rec := w.final
	if err := w.c.fc.CommitRecords(ctx, rec); err != nil {
		w.commitFailed = true
		w.c.log.Warn("commit failed; no further record is handled until a commit goes through",
			zap.Int32("partition", w.partition), zap.Int64("offset", rec.Offset+1), zap.Error(err))
		return false
	}
	w.commitFailed = false
	w.committed = rec.Offset + 1
	w.pending = 0
	if w.c.cfg.OnCommit != nil {
		w.c.cfg.OnCommit(w.partition, w.committed)
	}
	return true
}

// commitBeforeNext retries the failed commit every CommitRetry until it
// goes through (true) or the worker is stopped (false).
func (w *worker) commitBeforeNext() bool {
	t := time.NewTimer(w.c.cfg.CommitRetry)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return false
		case <-t.C:
		}
		// A lost partition (noCommit) has "nothing to commit": that must
		// stop the worker, not let it go on.
		if w.commit(w.ctx) && !w.noCommit.Load() && w.ctx.Err() == nil {
			return true
		}
		if w.noCommit.Load() {
			return false
		}
		t.Reset(w.c.cfg.CommitRetry)
	}
}

// commitUntil commits the last final offset once the worker has stopped,
// retrying a failed commit with a short, growing wait until ctx ends (a
// commit can fail transiently, e.g. while the coordinator moves).
func (w *worker) commitUntil(ctx context.Context) {
	wait := 50 * time.Millisecond
	for !w.commit(ctx) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if w.uncommitted() {
				w.c.log.Error("final commit failed before the commit timeout; these records will be processed again",
					zap.Int32("partition", w.partition), zap.Int64("from_offset", w.committed), zap.Int64("to_offset", w.final.Offset+1))
			}
			return
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}
