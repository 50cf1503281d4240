// Package consumer runs the Kafka side of closesink: a franz-go consumer
// group with one worker goroutine per assigned partition, each processing its
// partition's records in order and committing an offset only after the
// record's outcome is final (docs/design.md §2).
//
// How the pieces fit:
//   - The poll loop (Run) only dispatches: it appends records to the owning
//     worker's queue and never waits for processing. A worker whose queue
//     grows past Config.MaxBuffered has its partition's fetches paused, so a
//     slow partition (Close rate limit, retries) never holds up polling,
//     heartbeats or rebalances.
//   - kgo.BlockRebalanceOnPoll gates the poll loop against the rebalance
//     callbacks, so records from a poll are always dispatched to the worker
//     that owns them, never to a worker of a later assignment.
//   - A worker commits its partition's last final offset through the
//     member's pending set (commit.go): one request per round serves every
//     partition that waits. A lead or a dead letter waits for its round
//     before the next record; drops do not. On revocation the callback
//     stops the partition's worker, waits for it (an HTTP request already
//     sent finishes and is committed), commits what is final and only then
//     returns, so no commit for that partition is ever issued after the
//     partition moved to another member. Lost partitions commit nothing.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Handler processes one record to a final outcome.
//
// Handle blocks until the outcome is final and durable (delivered, dropped on
// purpose, or acknowledged by the dead-letter topic) and then returns a nil
// error; urgent reports that the outcome had an effect outside Kafka (a lead
// created or a record dead-lettered), so the offset is committed at once
// rather than batched. A non-nil error means the outcome is not final
// (typically ctx ended first): the worker stops and does not commit the record.
// Handle is called from one goroutine per partition, concurrently across
// partitions, so implementations must be safe for concurrent use.
type Handler interface {
	Handle(ctx context.Context, rec *kgo.Record) (urgent bool, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, rec *kgo.Record) (bool, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, rec *kgo.Record) (bool, error) { return f(ctx, rec) }

// Config configures a Consumer. Zero values take the documented defaults.
type Config struct {
	Brokers []string
	Topic   string
	Group   string
	// InstanceID, if set, makes this member static (KIP-345): a restart
	// with the same id takes its partitions back without a rebalance, even
	// after a crash, instead of waiting for the session timeout. Ids must be
	// unique among running members.
	InstanceID string
	Handler    Handler
	Logger     *zap.Logger // nil: no logs

	// MaxBuffered and MaxBufferedBytes bound a partition's queue: past
	// either, its fetches are paused until the worker drained half of it
	// (defaults 20000 records, 16 MiB). Pausing is not free: franz-go drops
	// the partition's rest of the buffered fetch and fetches it again on
	// resume, so the bounds are set high enough that a worker keeping up
	// with a topic of drops never hits them; a partition waiting on Close
	// (rate limit, retries) does, and then the refetch costs nothing.
	MaxBuffered      int
	MaxBufferedBytes int
	// MemberBufferedBytes bounds the bytes queued across all of this
	// member's partitions (default 64 MiB): each partition's byte bound is
	// the smaller of MaxBufferedBytes and an equal share of this. A queued
	// record counts its key, value and headers (franz-go keeps its whole
	// decompressed batch alive while one record of it is queued, so the
	// real footprint is larger; the bound keeps it proportional).
	MemberBufferedBytes int
	// FetchMaxBytes bounds one fetch response from a broker (default
	// DefaultFetchMaxBytes); a partition's share of it is at most 1 MiB.
	// franz-go keeps one fetch per broker buffered, decompressed, beside
	// the queues, so this and MemberBufferedBytes bound the member's
	// memory. A record larger than it is still fetched (alone).
	FetchMaxBytes int
	// CommitEvery bounds how many final, non-urgent records (drops) may
	// wait for a commit while the worker stays busy (default 500).
	CommitEvery int
	// StopTimeout is how long stopping a partition waits for in-flight work
	// before calling OnStopTimeout (default 30s).
	StopTimeout time.Duration
	// OnStopTimeout is called once when StopTimeout passes while workers
	// are still busy during the final stop (not during a rebalance, where
	// the rest of the member keeps working); closesink wires
	// delivery.Client.Abort here.
	OnStopTimeout func()
	// CommitTimeout bounds the final commit of a partition on revocation
	// and on the final stop, retries included (default 10s).
	CommitTimeout time.Duration
	// CommitRetry is how soon a failed commit is tried again while the
	// partition has nothing new to process (default 1s): an idle partition
	// would otherwise keep a delivered record uncommitted until its next
	// record, and a crash or rebalance meanwhile would send it again.
	CommitRetry time.Duration
	// ClientOpts are extra franz-go options (TLS, SASL, timeouts, logger).
	ClientOpts []kgo.Opt
	// OnCommit, if set, is told of every successful commit (partition and
	// the next offset to read); for metrics and tests.
	OnCommit func(partition int32, next int64)
	// OnRebalance, if set, is told of every change of ownership: event is
	// "assigned", "revoked" or "lost". Called after the change took effect.
	OnRebalance func(event string, partitions []int32)
	// OnAssignment, if set, is told of every assignment the group gives
	// this member, including an empty one (a member of a group with more
	// members than partitions): the member has joined the group. Called
	// from the rebalance callback after the workers started; must not block.
	OnAssignment func(partitions []int32)
	// OnPoll, if set, is called each time the poll loop turns: after every
	// return of PollRecords, records or not. The loop turns at least every
	// PollTimeout while it is healthy, so a liveness check can tell a
	// wedged loop from an idle one. Must not block.
	OnPoll func()
	// PollTimeout bounds one wait for records (default 5s): an idle member
	// turns its poll loop at least this often. A poll waits longer only
	// while a rebalance runs (franz-go holds polls for the rebalance
	// callbacks, which may wait for in-flight work: see StopTimeout).
	PollTimeout time.Duration
}

// Defaults that closesink's settings take over and validate against.
const (
	// DefaultStopTimeout is Config.StopTimeout's default (--shutdown-timeout).
	DefaultStopTimeout = 30 * time.Second
	// DefaultCommitTimeout is Config.CommitTimeout's default.
	DefaultCommitTimeout = 10 * time.Second
	// DefaultPollTimeout is Config.PollTimeout's default.
	DefaultPollTimeout = 5 * time.Second
	// DefaultMemberBufferedBytes is Config.MemberBufferedBytes's default
	// (--buffer-bytes).
	DefaultMemberBufferedBytes = 64 << 20
	// DefaultFetchMaxBytes is Config.FetchMaxBytes's default
	// (--fetch-max-bytes).
	DefaultFetchMaxBytes = 50 << 20
)

func (c *Config) setDefaults() {
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 20000
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = 16 << 20
	}
	if c.CommitEvery <= 0 {
		c.CommitEvery = 500
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.MemberBufferedBytes <= 0 {
		c.MemberBufferedBytes = DefaultMemberBufferedBytes
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.CommitRetry <= 0 {
		c.CommitRetry = time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
}

// Validate reports the first missing or invalid setting.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("consumer: brokers: at least one broker address is required")
	case c.Topic == "":
		return errors.New("consumer: topic is required")
	case c.Group == "":
		return errors.New("consumer: group is required")
	case c.Handler == nil:
		return errors.New("consumer: handler is required")
	}
	return nil
}

// fetchCommitter is the part of *kgo.Client the partition workers use; a
// seam so the workers' pause, resume and commit logic is tested without a
// broker.
type fetchCommitter interface {
	PauseFetchPartitions(map[string][]int32) map[string][]int32
	ResumeFetchPartitions(map[string][]int32)
	CommitRecords(context.Context, ...*kgo.Record) error
}

var _ fetchCommitter = (*kgo.Client)(nil)

// Consumer is one member of the closesink consumer group.
type Consumer struct {
	cfg Config
	cl  *kgo.Client
	fc  fetchCommitter // cl, except in tests
	log *zap.Logger

	mu      sync.Mutex
	workers map[int32]*worker
	// lostFinal: for a partition lost while this member still ran, the
	// next offset after its last final record (see lost).
	lostFinal map[int32]int64
	closing   atomic.Bool // Run is stopping: revocations are the final stop
	fatal     error       // set by the poll loop's goroutine only
	// assignedCount is len(workers), readable without mu (byteBound).
	assignedCount atomic.Int32

	commitMu sync.Mutex // one commit request at a time, member-wide (commit.go)
	pendMu   sync.Mutex
	pend     map[int32]pendingCommit // partitions awaiting the coalesced commit
	round    *commitRound            // the round that will commit pend; nil until something is pending
}

// New creates the group client. It does not contact the brokers yet.
func New(cfg Config) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	c := &Consumer{cfg: cfg, log: cfg.Logger, workers: map[int32]*worker{}, lostFinal: map[int32]int64{}}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		// A new group starts at the oldest record: a lead produced
		// before closesink's first start must not be skipped.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// An event from an aborted Kafka transaction never happened: it
		// must not become a lead.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// A partition resumed after its queue drained joins the next fetch
		// only once the fetch in flight returns, which waits up to
		// FetchMaxWait (franz-go's default 5 s) when the other partitions
		// have nothing new: a draining worker then sits idle. Measured with
		// make bench (docs/benchmarks.md): 100 ms drained a backlog 2.6x
		// faster on the real broker; an idle member costs one empty fetch
		// per broker every 100 ms.
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.FetchMaxBytes(int32(cfg.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(min(cfg.FetchMaxBytes, 1<<20))),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	cl, err := kgo.NewClient(append(opts, cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	c.cl = cl
	c.fc = cl
	return c, nil
}

// Client is the underlying franz-go group client (for admin requests).
func (c *Consumer) Client() *kgo.Client { return c.cl }

// ErrNoWorker is returned by Run when the poll loop got records for a
// partition this member has no worker for. BlockRebalanceOnPoll makes that
// impossible; if it happens anyway the member stops (without committing
// those records) rather than skip them.
var ErrNoWorker = errors.New("consumer: records for a partition without a worker")

// pollBatch bounds how many records one poll hands out, so dispatch (done
// while rebalances are blocked) stays short. Measured against taking all
// that franz-go has buffered (docs/benchmarks.md): that spared the refetch
// of a paused partition's buffered rest, but with the default fetch size
// the queues overshot their bounds by whole fetches and peak RSS rose from
// about 240 MB to 370 MB.
const pollBatch = 1000

// Run consumes until ctx is done, then stops gracefully: workers finish the
// record in hand (an HTTP request already sent completes), final offsets are
// committed while the member is still in the group, and then the member
// leaves. Run closes the client before it returns. It returns nil after a
// graceful stop, ErrNoWorker (wrapped) when an invariant broke.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.cl.Close() // leaves the group, after stopAll committed
	for {
		fetches := c.poll(ctx)
		if c.cfg.OnPoll != nil {
			c.cfg.OnPoll()
		}
		if fetches.IsClientClosed() || ctx.Err() != nil || c.fatal != nil {
			c.log.Info("stopping: no more fetching; finishing in-flight work")
			c.stopAll(ctx)
			return c.fatal
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) && topic == "" {
				return // the poll's own timeout: an idle turn of the loop
			}
			c.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", p), zap.Error(err))
		})
		fetches.EachPartition(c.dispatch)
		c.cl.AllowRebalance()
	}
}

