package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
)

const dlqLong = `Inspect the dead-letter topic (DLQ) without changing anything: no commit,
no write, no call to Close.

By default the subcommands show what is pending: the records from the replay
group's committed offsets (default group <group>-replay, see --replay-group;
the start of the topic when it has none) to the current end, which is what
the next ` + "`closesink replay`" + ` would read. --all reads the whole topic instead.

  closesink dlq stats [--all] [--json]
      counts by error class, HTTP status and day of failure (UTC), the oldest
      and newest failure, the total, and per partition the start and end
      offsets, the replay group's committed offset and the records counted
  closesink dlq list [--all] [--limit N] [--json] [--show-pii]
      one line per record: DLQ partition@offset, source topic/partition@offset,
      class, HTTP status, failed_at, replays, the contact email (masked unless
      --show-pii) and the error message; --json prints one JSON object per line

Kafka settings come from the same file, environment and flags as ` + "`run`" + `
(TLS and SASL from the file or CLOSESINK_* environment variables).

Exit codes: 0 done, 1 Kafka error or stopped by a signal, 2 bad configuration
or a missing topic.`

// dlqOptions are the flags shared by the dlq subcommands.
type dlqOptions struct {
	group   string
	all     bool
	asJSON  bool
	limit   int
	showPII bool
}

// dlqSettings are the run settings dlq needs; the rest (Close, rate, ...)
// would only clutter its --help.
var dlqSettings = []string{"config", "brokers", "topic", "group", "dlq-topic", "log-level", "log-format"}

func dlqCommand() *cobra.Command {
	defaults := config.Defaults()
	var o dlqOptions
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect the dead-letter topic (stats, list)",
		Long:  dlqLong,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	all := pflag.NewFlagSet("settings", pflag.ContinueOnError)
	config.Register(all, &defaults)
	pf := cmd.PersistentFlags()
	for _, name := range dlqSettings {
		f := *all.Lookup(name)
		if name == "topic" {
			f.Usage = "source topic; the DLQ defaults to <topic>.dlq (give this or --dlq-topic)"
		}
		pf.AddFlag(&f)
	}
	pf.StringVar(&o.group, "replay-group", "", "replay group whose committed offsets mark what is pending (default <group>-replay)")
	pf.BoolVar(&o.all, "all", false, "read the whole topic instead of what is pending for the replay group")
	pf.BoolVar(&o.asJSON, "json", false, "print JSON (list: one object per line)")

	stats := &cobra.Command{
		Use:   "stats",
		Short: "Count pending dead-letter records by class, HTTP status and day",
		Long: `Count the dead-letter records pending for the replay group (--all: the whole
topic) by error class, HTTP status ("none" when Close never answered) and
UTC day of failure; show the oldest and newest failure, the total, and per
partition the start and end offsets, where the count started (the replay
group's committed offset, or the start) and the records counted.
--json prints the same as one JSON object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDLQ(cmd, o, func(ctx context.Context, d dlqReader, out io.Writer) error { return dlqStats(ctx, d, o, out) })
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Print one line per pending dead-letter record",
		Long: `Print one line per dead-letter record pending for the replay group (--all:
the whole topic), in offset order per partition:

  dlq <partition>@<offset>  <source topic>/<partition>@<offset>  <class>  <status>  <failed_at>  replays=<n>  <email>  "<message>"

"-" marks a missing value. Emails (in the email column and inside messages)
are masked as j***@acme.com unless --show-pii. --json prints one object per
line with the fields dlq_partition, dlq_offset, source_topic,
source_partition, source_offset, class, status (absent without an HTTP
response), message, failed_at, replays, attempts and email.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDLQ(cmd, o, func(ctx context.Context, d dlqReader, out io.Writer) error { return dlqList(ctx, d, o, out) })
		},
	}
	list.Flags().IntVar(&o.limit, "limit", 0, "print at most this many records (0 = all)")
	list.Flags().BoolVar(&o.showPII, "show-pii", false, "print emails in full, in the email column and in messages")
	cmd.AddCommand(stats, list)
	return cmd
}

// dlqReader is what a dlq subcommand reads: the planned ranges and a way to
// scan them.
type dlqReader struct {
	topic, group string
	opts         []kgo.Opt
	ranges       []deadletter.Range
}

func (d dlqReader) scan(ctx context.Context, fn func([]*kgo.Record) error) error {
	return deadletter.Scan(ctx, d.opts, d.topic, d.ranges, fn, nil)
}

func runDLQ(cmd *cobra.Command, o dlqOptions, do func(context.Context, dlqReader, io.Writer) error) error {
	cfg, err := config.Load(cmd.Flags(), os.Getenv)
	if err != nil {
		return err
	}
	if err := cfg.ValidateKafka(); err != nil {
		return err
	}
	if cfg.DLQTopic == "" {
		return invalidf("dlq-topic is required (--dlq-topic, or --topic whose <topic>.dlq it defaults to)")
	}
	if o.limit < 0 {
		return invalidf("limit must be >= 0")
	}
	if o.group == "" {
		o.group = cfg.Group + "-replay"
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signalContext(log)
	defer stop()

	opts, err := service.KafkaOpts(cfg, log)
	if err != nil {
		return err
	}
	cl, _, err := service.Connect(ctx, opts, service.TopicCheckTimeout, cfg.DLQTopic)
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ranges, err := deadletter.Plan(pctx, kadm.NewClient(cl), cfg.DLQTopic, o.group, o.all)
	cancel()
	if err != nil {
		return withCode(exitFailure, err)
	}
	d := dlqReader{topic: cfg.DLQTopic, group: o.group, opts: opts, ranges: ranges}
	return withCode(exitFailure, do(ctx, d, cmd.OutOrStdout()))
}

func dlqStats(ctx context.Context, d dlqReader, o dlqOptions, out io.Writer) error {
	var s replay.Stats
	s.SetRanges(d.ranges)
	err := d.scan(ctx, func(batch []*kgo.Record) error {
		for _, r := range batch {
			s.Add(r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if o.asJSON {
		return json.NewEncoder(out).Encode(struct {
			Topic string `json:"topic"`
			Group string `json:"replay_group"`
			All   bool   `json:"all"`
			*replay.Stats
		}{d.topic, d.group, o.all, &s})
	}
	scope := fmt.Sprintf("pending for replay group %s (its committed offset to the end; --all for the whole topic)", d.group)
	if o.all {
		scope = "whole topic"
	}
	fmt.Fprintf(out, "DLQ %s: %s\n\n", d.topic, scope)
	return s.WriteText(out)
}

func dlqList(ctx context.Context, d dlqReader, o dlqOptions, out io.Writer) error {
	n := 0
	enc := json.NewEncoder(out)
	return d.scan(ctx, func(batch []*kgo.Record) error {
		for _, r := range batch {
			e := replay.NewEntry(r, o.showPII)
			if o.asJSON {
				if err := enc.Encode(e); err != nil {
					return err
				}
			} else if _, err := fmt.Fprintln(out, e.Text()); err != nil {
				return err
			}
			n++
			if o.limit > 0 && n >= o.limit {
				return deadletter.ErrStopScan
			}
		}
		return nil
	})
}
