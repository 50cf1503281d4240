package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/config"
)

func emulatorCommand() *cobra.Command {
	var (
		addr, keys, statuses, logLevel string
		rate                           float64
		burst                          int
	)
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run the Close API emulator (for tests, the demo and docker-compose)",
		Long: `Serve an emulation of the Close API endpoints closesink uses (POST/GET
/api/v1/lead/, GET /api/v1/lead/{id}/, GET /api/v1/me/) with Basic auth,
Close-style validation errors, RateLimit headers and 429s.

Accepted API keys come from --api-keys or the CLOSE_EMULATOR_API_KEYS
environment variable (comma-separated). It stores leads in memory only.`,
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
			srv := closeemu.New(ecfg)
			ctx, stop := signalContext(log, nil)
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
	return cmd
}
