// Package replay takes records from the dead-letter topic back through the
// pipeline after the cause of their failure is fixed (docs/design.md §5).
//
// A replay joins its replay group as a member that holds every DLQ
// partition (see groupLock: a second replay is refused) and reads the DLQ
// from the group's committed offsets up to the end offsets listed when it
// starts, then returns: records dead-lettered again during the replay land
// after those end offsets and wait for the next run. It commits through the
// group after every record whose outcome is final, so a stopped replay
// resumes where it stopped and a finished one replays nothing twice.
//
// Records the filter does not select are re-queued: copied unchanged to the
// end of the DLQ (and acknowledged) before the group's offset moves past
// them, so a later run with other filters still reaches them.
//
// Kafka enforces one replay per replay group at a time: the group's
// membership is the lock, and commits are fenced by it.
package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pipeline"
)

// Processor takes one record to its final outcome; *pipeline.Pipeline
// satisfies it. Process blocks; it returns an error wrapping
// pipeline.ErrNotFinal when the outcome is not final.
type Processor interface {
	Process(ctx context.Context, rec *kgo.Record) (pipeline.Outcome, error)
}

// DryRunFunc is told about every selected record in a dry run.
type DryRunFunc func(rec *kgo.Record, info deadletter.Info)

// ErrGroupActive is returned by Run when the replay group has members: some
// consumer uses it, and a replay would fight it over the offsets.
var ErrGroupActive = errors.New("replay: the replay group has active members")

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("replay: invalid config")

// Config configures Run. Exactly one mode applies: DryRun set (print only),
// else ToTopic set (republish), else Processor (deliver).
type Config struct {
	// ClientOpts are the connection options (seed brokers, TLS, SASL) of
	// the reading client Run creates; no consumer or group options.
	ClientOpts []kgo.Opt
	// Admin reads the replay group's offsets (commits go through the
	// group membership Run takes).
	Admin *kadm.Client
	// Producer writes re-queued and republished records; it must wait for
	// acknowledgement (ProduceSync). Not used in a dry run.
	Producer deadletter.Producer
	// Topic is the dead-letter topic; Group the replay consumer group.
	Topic, Group string
	// Filter selects the records to replay.
	Filter Filter
	// Limit stops the run after this many selected records (0: no limit).
	// The records after the last one handled stay for the next run.
	Limit int
	// Processor delivers selected records (the pipeline, with a dead-letter
	// writer to Topic so a record failing again is re-dead-lettered).
	Processor Processor
	// ToTopic, if set, republishes selected records (original key, value and
	// headers) to this topic instead of processing them.
	ToTopic string
	// DryRun, if set, is called for every selected record instead of
	// handling it; nothing is written, sent or committed.
	DryRun DryRunFunc
	// Logger, nil for none.
	Logger *zap.Logger
	// StopTimeout is how long the record in progress may still take once
	// ctx ends (its HTTP request finishing, say) before its own context is
	// cancelled too; 0 cancels it at once. Like run's shutdown timeout, it
	// keeps a stop from cutting off a request Close may already have acted
	// on, which would send that lead again on the next run.
	StopTimeout time.Duration
	// CommitTimeout bounds one commit or re-queue write, which run even
	// after ctx ends once a record's outcome is final; 0 means 30s.
	CommitTimeout time.Duration
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	bad := func(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidConfig, msg) }
	switch {
	case c.Admin == nil:
		return bad("an admin client is required")
	case len(c.ClientOpts) == 0:
		return bad("client options (at least the seed brokers) are required")
	case c.Topic == "":
		return bad("the dead-letter topic is required")
	case c.Group == "":
		return bad("the replay group is required")
	case c.Limit < 0:
		return bad("limit must be >= 0")
	case c.ToTopic == c.Topic:
		return bad("to-topic must differ from the dead-letter topic (records would loop)")
	case c.DryRun != nil:
		return nil
	case c.Producer == nil:
		return bad("a producer is required (re-queue and to-topic writes)")
	case c.ToTopic == "" && c.Processor == nil:
		return bad("a processor is required unless ToTopic or DryRun is set")
	}
	return nil
}

