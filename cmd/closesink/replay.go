package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
)

const replayLong = `Replay the dead-letter topic (DLQ) once the cause of the failures is fixed
(a revoked API key, an unknown lead status, a Close outage). Every selected
record goes through the same transform and delivery as ` + "`run`" + ` (fixed API key,
status id, mapping, rate limit and retries included); then replay exits.

What is read: the DLQ from the replay group's committed offsets (default
group <group>-replay, see --replay-group) up to the end offsets listed when
the replay starts. The replay joins that group as the member holding every
DLQ partition and commits through it after every record whose outcome is
final, so a run stopped early resumes where it stopped and a finished run
replays nothing twice. Records written to the DLQ during the replay
(including those that fail again) wait for the next run, so a replay always
ends. One replay per group at a time, enforced by Kafka: a second replay
started meanwhile (even at the same instant) is refused with exit code 1,
and its coming and going does not disturb the first. A replay also never
sends the same messageId twice (--dedupe-window, across all DLQ partitions).

A DLQ record is never degraded: one the DLQ topic would only take back
without its value stops the replay there, uncommitted (raise the topic's
max.message.bytes); one that already lost its value (closesink.value_omitted)
is re-queued unchanged and counted, since its lead must be replayed from its
source position.

What becomes of a selected record:
  delivered            the lead was created in Close
  dead-lettered again  written to the end of the DLQ with fresh error
                       headers, closesink.replays incremented and the
                       original closesink.source.* headers kept
  dropped              the transform now drops it (e.g. the event list changed)

Filters (every filter given must match; no filter selects every record):
  --class    permanent,retries_exhausted,invalid_event
  --status   HTTP status of the failure, e.g. 401,403 (records without one,
             such as invalid_event, never match)
  --since, --until
             failure time (closesink.failed_at), since <= failed_at < until:
             RFC 3339 (2026-05-01T09:00:00Z), a UTC date (2026-05-01) or a
             duration ago (90m, 24h, 7d); records without a failure time
             never match
  --limit N  stop after N selected records; the rest waits for the next run

Skipped records (not selected by the filters) are not lost: before the replay
group's offset moves past them they are copied unchanged (same key, value and
headers; closesink.replays not incremented) to the end of the DLQ, where a
later run with other filters, or none, reaches them. ` + "`closesink dlq stats`" + `
shows what is pending.

--dry-run prints, for each selected record, what it would send (the lead
JSON, with emails, phones and names masked unless --show-pii) or why it would
be dropped or dead-lettered; it sends, writes and commits nothing.

--to-topic NAME republishes each selected record (original key, value and
headers, plus its closesink.source.* pointer to where it first came from) to
NAME, e.g. the source topic, instead of calling Close, so the running
service does the work; each record is committed once NAME acknowledged it.
NAME must exist.

--dry-run and --to-topic need no Close API key.

The replay has the whole --rate to itself: if ` + "`closesink run`" + ` works against the
same Close account meanwhile, lower --rate so that both stay within Close's
limit together. Delivery is at-least-once, as in run: a crash between a
write and its commit can send a lead, or copy a skipped record, twice.

It ends with a summary on stdout (read, selected, delivered, dead-lettered
again, dropped, republished, skipped) and in the log.

Signals: SIGTERM or SIGINT stops after the record in progress, which gets up
to --shutdown-timeout to finish and is committed if its outcome is final; a
second signal exits at once (code 1).

Before delivering, the key is checked with Close (GET /api/v1/me/): a key
Close still rejects (401/403) stops the replay before anything is read.

Exit codes: 0 reached the end offsets (or --limit), 1 stopped early (signal,
Kafka error, replay group in use by another replay or consumer, a record the
DLQ would not take back whole), 2 bad configuration, a missing topic or a
rejected API key.

Settings are those of ` + "`run`" + ` (file < environment < flags; the API key only from
CLOSE_API_KEY or --api-key-file); the replay options are flags only.`

// replayOptions are the flags only replay has.
type replayOptions struct {
	group, classes, statuses, since, until, toTopic string
	limit                                           int
	dryRun, showPII                                 bool
}

