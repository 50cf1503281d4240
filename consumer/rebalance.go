package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

func (c *Consumer) assigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	parts := assigned[c.cfg.Topic]
	// A partition paused in an earlier ownership must not stay paused now.
	c.fetcher(cl).ResumeFetchPartitions(map[string][]int32{c.cfg.Topic: parts})
	c.mu.Lock()
	for _, p := range parts {
		if old := c.workers[p]; old != nil {
			c.log.Error("assigned a partition that still has a worker", zap.Int32("partition", p))
			continue
		}
		w := newWorker(c, p)
		if next, ok := c.lostFinal[p]; ok {
			w.skipBelow = next
			delete(c.lostFinal, p)
		}
		c.workers[p] = w
		c.assignedCount.Store(int32(len(c.workers)))
		go w.run()
	}
	c.mu.Unlock()
	c.log.Info("partitions assigned", zap.Int32s("partitions", parts))
	c.notify("assigned", parts)
	if c.cfg.OnAssignment != nil {
		c.cfg.OnAssignment(parts)
	}
}

func (c *Consumer) notify(event string, parts []int32) {
	if c.cfg.OnRebalance != nil && len(parts) > 0 {
		c.cfg.OnRebalance(event, parts)
	}
}

// revoked stops the revoked partitions' workers, waits for their in-flight
// work, commits what is final and returns: the group's rebalance goes on only
// after that, so the next owner starts exactly after our last final record.
func (c *Consumer) revoked(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
	c.stopAndCommit(revoked[c.cfg.Topic])
	c.fetcher(cl).ResumeFetchPartitions(map[string][]int32{c.cfg.Topic: revoked[c.cfg.Topic]})
	c.log.Info("partitions revoked", zap.Int32s("partitions", revoked[c.cfg.Topic]))
	c.notify("revoked", revoked[c.cfg.Topic])
}

// lost stops the lost partitions' workers without committing: another member
// may already own them, and a commit now could rewind its progress. It
// remembers each one's last final offset: a partition is "lost" also when
// the member merely could not reach the broker for a while (a restart), and
// when the partition comes back to this member, the records it already
// took to a final outcome are committed instead of sent to Close again.
func (c *Consumer) lost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	ws := c.take(lost[c.cfg.Topic])
	for _, w := range ws {
		w.noCommit.Store(true)
	}
	c.stop(ws)
	c.settleCommits(lost[c.cfg.Topic])
	c.mu.Lock()
	for _, w := range ws {
		select {
		case <-w.done: // final is the worker's own until it is done
			if w.final != nil && w.final.Offset+1 > c.lostFinal[w.partition] {
				c.lostFinal[w.partition] = w.final.Offset + 1
			}
		default:
		}
	}
	c.mu.Unlock()
	c.fetcher(cl).ResumeFetchPartitions(map[string][]int32{c.cfg.Topic: lost[c.cfg.Topic]})
	c.log.Warn("partitions lost; their uncommitted records will be processed again by the next owner",
		zap.Int32s("partitions", lost[c.cfg.Topic]))
	c.notify("lost", lost[c.cfg.Topic])
}

// stopAndCommit stops the partitions' workers, waits for them and commits
// their last final offsets, retrying each until CommitTimeout.
func (c *Consumer) stopAndCommit(parts []int32) {
	ws := c.take(parts)
	c.stop(ws)
	c.settleCommits(parts)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommitTimeout)
	defer cancel()
	for _, w := range ws {
		w.commitUntil(ctx)
	}
}

func (c *Consumer) take(parts []int32) []*worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ws []*worker
	for _, p := range parts {
		if w := c.workers[p]; w != nil {
			ws = append(ws, w)
			delete(c.workers, p)
			c.assignedCount.Store(int32(len(c.workers)))
		}
	}
	return ws
}

// stop cancels the workers and waits for them. When the consumer is closing,
// after StopTimeout the OnStopTimeout hook (delivery abort) runs once and the
// wait goes on: a worker always ends once its in-flight request is aborted.
// During a rebalance the wait is not cut short: an abort would also kill the
// requests of partitions this member keeps, and a worker's wait is bounded
// anyway (retry waits end at once on cancel, a request by its timeout).
func (c *Consumer) stop(ws []*worker) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		w.cancel()
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); <-w.done }()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	t := time.NewTimer(c.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-all:
		return
	case <-t.C:
		if !c.closing.Load() {
			c.log.Warn("revoked partitions still busy after the stop timeout; waiting for their requests to end",
				zap.Duration("timeout", c.cfg.StopTimeout))
			break
		}
		c.log.Warn("stop timeout passed with work in flight; aborting it", zap.Duration("timeout", c.cfg.StopTimeout))
		if c.cfg.OnStopTimeout != nil {
			c.cfg.OnStopTimeout()
		}
		// The abort ends HTTP requests at once. Work it cannot end (a
		// dead-letter write to a stuck broker) gets CommitTimeout more;
		// then the stop goes on without it, and its partition commits
		// nothing more: those records are not final.
		t.Reset(c.cfg.CommitTimeout)
		select {
		case <-all:
			return
		case <-t.C:
		}
		for _, w := range ws {
			select {
			case <-w.done:
			default:
				w.noCommit.Store(true)
				c.log.Error("partition still busy after the stop timeout and the abort; leaving it uncommitted from its last commit",
					zap.Int32("partition", w.partition))
			}
		}
		return
	}
	<-all
}

// fetcher is the client a rebalance callback uses: the one franz-go hands it
// (c.fc is set only once kgo.NewClient has returned, and the first
// assignment may be handed out before that), or the fake in tests.
func (c *Consumer) fetcher(cl *kgo.Client) fetchCommitter {
	if cl != nil {
		return cl
	}
	return c.fc
}
