package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Commits. franz-go runs one offset commit at a time per client, and a
// commit waits for the one in flight, so workers that each commit their own
// partition queue up behind one another, one broker round trip at a time:
// with 1 % leads on 12 partitions the member spent most of a drain waiting
// for the leads' commits, one after another (docs/benchmarks.md). So every
// commit goes through one member-wide pending set, committed in rounds:
//
//   - a worker puts its partition's last final record in the pending set
//     and joins the next round; whoever holds commitMu commits every
//     pending partition in one request, and keeps going while the set is
//     not empty, so one round trip serves every partition that waited;
//   - a lead created or a record dead-lettered waits for its round before
//     its partition handles another record (commit): a crash then repeats
//     at most the record in flight, as with a commit of its own;
//   - a drop does not wait (commitSoon): re-reading a drop costs nothing.
//
// Per partition, offsets are committed in increasing order: the set holds
// one entry per partition, always its newest final record; rounds run one
// at a time under commitMu; and commits never move backwards past an offset
// already committed.

// commitRound is one coalesced commit: done is closed when it returned,
// err is its result.
type commitRound struct {
	done chan struct{}
	err  error
}

// pendingCommit is a partition's last final record awaiting the coalesced
// commit.
type pendingCommit struct {
	w   *worker
	rec *kgo.Record
}

// uncommitted reports a final record newer than the last commit.
func (w *worker) uncommitted() bool {
	// noCommit first: a worker abandoned while still running may write
	// final, which must then not be read.
	return !w.noCommit.Load() && w.final != nil && w.final.Offset+1 > w.committed.Load()
}

// commit commits the last final offset, waiting for the round that takes
// it, if it is newer than the last commit. A failed commit is logged and
// retried before the next record, or on the retry timer while the
// partition is idle. It reports whether nothing is left to commit.
func (w *worker) commit(ctx context.Context) bool {
	if !w.uncommitted() {
		return true
	}
	rec := w.final
	var err error
	// A round can fail because the worker that ran it was stopped (its
	// context ended mid-request): that says nothing of this partition, so
	// it joins the next round at once, a few times at most.
	for attempt := 0; attempt < 3; attempt++ {
		if ctx.Err() != nil {
			return false // the revocation path commits with its own context
		}
		r := w.c.pendCommit(w, rec)
		if w.c.commitMu.TryLock() {
			w.c.drainPending(ctx)
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return false
		}
		if !w.uncommitted() {
			w.commitFailed = false
			w.pending = 0
			return true
		}
		if err = r.err; err == nil {
			// Taken out of the set before its round (the partition is
			// leaving): not committed.
			err = errors.New("not committed: the partition left the pending set")
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			break
		}
	}
	w.commitFailed = true
	w.c.log.Warn("commit failed; no further record is handled until a commit goes through",
		zap.Int32("partition", w.partition), zap.Int64("offset", rec.Offset+1), zap.Error(err))
	return false
}

// committedTo records a successful commit of next (never moving back).
func (w *worker) committedTo(next int64) {
	for {
		cur := w.committed.Load()
		if next <= cur {
			return
		}
		if w.committed.CompareAndSwap(cur, next) {
			break
		}
	}
	if w.c.cfg.OnCommit != nil {
		w.c.cfg.OnCommit(w.partition, next)
	}
}

// commitSoon hands the last final offset to the member's coalesced commit
// and commits every pending partition itself if no commit is running;
// otherwise the running one picks it up before it lets go.
func (w *worker) commitSoon() {
	if !w.uncommitted() {
		return
	}
	c := w.c
	c.pendCommit(w, w.final)
	w.pending = 0
	// If the lock is taken, its holder checks the pending set after it
	// lets go (see drainPending), so this offset is not stranded.
	if c.commitMu.TryLock() {
		c.drainPending(w.ctx)
	}
}

// pendCommit puts rec, its partition's newest final record, in the pending
// set and returns the round that will commit it.
func (c *Consumer) pendCommit(w *worker, rec *kgo.Record) *commitRound {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	if c.pend == nil {
		c.pend = map[int32]pendingCommit{}
	}
	if c.round == nil {
		c.round = &commitRound{done: make(chan struct{})}
	}
	c.pend[w.partition] = pendingCommit{w: w, rec: rec}
	return c.round
}

// drainPending commits the pending set, with commitMu held, until it is
// empty; it returns with commitMu released.
func (c *Consumer) drainPending(ctx context.Context) {
	for {
		c.pendMu.Lock()
		batch := make([]pendingCommit, 0, len(c.pend))
		for _, pc := range c.pend {
			if !pc.w.noCommit.Load() && pc.rec.Offset+1 > pc.w.committed.Load() {
				batch = append(batch, pc)
			}
		}
		clear(c.pend)
		round := c.round
		c.round = nil
		c.pendMu.Unlock()
		var err error
		if len(batch) > 0 {
			recs := make([]*kgo.Record, len(batch))
			for i, pc := range batch {
				recs[i] = pc.rec
			}
			if err = c.fc.CommitRecords(ctx, recs...); err != nil {
				// A waiting worker retries its own; a drop's worker hands
				// over a newer offset soon, or its retry timer commits
				// again while it is idle.
				c.log.Warn("coalesced commit failed; the partitions commit again", zap.Int("partitions", len(batch)), zap.Error(err))
			} else {
				for _, pc := range batch {
					pc.w.committedTo(pc.rec.Offset + 1)
				}
			}
		}
		if round != nil {
			round.err = err
			close(round.done)
		}
		c.commitMu.Unlock()
		c.pendMu.Lock()
		more := len(c.pend) > 0
		c.pendMu.Unlock()
		if !more || !c.commitMu.TryLock() {
			return
		}
	}
}

// unpend takes a partition out of the pending set: it is leaving this
// member (its last offset is committed by the revocation, or not at all).
func (c *Consumer) unpend(p int32) {
	c.pendMu.Lock()
	delete(c.pend, p)
	c.pendMu.Unlock()
}

// settleCommits waits for a coalesced commit in flight to finish, so that
// no commit for a partition that is leaving can land after its owner let go.
func (c *Consumer) settleCommits(parts []int32) {
	for _, p := range parts {
		c.unpend(p)
	}
	c.commitMu.Lock()
	c.commitMu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
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
					zap.Int32("partition", w.partition), zap.Int64("from_offset", w.committed.Load()), zap.Int64("to_offset", w.final.Offset+1))
			}
			return
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}