func (o *replayOptions) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.group, "replay-group", "", "consumer group recording the replay's progress (default <group>-replay)")
	fs.StringVar(&o.classes, "class", "", "replay only these error classes: permanent, retries_exhausted, invalid_event (comma-separated)")
	fs.StringVar(&o.statuses, "status", "", "replay only failures with these HTTP statuses, e.g. 401,403")
	fs.StringVar(&o.since, "since", "", "replay only failures at or after this time (RFC 3339, date, or duration ago: 24h, 7d)")
	fs.StringVar(&o.until, "until", "", "replay only failures before this time (RFC 3339, date, or duration ago)")
	fs.IntVar(&o.limit, "limit", 0, "stop after this many selected records (0 = no limit)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be sent; send, write and commit nothing")
	fs.BoolVar(&o.showPII, "show-pii", false, "print emails, phones and names in full in --dry-run output")
	fs.StringVar(&o.toTopic, "to-topic", "", "republish the original records to this topic instead of calling Close")
}

func replayCommand() *cobra.Command {
	defaults := config.Defaults()
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Send the dead-lettered records again (after fixing the cause), then exit",
		Long:  replayLong,
		Example: `  # the key was revoked: replay every 401 with the new key
  CLOSE_API_KEY=api_new... closesink replay --config closesink.yaml --class permanent --status 401
  # look first
  closesink replay --config closesink.yaml --status 401 --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return err
			}
			if err := validateReplay(&cfg, &o); err != nil {
				return err
			}
			log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			return runReplay(cmd.Context(), cfg, o, log, cmd.OutOrStdout())
		},
	}
	config.Register(cmd.Flags(), &defaults)
	o.register(cmd)
	// Accepted so run's config file and environment work unchanged, but a
	// replay serves no metrics.
	_ = cmd.Flags().MarkHidden("metrics-addr")
	return cmd
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", config.ErrInvalid, fmt.Sprintf(format, a...))
}

// validateReplay checks what the chosen mode needs: a dry run and --to-topic
// never call Close, so they need no API key.
func validateReplay(cfg *config.Config, o *replayOptions) error {
	if cfg.DLQTopic == "" {
		return invalidf("dlq-topic is required (--dlq-topic, or --topic whose <topic>.dlq it defaults to)")
	}
	if o.group == "" {
		o.group = cfg.Group + "-replay"
	}
	switch {
	case o.group == cfg.Group:
		return invalidf("replay-group must differ from the group of `closesink run` (%q)", cfg.Group)
	case o.limit < 0:
		return invalidf("limit must be >= 0")
	case o.toTopic == cfg.DLQTopic:
		return invalidf("to-topic must differ from the dead-letter topic")
	}
	if _, err := o.filter(); err != nil {
		return err
	}
	if o.dryRun || o.toTopic != "" {
		return cfg.ValidateKafka()
	}
	// Validate is written for run, which needs the source topic; replay
	// never reads it, so stand in a name when only --dlq-topic was given.
	c := *cfg
	if c.Topic == "" {
		c.Topic = c.DLQTopic + ".source"
	}
	return c.Validate()
}

func runReplay(ctx context.Context, cfg config.Config, o replayOptions, log *zap.Logger, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	filter, err := o.filter()
	if err != nil {
		return err
	}
	ro := service.ReplayOptions{Group: o.group, Filter: filter, Limit: o.limit, ToTopic: o.toTopic, ShowPII: o.showPII}
	if o.dryRun {
		ro.DryRun = func(rec *kgo.Record, info deadletter.Info, what string) {
			e := replay.NewEntry(rec, o.showPII)
			status := "-"
			if info.HTTPStatus > 0 {
				status = strconv.Itoa(info.HTTPStatus)
			}
			fmt.Fprintf(stdout, "dlq %d@%d  %s/%d@%d  %s  %s  -> %s\n", e.DLQPartition, e.DLQOffset,
				e.SourceTopic, e.SourcePartition, e.SourceOffset, orDash(e.Class), status, what)
		}
	}
	ctx, stop := signalContext(log)
	defer stop()
	sum, err := service.Replay(ctx, cfg, ro, log)
	_ = sum.WriteTable(stdout)
	return err
}

// filter parses the filter flags.
func (o *replayOptions) filter() (replay.Filter, error) {
	f, err := replay.ParseFilter(config.SplitList(o.classes), config.SplitList(o.statuses), o.since, o.until, time.Now())
	if err != nil {
		return replay.Filter{}, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return f, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
