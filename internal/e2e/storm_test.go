//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/childproc"
	"github.com/closesink/closesink/pkg/closeemu"
)

// Scenario 3: a minute of Close fault storm: 30 % 5xx, dropped connections,
// 2 s stalls, 429 bursts, and answers lost after the lead was stored. Every
// lead must be delivered, nothing transient may reach the DLQ, and the
// retries must show in /metrics.
//
// No process crashes here, so the only duplicates allowed are the leads
// Close stored but never acknowledged (Stats.AbandonedAfterCreate): the
// client cannot know they exist and must retry them.
func TestCloseFaultStorm(t *testing.T) {
	const (
		partitions = 4
		stormFor   = time.Minute
	)
	s := newSuite(t)
	topic, dlq, group := s.topics(partitions, 1)
	items := s.backlog("storm", partitions, mix{leads: 300, drops: 100})
	s.produce(s.producer(), topic, items)
	// 10 requests/s for the group: the backlog outlasts the storm.
	p := s.startRun("run", s.runArgs(topic, dlq, group, "--rate", "10", "--burst", "5", "--request-timeout", "5s"))
	addr := p.metricsAddr(s)

	phases := map[string]int{}
	end := time.Now().Add(stormFor)
	for i := 0; time.Now().Before(end); i++ {
		name, f, d := s.stormPhase(i)
		phases[name]++
		s.emu.SetFaults(f)
		time.Sleep(min(d, time.Until(end))) // the phase lasts d: time passing, not a condition
		if p.exited() {
			t.Fatalf("the worker exited during the storm: %v\n%s", p.err, p.tail(40))
		}
	}
	s.emu.SetFaults(closeemu.Faults{})
	createdInStorm := s.emu.Stats().Created
	waitFor(t, "every lead delivered after the storm", 4*time.Minute, s.lagIs0(group, topic, p))
	m, err := childproc.Scrape(addr)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	dropped := p.stop(s)

	st := s.emu.Stats()
	retries := m.Sum("closesink_close_retries_total")
	byStatus := map[string]float64{}
	for _, code := range []string{"0", "200", "429", "500", "502", "503", "504"} {
		byStatus[code] = m.Sum("closesink_close_requests_total", `status="`+code+`"`)
	}
	var phaseList []string
	for _, k := range slices.Sorted(maps.Keys(phases)) {
		phaseList = append(phaseList, fmt.Sprintf("%s:%d", k, phases[k]))
	}
	res := s.settle(ledger{scenario: "storm", topic: topic, dlq: dlq, group: group, items: items, dropped: dropped,
		extra: []string{
			fmt.Sprintf("retries=%.0f", retries),
			fmt.Sprintf("requests_by_status=%v", byStatus),
			fmt.Sprintf("emulator_dropped_conns=%d abandoned_after_create=%d created_during_storm=%d",
				st.Dropped, st.AbandonedAfterCreate, createdInStorm),
			"phases=" + strings.Join(phaseList, ","),
		}})
	if res.dlq != 0 {
		t.Errorf("%d records in the DLQ after a transient storm; want none", res.dlq)
	}
	if retries == 0 || byStatus["429"] == 0 || byStatus["0"] == 0 || byStatus["503"]+byStatus["500"]+byStatus["502"]+byStatus["504"] == 0 {
		t.Errorf("retries not visible in /metrics: closesink_close_retries_total=%.0f, close_requests_total by status %v", retries, byStatus)
	}
	if res.duplicates != st.AbandonedAfterCreate {
		t.Errorf("%d duplicate leads, want exactly the %d Close stored without acknowledging (no crash happened)",
			res.duplicates, st.AbandonedAfterCreate)
	}
}

// stormPhase picks the i-th phase of the storm from the seeded RNG: its name,
// faults and duration.
func (s *suite) stormPhase(i int) (string, closeemu.Faults, time.Duration) {
	base := closeemu.Faults{
		Seed:                 int64(s.seed) + int64(i),
		ErrorRate:            0.3,
		ErrorStatus:          []int{500, 502, 503, 504}[s.rng.IntN(4)],
		DropConnRate:         0.05,
		DropAfterCreateRate:  0.02,
		ErrorAfterCreateRate: 0.02,
	}
	d := 2*time.Second + time.Duration(s.rng.Int64N(int64(2*time.Second)))
	switch r := s.rng.IntN(4); {
	case r == 0: // a stall: every answer takes 2 s on top of the errors
		base.Latency = 2 * time.Second
		return "stall", base, d
	case r == 1: // a 429 burst: Close asks for a 1 s pause on every request
		return "429", closeemu.Faults{Seed: base.Seed, ErrorRate: 1, ErrorStatus: 429, RateReset: time.Second}, d
	default:
		return "5xx", base, d
	}
}
