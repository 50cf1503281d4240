package main

import (
	"flag"
	"os"

	"github.com/spf13/cobra"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/pkg/closeemu"
)

func emulatorCommand() *cobra.Command {
	var (
		addr, keys, statuses, logLevel string
		rate                           float64
		burst                          int
		faults                         closeemu.Faults
	)
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run the Close API emulator (for tests, the demo and docker-compose)",
		Long: `Serve an emulation of the Close API endpoints closesink uses (POST/GET
/api/v1/lead/, GET /api/v1/lead/{id}/, GET /api/v1/me/) with Basic auth,
Close-style validation errors, RateLimit headers and 429s.

Accepted API keys come from --api-keys or the CLOSE_EMULATOR_API_KEYS
environment variable (comma-separated). It stores leads in memory only.

Faults (all off by default; rates are fractions 0..1 drawn from --seed, one
independent stream per rate, so a run is reproducible):

  Before a lead exists (nothing is created):
    --error-rate       answer POST /lead/ with --error-status (default 503)
    --latency          delay every request; a client giving up creates nothing
    --drop-rate        close the connection of any request without a response

  After the lead is stored (the duplicate-producing order: the lead stays
  created, the client sees a failure and will send it again):
    --latency-after-create       delay the answer; if the client gives up
                                 first, the connection is closed
    --latency-after-create-rate  fraction of created leads delayed (0 = all)
    --drop-after-create-rate     close the connection without a response
    --error-after-create-rate    answer --error-status (502 if below 400)

GET /_emulator/stats (no API key, never faulted) returns the counters as JSON:
requests, created, by_status, rate_limited, dropped, cancelled and
abandoned_after_create (stored leads whose client got no success), so a test
can check created == distinct leads sent + abandoned_after_create.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keys == "" {
				keys = os.Getenv("CLOSE_EMULATOR_API_KEYS")
			}
			log, err := newLogger(logLevel, "auto")
			if err != nil {
				return err
			}
			ecfg := closeemu.Config{APIKeys: config.SplitList(keys), Statuses: config.SplitList(statuses), RateLimit: rate, RateBurst: burst}
			if err := ecfg.Validate(); err != nil {
				return withCode(exitConfig, err)
			}
			if err := faults.Validate(); err != nil {
				return withCode(exitConfig, err)
			}
			srv := closeemu.New(ecfg)
			srv.SetFaults(faults)
			ctx, stop := signalContext(log)
			defer stop()
			return closeemu.ListenAndServe(ctx, addr, srv, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	f.StringVar(&keys, "api-keys", "", "accepted API keys, comma-separated (env CLOSE_EMULATOR_API_KEYS)")
	f.StringVar(&statuses, "statuses", "", "known lead status ids, comma-separated; empty accepts any")
	f.Float64Var(&rate, "rate-limit", 0, "requests/second per key before 429 (0 = unlimited)")
	f.IntVar(&burst, "rate-burst", 0, "rate-limit bucket size (0 = the rate rounded up)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	faultFlags := flag.NewFlagSet("faults", flag.ContinueOnError)
	faults.RegisterFlags(faultFlags)
	f.AddGoFlagSet(faultFlags)
	return cmd
}
