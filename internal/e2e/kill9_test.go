//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// Scenario 1: SIGKILL five times at random moments while a backlog drains
// through a Close that takes 200 ms to answer a lead it has already stored
// (LatencyAfterCreate: the order in which a kill makes duplicates). Nothing
// may be lost, and the leads created twice may be at most the requests in
// flight at the kills.
//
// It runs in both modes: create (duplicates bounded by the in-flight
// requests) and upsert (--mode upsert: one lead per person, so 0 duplicates).
//
// A third run measures upsert mode against a search index that lags writes
// by 2 s, as Close's does: a restart that searches for a person created
// less than 2 s before the kill does not find them and creates them again.
// It asserts what still holds (nothing lost; duplicates within the in-flight
// bound) and reports the duplicates it measured.
func TestKill9DuringBacklog(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		indexDelay time.Duration
	}{{"create", "create", 0}, {"upsert", "upsert", 0}, {"upsert-index-delay-2s", "upsert", 2 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) { kill9(t, tc.mode, tc.indexDelay) })
	}
}

func kill9(t *testing.T, mode string, indexDelay time.Duration) {
	const (
		partitions = 6
		kills      = 5
		closeDelay = 200 * time.Millisecond
		// settle: an answer that reached closesink this shortly before the
		// kill may not be committed yet, so its request counts as in flight.
		settle = 100 * time.Millisecond
	)
	s := newSuiteWith(t, closeemu.Config{IndexDelay: indexDelay})
	topic, dlq, group := s.topics(partitions, 1)
	items := s.backlog("kill9", partitions, mix{leads: 480, drops: 240, invalid: 12, rejected: 12})
	s.emu.SetFaults(closeemu.Faults{LatencyAfterCreate: closeDelay, StatusForEmail: rejectedEmails(items)})
	s.produce(s.producer(), topic, items)
	// Static membership: each restart takes the partitions back at once
	// instead of waiting out the dead member's session.
	args := s.runArgs(topic, dlq, group, "--instance-id", "e2e-kill9", "--mode", mode)

	dropped, inflight := 0, 0
	var moments []string
	for k := 1; k <= kills; k++ {
		p := s.startRun(fmt.Sprintf("run#%d", k), args)
		addr := p.metricsAddr(s)
		before := s.emu.Stats().Created
		waitFor(t, p.name+" creates leads", 2*time.Minute, func() string {
			if p.exited() {
				t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.tail(40))
			}
			if s.emu.Stats().Created <= before {
				return "no new lead"
			}
			return ""
		})
		// A random moment while it works (letting time pass, not waiting
		// for a condition); the seed is logged.
		delay := 100*time.Millisecond + time.Duration(s.rng.Int64N(int64(2*time.Second)))
		time.Sleep(delay)
		d, at := p.kill(s, addr)
		n := s.calls.inFlightAt(at, settle)
		dropped += d
		inflight += n
		moments = append(moments, fmt.Sprintf("+%s/%d", delay.Round(time.Millisecond), n))
	}
	if kafkatest.Lag(s.t, s.adm, group, topic) == "" {
		t.Fatal("the backlog was done before the last kill: the kills no longer strike mid-backlog (make it larger)")
	}

	final := s.startRun("run#final", args)
	waitFor(t, "the last replica drains the backlog", 5*time.Minute, s.lagIs0(group, topic, final))
	dropped += final.stop(s)

	st := s.emu.Stats()
	res := s.settle(ledger{scenario: "kill9/" + t.Name()[len("TestKill9DuringBacklog/"):], topic: topic, dlq: dlq, group: group, items: items,
		dropped: dropped, atLeast: true, extra: []string{
			fmt.Sprintf("kills=%d", kills),
			fmt.Sprintf("inflight_at_kills<=%d", inflight),
			fmt.Sprintf("abandoned_after_create=%d", st.AbandonedAfterCreate),
			fmt.Sprintf("index_delay=%s", indexDelay),
			"kill_moments=" + strings.Join(moments, ","),
		}})
	if mode == "upsert" && indexDelay == 0 && res.duplicates != 0 {
		t.Errorf("%d duplicate leads in upsert mode; want 0 (one lead per person)", res.duplicates)
	}
	if res.duplicates > inflight {
		t.Errorf("%d duplicate leads, but only %d requests were in flight at the %d kills", res.duplicates, inflight, kills)
	}
	// The README's own bound: a partition's worker has one record in hand.
	if res.duplicates > kills*partitions {
		t.Errorf("%d duplicate leads after %d kills of a %d-partition worker: more than one per partition per kill",
			res.duplicates, kills, partitions)
	}
}
