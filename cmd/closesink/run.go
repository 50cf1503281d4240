package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
)

const runLong = `Run the worker: consume the source topic as a member of the consumer group,
create a Close lead for every identified, consenting lead event, dead-letter
what Close rejects, and commit each offset only after its record's outcome is
final. Start as many replicas as the topic has partitions; the rate budget
(--rate/--burst) is for the whole group.

Settings come from, lowest to highest precedence: defaults, the YAML file
(--config), environment variables, flags. Every flag --x-y has the
environment variable CLOSESINK_X_Y. The Close API key is read from the
CLOSE_API_KEY environment variable or --api-key-file, never from a flag.

Signals: SIGTERM or SIGINT stops fetching, lets requests already sent to Close
finish (up to --shutdown-timeout), commits, leaves the group and exits 0.
A second signal exits at once with code 1.

At start it checks that both topics exist and that Close accepts the API key
(GET /api/v1/me/); a rejected key (401/403) stops it with exit code 2, while
Close being unreachable only logs a warning.

With --metrics-addr it serves /metrics, /healthz (liveness: fails only when
the poll loop is wedged) and /readyz (readiness: fails while stopping, before
joining the group, when Kafka has not answered for --not-ready-after, when the
source topic is gone or while Close rejects the key). With --results-topic
every delivered lead gets a JSON record there (Close lead and contact ids,
action) before its offset is committed. ` + "`closesink check --connect`" + ` checks a
setup without running it.

Tracing (OpenTelemetry, OTLP over HTTP) is off unless OTEL_EXPORTER_OTLP_ENDPOINT
or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; then the standard OTEL_* variables
apply (OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_EXPORTER=none turns it off). Each record gets a process span that
continues the producer's traceparent header; see the README, Tracing.

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad configuration, a
missing topic or a rejected API key.`

func runCommand() *cobra.Command {
	defaults := config.Defaults()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Consume the topic and deliver leads to Close (the service)",
		Long:  runLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signalContext(log)
			defer stop()
			return service.Run(ctx, cfg, log, service.Options{})
		},
	}
	config.Register(cmd.Flags(), &defaults)
	return cmd
}

// signalContext is cancelled by the first SIGTERM/SIGINT; the second exits
// the process with code 1 at once (requests in flight are cut off with it,
// and nothing more is committed).
func signalContext(log *zap.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		log.Info("signal received: stopping gracefully (send it again to exit at once)", zap.String("signal", s.String()))
		cancel()
		if _, ok := <-sigs; ok {
			log.Warn("second signal: exiting now without waiting for in-flight work")
			_ = log.Sync()
			os.Exit(exitFailure)
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(sigs); cancel() }
}
