package consumer

import (
	"context"
	"sync"
	"sync/atomic"

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
	bytes  int // value bytes queued
	paused bool
	wake   chan struct{} // cap 1: "the queue may have grown"

	// Touched by the worker goroutine while it runs, and by the rebalance
	// callback only after done is closed.
	final     *kgo.Record // last record whose outcome is final
	committed int64       // next offset already committed, -1 before the first commit
	pending   int         // final records not yet committed
	noCommit  atomic.Bool // set when the partition is lost
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
		w.bytes += len(r.Value)
	}
	pause := !w.paused && w.full()
	if pause {
		w.paused = true
	}
	w.mu.Unlock()
	if pause {
		w.c.cl.PauseFetchPartitions(map[string][]int32{w.c.cfg.Topic: {w.partition}})
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// full and halfEmpty are the pause and resume thresholds; call with mu held.
func (w *worker) full() bool {
	return len(w.queue) >= w.c.cfg.MaxBuffered || w.bytes >= w.c.cfg.MaxBufferedBytes
}

func (w *worker) halfEmpty() bool {
	return len(w.queue) <= w.c.cfg.MaxBuffered/2 && w.bytes <= w.c.cfg.MaxBufferedBytes/2
}

// next returns the next record, waiting for one; ok is false once the worker
// is cancelled. idle reports that the queue is now empty.
func (w *worker) next() (rec *kgo.Record, idle, ok bool) {
	for {
		if w.ctx.Err() != nil {
			return nil, false, false
		}
		w.mu.Lock()
		if len(w.queue) > 0 {
			rec = w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.bytes -= len(rec.Value)
			idle = len(w.queue) == 0
			resume := w.paused && w.halfEmpty()
			if resume {
				w.paused = false
			}
			w.mu.Unlock()
			if resume {
				w.c.cl.ResumeFetchPartitions(map[string][]int32{w.c.cfg.Topic: {w.partition}})
			}
			return rec, idle, true
		}
		w.mu.Unlock()
		select {
		case <-w.ctx.Done():
		case <-w.wake:
		}
	}
}

func (w *worker) run() {
	defer close(w.done)
	log := w.c.log.With(zap.Int32("partition", w.partition))
	for {
		rec, idle, ok := w.next()
		if !ok {
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

// commit commits the last final offset if it is newer than the last commit.
// A failed commit is logged and retried with the next one.
func (w *worker) commit(ctx context.Context) {
	if w.final == nil || w.noCommit.Load() || w.final.Offset+1 <= w.committed {
		return
	}
	if ctx.Err() != nil {
		return // the revocation path commits with its own context
	}
	rec := w.final
	if err := w.c.cl.CommitRecords(ctx, rec); err != nil {
		w.c.log.Warn("commit failed; will retry with the next commit",
			zap.Int32("partition", w.partition), zap.Int64("offset", rec.Offset+1), zap.Error(err))
		return
	}
	w.committed = rec.Offset + 1
	w.pending = 0
	if w.c.cfg.OnCommit != nil {
		w.c.cfg.OnCommit(w.partition, w.committed)
	}
}
