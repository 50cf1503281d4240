// Package consumer runs the Kafka side of closesink: a franz-go consumer
// group with one worker goroutine per assigned partition, each processing its
// partition's records in order and committing an offset only after the
// record's outcome is final (design.md §2).
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
//   - Each worker commits its own partition with CommitOffsetsSync. On
//     revocation the callback stops the partition's worker, waits for it (an
//     HTTP request already sent finishes and is committed), commits what is
//     final and only then returns, so no commit for that partition is ever
//     issued after the partition moved to another member. Lost partitions
//     commit nothing.
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
	// CommitTimeout bounds each final commit on revocation (default 10s).
	CommitTimeout time.Duration
	// ClientOpts are extra franz-go options (TLS, SASL, timeouts, logger).
	ClientOpts []kgo.Opt
	// OnCommit, if set, is told of every successful commit (partition and
	// the next offset to read); for metrics and tests.
	OnCommit func(partition int32, next int64)
	// OnRebalance, if set, is told of every change of ownership: event is
	// "assigned", "revoked" or "lost". Called after the change took effect.
	OnRebalance func(event string, partitions []int32)
}

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
		c.StopTimeout = 30 * time.Second
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
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

// Consumer is one member of the closesink consumer group.
type Consumer struct {
	cfg Config
	cl  *kgo.Client
	log *zap.Logger

	mu      sync.Mutex
	workers map[int32]*worker
	closing atomic.Bool // Run is stopping: revocations are the final stop
}

// New creates the group client. It does not contact the brokers yet.
func New(cfg Config) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	c := &Consumer{cfg: cfg, log: cfg.Logger, workers: map[int32]*worker{}}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		// A new group starts at the oldest record: a lead produced
		// before closesink's first start must not be skipped.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
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
	return c, nil
}

// Client is the underlying franz-go client (to produce dead-letter records
// on the same connections, or for admin requests).
func (c *Consumer) Client() *kgo.Client { return c.cl }

// pollBatch bounds how many records one poll hands out, so dispatch (done
// while rebalances are blocked) stays short.
const pollBatch = 1000

// Run consumes until ctx is done, then stops gracefully: workers finish the
// record in hand (an HTTP request already sent completes), final offsets are
// committed, and the member leaves the group. Run closes the client before it
// returns. It returns nil after a graceful stop.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.cl.Close() // leaves the group; c.revoked stops and commits the remaining workers
	for {
		fetches := c.cl.PollRecords(ctx, pollBatch)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			c.closing.Store(true)
			c.cl.AllowRebalance()
			c.log.Info("stopping: no more fetching; finishing in-flight work")
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", p), zap.Error(err))
		})
		fetches.EachPartition(c.dispatch)
		c.cl.AllowRebalance()
	}
}

func (c *Consumer) dispatch(p kgo.FetchTopicPartition) {
	if len(p.Records) == 0 {
		return
	}
	c.mu.Lock()
	w := c.workers[p.Partition]
	c.mu.Unlock()
	if w == nil {
		// BlockRebalanceOnPoll makes this impossible; if it ever happens the
		// records stay uncommitted and are re-read by the partition's owner.
		c.log.Error("records for a partition without a worker; leaving them uncommitted",
			zap.Int32("partition", p.Partition), zap.Int("records", len(p.Records)))
		return
	}
	w.enqueue(p.Records)
}
