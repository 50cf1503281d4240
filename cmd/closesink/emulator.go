package main

import (
	"flag"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/pkg/closeemu"
)

func emulatorCommand() *cobra.Command {
	var (
		addr, keys, statuses, logLevel string
		rate                           float64
		burst                          int
		indexDelay                     time.Duration
		faults                         closeemu.Faults
	)
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run the Close API emulator (for tests, the demo and docker-compose)",
		Long: `Serve an emulation of the Close API endpoints closesink uses, with Basic
auth, Close-style validation errors, RateLimit headers and 429s:

  POST /api/v1/lead/               create a lead with its contacts
  GET  /api/v1/lead/               list leads (_skip, _limit, _fields)
  GET  /api/v1/lead/{id}/          a lead as it is now (url, description,
                                   custom.cf_* keys, contacts)
  PUT  /api/v1/lead/{id}/          update as a PATCH: name, url, description,
                                   status_id, custom.cf_* (null clears)
  POST /api/v1/lead/merge/         {"source", "destination"}: the source's
                                   contacts move to the destination, the
                                   source is gone (404 from then on)
  GET  /api/v1/contact/{id}/       a contact
  PUT  /api/v1/contact/{id}/       update as a PATCH: name, title, and emails
                                   and phones, each replaced whole when sent
  POST /api/v1/data/search/        contacts by email (the query shape of
                                   closeapi.ContactByEmail; any other is a
                                   400), matched by words as Close's "phrase"
                                   mode does, so jane@acme.com also finds
                                   jane@acme.com.evil.io
  GET  /api/v1/me/                 the key check

Accepted API keys come from --api-keys or the CLOSE_EMULATOR_API_KEYS
environment variable (comma-separated). It stores leads in memory only.

--index-delay makes search lag writes as Close's index does: a contact
created, or whose emails changed, is found under its new addresses only
that long afterwards (default 0: at once).

Faults (all off by default; rates are fractions 0..1 drawn from --seed, one
independent stream per rate, so a run is reproducible):

  Before anything is created or changed:
    --error-rate       answer requests to --error-endpoints (default
                       create_lead, i.e. POST /lead/) with --error-status
                       (default 503); also: get_lead, search,
                       update_contact, update_lead, merge
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
requests, created, by_status, rate_limited, dropped, cancelled,
abandoned_after_create (stored leads whose client got no success), searches,
contact_updates, lead_updates and merges, so a test can check created ==
distinct leads sent + abandoned_after_create.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keys == "" {
				keys = os.Getenv("CLOSE_EMULATOR_API_KEYS")
			}
			log, err := newLogger(logLevel, "auto")
			if err != nil {
				return err
			}
			ecfg := closeemu.Config{
				APIKeys: config.SplitList(keys), Statuses: config.SplitList(statuses),
				RateLimit: rate, RateBurst: burst, IndexDelay: indexDelay,
			}
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
	f.DurationVar(&indexDelay, "index-delay", 0, "how long search lags contact writes (0 = searchable at once)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	faultFlags := flag.NewFlagSet("faults", flag.ContinueOnError)
	faults.RegisterFlags(faultFlags)
	f.AddGoFlagSet(faultFlags)
	return cmd
}
