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

	// pauseMu orders the calls that apply paused to franz-go; fetchPaused
	// is the state last applied (see syncPause).
	pauseMu     sync.Mutex
	fetchPaused bool

	// Touched by the worker goroutine while it runs, and by the rebalance
	// callback only after done is closed.
	final     *kgo.Record  // last record whose outcome is final
	committed atomic.Int64 // next offset already committed, -1 before the first commit
	pending   int          // final records not yet committed
	noCommit  atomic.Bool  // set when the partition is lost
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
	w := &worker{c: c, partition: p, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	w.committed.Store(-1)
	return w
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
		w.syncPause()
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// syncPause applies the latest paused state to franz-go. The poll loop
// pauses and the worker resumes, each after letting go of mu; calling
// franz-go directly, a worker fast enough to drain half its queue between
// the poll loop's unlock and its pause call resumed first, and the late
// pause then held the partition paused for good with an empty queue (make
// bench found a drain stuck at 963,277 of 1,000,000 records). Each change
// of paused is followed by a syncPause, and the last one to run applies the
// state as it is then, so franz-go ends in the state the queue asks for.
func (w *worker) syncPause() {
	w.pauseMu.Lock()
	defer w.pauseMu.Unlock()
	w.mu.Lock()
	want := w.paused
	w.mu.Unlock()
	if want == w.fetchPaused {
		return
	}
	parts := map[string][]int32{w.c.cfg.Topic: {w.partition}}
	if want {
		w.c.fc.PauseFetchPartitions(parts)
	} else {
		w.c.fc.ResumeFetchPartitions(parts)
	}
	w.fetchPaused = want
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
				w.syncPause()
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
		switch {
		case urgent:
			// A lead created or a record dead-lettered: committed before
			// the next record, so a crash repeats at most this one.
			w.commit(w.ctx)
		case idle || w.pending >= w.c.cfg.CommitEvery:
			// Drops: handed to the member's coalesced commit (re-reading a
			// drop costs nothing, so no need to wait for the round trip).
			w.commitSoon()
		}
	}
}