// Summary counts what a run did. Selected = Delivered + DeadLettered +
// Dropped + Republished + Previewed (a record whose outcome was not final
// when the run stopped counts as selected only).
type Summary struct {
	Read         int // records read from the DLQ
	Selected     int // records the filter selected
	Delivered    int // created in Close
	DeadLettered int // failed again: written back to the DLQ with closesink.replays+1
	Dropped      int // the transform dropped them (e.g. the event list changed)
	Republished  int // written to ToTopic
	Previewed    int // shown by a dry run
	// Skipped records were not selected: re-queued at the end of the DLQ
	// (in a dry run only counted).
	Skipped int
	// Unreplayable records matched the filter but carry no value (it was too
	// large for the DLQ, closesink.value_omitted): re-queued like Skipped.
	Unreplayable int
	// Expired counts planned records that retention deleted before they
	// were read.
	Expired int64
	// Partitions are the ranges read, as planned at the start.
	Partitions []deadletter.Range
	// ReachedEnd: every partition was read up to its planned end.
	ReachedEnd bool
	// StoppedAtLimit: the run stopped after Limit selected records.
	StoppedAtLimit bool
	// DryRun: nothing was sent, written or committed.
	DryRun bool
}

// Run replays the DLQ as configured. It blocks until the planned end, the
// limit, an error or ctx's end. A nil error means it reached the end or the
// limit (see Summary); on ctx's end it returns ctx.Err() (wrapped), and the
// record in progress is left uncommitted for the next run. Not safe to call
// concurrently for the same group.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	if err := checkIdle(ctx, cfg.Admin, cfg.Group); err != nil {
		return Summary{}, err
	}
	var lock *groupLock
	if cfg.DryRun == nil { // a dry run commits nothing, so it needs no lock
		l, err := acquireLock(ctx, cfg.ClientOpts, cfg.Topic, cfg.Group, cfg.Logger)
		if err != nil {
			return Summary{}, err
		}
		defer l.release()
		lock = l
	}
	// Planned once the lock is held: a replay that held it before has
	// committed its progress by then.
	ranges, err := deadletter.Plan(ctx, cfg.Admin, cfg.Topic, cfg.Group, false)
	if err != nil {
		return Summary{}, err
	}
	r := &run{ctx: ctx, cfg: cfg, log: cfg.Logger, lock: lock, sum: Summary{Partitions: ranges, DryRun: cfg.DryRun != nil}, next: map[int32]int64{}}
	var pending int64
	for _, rg := range ranges {
		r.next[rg.Partition] = rg.Committed
		pending += rg.Pending()
		if rg.Reset {
			r.log.Warn("replay group offset was outside the stored records (expired by retention, or the topic was recreated): starting at the oldest stored record",
				zap.Int32("partition", rg.Partition), zap.Int64("committed", rg.Committed), zap.Int64("start", rg.Start), zap.Int64("end", rg.To))
		}
	}
	r.log.Info("replay starting", zap.String("dlq_topic", cfg.Topic), zap.String("replay_group", cfg.Group),
		zap.String("filter", cfg.Filter.String()), zap.Int("limit", cfg.Limit), zap.String("mode", r.mode()),
		zap.Int64("pending", pending))

	err = deadletter.Scan(ctx, cfg.ClientOpts, cfg.Topic, ranges, r.batch, func(p int32, from, to int64) {
		r.sum.Expired += to - from
		r.log.Warn("DLQ records expired (retention) before the replay read them; they are gone",
			zap.Int32("dlq_partition", p), zap.Int64("from_offset", from), zap.Int64("to_offset", to))
	})
	if err == nil && !r.sum.StoppedAtLimit {
		r.sum.ReachedEnd = true
		err = r.finish(ranges)
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("replay stopped before the end: %w", ctx.Err())
	}
	return r.sum, err
}

// checkIdle refuses a group with members: a consumer using the replay group
// would commit over the replay's offsets and vice versa.
func checkIdle(ctx context.Context, adm *kadm.Client, group string) error {
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describing replay group %s: %w", group, err)
	}
	g, ok := groups[group]
	if !ok {
		return nil
	}
	if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
		return fmt.Errorf("describing replay group %s: %w", group, g.Err)
	}
	if len(g.Members) > 0 {
		return fmt.Errorf("%w: group %s is %s with %d member(s); stop them, or pick another group with --replay-group (never the group of `closesink run`)",
			ErrGroupActive, group, g.State, len(g.Members))
	}
	return nil
}

func (r *run) mode() string {
	switch {
	case r.cfg.DryRun != nil:
		return "dry-run"
	case r.cfg.ToTopic != "":
		return "to-topic " + r.cfg.ToTopic
	}
	return "deliver"
}
