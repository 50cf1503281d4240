// Command closesink delivers identified marketing events from Kafka into
// Close CRM as leads. Subcommands: run, check, replay, dlq, emulator, demo,
// produce-samples, version. This file only builds the command tree and maps
// errors to exit codes; the work lives in the packages.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/internal/version"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure (broker unreachable, stopped early)
	exitConfig  = 2 // bad configuration or missing topics: fix the setup
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func main() {
	root := &cobra.Command{
		Use:   "closesink",
		Short: "Deliver identified Signal events from Kafka into Close CRM as leads",
		Long: `closesink reads Signal's delivery topic as a Kafka consumer group, maps each
identified lead event to a Close lead with a nested contact, creates it with
POST /api/v1/lead/ under a group-wide rate limit, dead-letters what Close
rejects, and commits an offset only once its record's outcome is final.

Try it with nothing installed but Go:  closesink demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	root.AddCommand(
		runCommand(),            // the service
		checkCommand(),          // the configuration, Kafka and Close, checked
		replayCommand(),         // the DLQ, sent again
		dlqCommand(),            // the DLQ, inspected
		emulatorCommand(),       // a Close API emulator
		demoCommand(),           // everything in-process
		produceSamplesCommand(), // the demo's events, to a real topic
		versionCommand(),
	)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "closesink:", err)
	}
	os.Exit(exitCode(err))
}

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, config.ErrInvalid), errors.Is(err, service.ErrSetup),
		isUsageError(err): // cobra's own errors (unknown flag, bad value)
		return exitConfig
	}
	return exitFailure
}

func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "invalid argument", "flag needs an argument", "unknown shorthand", "accepts "} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "closesink", version.Version) },
	}
}
