//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// Scenario 5: the revoked-key day, with two replays started together after
// the new key is issued. Every lead in the DLQ must be delivered exactly
// once, whichever replay gets it (a replay that refuses to start because the
// other runs is fine).
func TestTwoReplaysTogether(t *testing.T) {
	const (
		partitions = 3
		leads      = 90
		newKey     = "api_e2e_new_key"
	)
	s := newSuite(t)
	topic, dlq, group := s.topics(partitions, partitions)
	items := s.backlog("replay2", partitions, mix{leads: leads})
	p := s.startRun("run", s.runArgs(topic, dlq, group))
	p.waitAssigned(s)
	s.emu.RevokeKey(apiKey) // after the start-up key check: every lead now gets 401
	s.produce(s.producer(), topic, items)
	waitFor(t, "every lead dead-lettered with 401", 2*time.Minute, s.lagIs0(group, topic, p))
	dropped := p.stop(s)
	for _, r := range s.b.ReadAll(t, dlq) {
		if classOf(r) != "permanent" || header(r, deadletter.HeaderStatus) != "401" {
			t.Fatalf("DLQ record %q: class %q status %q, want permanent 401", r.Key, classOf(r), header(r, deadletter.HeaderStatus))
		}
	}
	if n := len(s.emu.Leads()); n != 0 {
		t.Fatalf("%d leads created with the revoked key", n)
	}

	s.emu.AddKey(newKey)
	args := []string{"replay", "--brokers", strings.Join(s.b.Brokers, ","), "--topic", topic, "--dlq-topic", dlq,
		"--group", group, "--close-url", s.url, "--log-format", "json", "--rate", "1000", "--burst", "100"}
	env := []string{"CLOSE_API_KEY=" + newKey}
	a := s.start("replay#1", env, args...)
	b := s.start("replay#2", env, args...)
	codes := []int{a.waitExit(s, 3*time.Minute), b.waitExit(s, 3*time.Minute)}

	replayLag := kafkatest.Lag(s.t, s.adm, group+"-replay", dlq)
	res := s.settle(ledger{scenario: "replay2", topic: topic, dlq: dlq, group: group, items: items, dropped: dropped,
		extra: []string{
			fmt.Sprintf("replay_exit_codes=%v", codes),
			fmt.Sprintf("replay_group_committed==planned_end:%v", replayLag == ""),
			fmt.Sprintf("replays_delivered=%s,%s", summary(a), summary(b)),
		}})
	// One of them may refuse to run beside the other (docs: "Run one replay
	// at a time"); whatever its exit code, one replay must finish the job.
	if codes[0] != 0 && codes[1] != 0 {
		t.Errorf("neither replay finished (exit codes %v)\n%s\n%s", codes, a.tail(20), b.tail(20))
	}
	if res.duplicates != 0 {
		t.Errorf("two replays started together created %d duplicate leads; every DLQ lead must be delivered once", res.duplicates)
	}
	if replayLag != "" {
		// Records dead-lettered again during the replay lie past the planned
		// end; none should be here (the key works), so any lag is an error.
		t.Errorf("replay group %s-replay is short of the DLQ's end: %s", group, replayLag)
	}
}

// summary is the "delivered" figure of a replay's final log line, for the
// ledger ("?" when it logged none).
func summary(p *proc) string {
	if m := p.logLine("replay finished"); m != nil {
		if v, ok := m["delivered"]; ok {
			return fmt.Sprint(v)
		}
	}
	return "?"
}
