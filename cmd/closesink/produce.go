package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/internal/service"
)

func produceSamplesCommand() *cobra.Command {
	var (
		brokers []string
		topic   string
		repeat  int
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "produce-samples",
		Short: "Produce the demo's sample events to a Kafka topic",
		Long: `Produce the sample Signal events that "closesink demo" uses (the product
page's example, other lead events, page views, identify calls and malformed
records; see internal/samples/events.json) to a topic of a real cluster, for
example to try a deployment against the Close emulator. The topic must
exist. Each record keeps the sample's key and carries a "demo-sample" header
naming the sample.

--brokers and --topic fall back to CLOSESINK_BROKERS and CLOSESINK_TOPIC.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(brokers) == 0 {
				brokers = config.SplitList(os.Getenv("CLOSESINK_BROKERS"))
			}
			if topic == "" {
				topic = strings.TrimSpace(os.Getenv("CLOSESINK_TOPIC"))
			}
			cfg := config.Config{Brokers: brokers}
			if err := cfg.ValidateKafka(); err != nil {
				return err
			}
			switch {
			case topic == "":
				return fmt.Errorf("%w: topic is required (--topic or CLOSESINK_TOPIC)", config.ErrInvalid)
			case repeat < 1:
				return fmt.Errorf("%w: repeat must be >= 1 (got %d)", config.ErrInvalid, repeat)
			case timeout <= 0:
				return fmt.Errorf("%w: timeout must be > 0", config.ErrInvalid)
			}
			ctx, stop := signalContext(zap.NewNop())
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return produceSamples(ctx, brokers, topic, repeat, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&brokers, "brokers", nil, "Kafka bootstrap brokers, comma-separated host:port (env CLOSESINK_BROKERS)")
	f.StringVar(&topic, "topic", "", "topic to produce to (env CLOSESINK_TOPIC)")
	f.IntVar(&repeat, "repeat", 1, "produce the whole sample set this many times")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "give up if the cluster has not taken every record by then")
	return cmd
}

// produceSamples writes the sample set repeat times to topic and reports
// the count to out. It blocks until every record is acknowledged or ctx
// ends. A missing topic is a setup error (exit 2).
func produceSamples(ctx context.Context, brokers []string, topic string, repeat int, out io.Writer) error {
	all, err := samples.All()
	if err != nil {
		return err
	}
	recs, err := samples.Records(topic, repeat*len(all))
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	cl, _, err := service.Connect(ctx, []kgo.Opt{kgo.SeedBrokers(brokers...)}, max(time.Until(deadline), time.Second), topic)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return withCode(exitFailure, fmt.Errorf("produce to %s: %w", topic, err))
	}
	fmt.Fprintf(out, "produced %d sample events (%d samples x %d) to topic %q\n", len(recs), len(all), repeat, topic)
	return nil
}
