package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

const replayTestKey = "api_replaycmdtestkey000001"

// replayCmdWorld is a DLQ holding dead letters of a revoked key, and a
// Close emulator that accepts the new key.
type replayCmdWorld struct {
	t        *testing.T
	b        *kafkatest.Backend
	dlq, src string
	emu      *closeemu.Server
	closeURL string
}

func newReplayCmdWorld(t *testing.T) *replayCmdWorld {
	t.Helper()
	b := kafkatest.Start(t)
	emu := closeemu.New(closeemu.Config{APIKeys: []string{replayTestKey}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	w := &replayCmdWorld{t: t, b: b, dlq: b.CreateTopic(t, 1), src: b.CreateTopic(t, 1), emu: emu, closeURL: srv.URL}
	t.Setenv(config.EnvAPIKey, replayTestKey)
	prod := b.NewClient(t)
	failed := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i, d := range []struct {
		value  string
		class  pipeline.Class
		status int
	}{
		{replayCmdLead("jane.doe@acme.com"), pipeline.ClassPermanent, 401},
		{"not json", pipeline.ClassInvalidEvent, 0},
		{replayCmdLead("bob@acme.com"), pipeline.ClassPermanent, 401},
	} {
		src := &kgo.Record{Topic: w.src, Offset: int64(i), Value: []byte(d.value), Timestamp: failed}
		recs = append(recs, deadletter.Build(w.dlq, src, pipeline.Failure{Class: d.class, HTTPStatus: d.status,
			Message: "failed", Attempts: 1, FailedAt: failed.Add(time.Duration(i) * time.Hour)}))
	}
	kafkatest.Produce(t, prod, recs...)
	return w
}

func replayCmdLead(email string) string {
	return fmt.Sprintf(`{"type":"track","event":"Lead Submitted","traits":{"email":%q,"lastName":"Doe"},
		"context":{"consent":{"marketing":true}}}`, email)
}

// exec runs a closesink subcommand in-process and returns its stdout.
func (w *replayCmdWorld) exec(newCmd func() *cobra.Command, args ...string) (string, error) {
	w.t.Helper()
	cmd := newCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append(args, "--brokers", strings.Join(w.b.Brokers, ","), "--dlq-topic", w.dlq,
		"--group", "closesink-cmdtest", "--log-level", "warn", "--log-format", "json"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func TestReplayCommand(t *testing.T) {
	w := newReplayCmdWorld(t)
	group := kafkatest.UniqueName(t, "rg")

	out, err := w.exec(replayCommand, "--replay-group", group, "--status", "401", "--dry-run", "--close-url", w.closeURL)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{"-> send {", `"email":"j***@acme.com"`, "previewed (dry run) 2", "skipped (not selected) 1"} {
		if !strings.Contains(squash(out), want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "jane.doe") || w.emu.Stats().Requests != 0 {
		t.Fatalf("dry run showed PII or called Close (%d requests):\n%s", w.emu.Stats().Requests, out)
	}

	out, err = w.exec(replayCommand, "--replay-group", group, "--status", "401", "--close-url", w.closeURL, "--rate", "100")
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	for _, want := range []string{"selected 2", "delivered 2", "skipped (re-queued) 1", "reached the end offsets"} {
		if !strings.Contains(squash(out), want) {
			t.Errorf("replay output lacks %q:\n%s", want, out)
		}
	}
	if n := len(w.emu.Leads()); n != 2 {
		t.Fatalf("%d leads created, want 2", n)
	}

	// What is pending now: only the re-queued invalid event.
	out, err = w.exec(dlqCommand, "list", "--replay-group", group, "--json")
	if err != nil {
		t.Fatalf("dlq list: %v\n%s", err, out)
	}
	var e map[string]any
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil ||
		e["class"] != "invalid_event" || e["dlq_offset"] != 3.0 || e["source_offset"] != 1.0 {
		t.Fatalf("dlq list --json:\n%s", out)
	}
	out, err = w.exec(dlqCommand, "list", "--all", "--limit", "2")
	if err != nil {
		t.Fatalf("dlq list --all: %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "j***@acme.com") ||
		!strings.Contains(lines[0], "permanent  401  2026-05-01T10:00:00Z  replays=0") {
		t.Fatalf("dlq list --all --limit 2:\n%s", out)
	}
	out, err = w.exec(dlqCommand, "stats", "--all")
	if err != nil {
		t.Fatalf("dlq stats: %v", err)
	}
	for _, want := range []string{"records 4", "oldest failure 2026-05-01T10:00:00Z", "invalid_event 2", "permanent 2", "2026-05-01 4"} {
		if !strings.Contains(squash(out), want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
}

func TestReplayCommandSetupErrors(t *testing.T) {
	w := newReplayCmdWorld(t)
	for _, tt := range []struct {
		name string
		args []string
		code int // 0: a config.ErrInvalid error (exit 2 in main)
		want string
	}{
		{"bad class", []string{"--class", "fatal"}, 0, "unknown error class"},
		{"bad since", []string{"--since", "yesterday"}, 0, "--since"},
		{"replay group is the run group", []string{"--replay-group", "closesink-cmdtest"}, 0, "must differ"},
		{"missing to-topic", []string{"--to-topic", "no-such-topic-here"}, exitConfig, "does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := w.exec(replayCommand, append(tt.args, "--close-url", w.closeURL)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q\n%s", err, tt.want, out)
			}
			switch {
			case tt.code == 0 && !errors.Is(err, config.ErrInvalid):
				t.Fatalf("err %v is not a configuration error", err)
			case tt.code != 0 && exitCode(err) != tt.code:
				t.Fatalf("err %v: want exit code %d", err, tt.code)
			}
		})
	}
	if n := w.emu.Stats().Requests; n != 0 {
		t.Fatalf("%d requests despite setup errors", n)
	}
}

// squash collapses runs of blanks so tests do not depend on column widths.
func squash(s string) string { return regexp.MustCompile(` +`).ReplaceAllString(s, " ") }

// Replaying with a key Close still rejects stops before touching anything,
// instead of dead-lettering every record once more.
func TestReplayRefusesARejectedKey(t *testing.T) {
	w := newReplayCmdWorld(t)
	w.emu.RevokeKey(replayTestKey)
	out, err := w.exec(replayCommand, "--replay-group", kafkatest.UniqueName(t, "rg"), "--close-url", w.closeURL)
	if exitCode(err) != exitConfig || !strings.Contains(err.Error(), "Close rejected the API key") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if n := len(w.b.ReadAll(t, w.dlq)); n != 3 {
		t.Fatalf("the DLQ holds %d records after a refused replay, want the 3 it had", n)
	}
	if s := w.emu.Stats(); s.ByStatus[401] != 1 || s.Requests != 1 {
		t.Fatalf("Close saw %+v; want only the key check", s)
	}
}
