package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
)

const checkLong = `Check the configuration of ` + "`closesink run`" + ` (same file, environment and flags)
and, with --connect, what it needs from Kafka and Close, one line per check:
"ok ...", "FAIL ..." or "skip ..." (could not be verified). It stops at the
first failure. Nothing is written, consumed or committed, no group is joined
and no lead is created.

What each check with --connect proves:
  kafka: reached cluster        the brokers answer (TLS, SASL)
  kafka: <topic> exists         the topic exists and may be described; its partitions
  kafka: <topic>: READ/WRITE    the broker's own answer to "what may I do" (KIP-430):
                                READ on the source topic, WRITE on the dead-letter and
                                results topics; "skip" when the broker does not say
  kafka: group: offsets         fetching the group's offsets is allowed (DESCRIBE)
  kafka: group: READ            joining and committing are allowed (from the broker's
                                answer to DescribeGroups; "skip" when it does not say)
  close: API key                GET /api/v1/me/ accepts the key
  close: lead status            --lead-status-id is one of GET /api/v1/status/lead/
  close: custom field           every mapping.custom_fields id is one of
                                GET /api/v1/custom_field/lead/ (all pages)

Exit codes: 0 every check passed, 1 Kafka or Close did not answer, 2 the
configuration or the setup is wrong (missing topic, permission, rejected key,
unknown status or custom field).`

func checkCommand() *cobra.Command {
	defaults := config.Defaults()
	var connect bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and, with --connect, reach Kafka and Close",
		Long:  checkLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				_, _ = out.Write([]byte("FAIL configuration: " + err.Error() + "\n"))
				return err
			}
			log, err := newLogger("warn", cfg.LogFormat)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signalContext(log)
			defer stop()
			return service.Check(ctx, cfg, log, service.CheckOptions{Connect: connect, Out: out})
		},
	}
	config.Register(cmd.Flags(), &defaults)
	cmd.Flags().BoolVar(&connect, "connect", false, "also reach Kafka (topics, partitions, permissions) and Close (key, lead status, custom fields)")
	return cmd
}