// poll waits up to PollTimeout for records. The timeout makes an idle loop
// turn (OnPoll) so that liveness can be judged; a poll cut short this way
// returns an error fetch and nothing else, like one with a done ctx.
func (c *Consumer) poll(ctx context.Context) kgo.Fetches {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.PollTimeout)
	defer cancel()
	return c.cl.PollRecords(pctx, pollBatch)
}

// stopAll is the final stop. Polling with a done context keeps rebalances
// blocked (BlockRebalanceOnPoll), so no partition can move while the
// workers drain and commit: the member is still in the group and its
// commits are accepted. Only then does Run's Close leave the group (its
// revoke callback finds no workers left). franz-go's Close alone would leave
// first and run the callback after, when a commit is rejected.
func (c *Consumer) stopAll(ctx context.Context) {
	c.closing.Store(true)
	done, cancel := context.WithCancel(ctx)
	cancel()
	c.cl.PollRecords(done, 1) // returns at once, holding off rebalances
	c.mu.Lock()
	parts := make([]int32, 0, len(c.workers))
	for p := range c.workers {
		parts = append(parts, p)
	}
	c.mu.Unlock()
	c.stopAndCommit(parts)
	c.cl.AllowRebalance()
}

// byteBound is a partition's byte bound: MaxBufferedBytes, or less when an
// equal share of MemberBufferedBytes is smaller, so the member's queues
// together stay within MemberBufferedBytes whatever the assignment.
func (c *Consumer) byteBound() int {
	n := int(c.assignedCount.Load())
	if n < 1 {
		n = 1
	}
	return min(c.cfg.MaxBufferedBytes, c.cfg.MemberBufferedBytes/n)
}

func (c *Consumer) dispatch(p kgo.FetchTopicPartition) {
	if len(p.Records) == 0 {
		return
	}
	c.mu.Lock()
	w := c.workers[p.Partition]
	c.mu.Unlock()
	if w == nil {
		if c.fatal == nil {
			c.fatal = fmt.Errorf("%w: partition %d (%d records from offset %d); stopping so they are read again",
				ErrNoWorker, p.Partition, len(p.Records), p.Records[0].Offset)
			c.log.Error("invariant broken", zap.Error(c.fatal))
		}
		return
	}
	w.enqueue(p.Records)
}
