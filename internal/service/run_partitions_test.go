package service_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// Partitions added to the source topic while the service runs re-split the
// rate budget, so the group never exceeds --rate after the topic grows:
// measured at Close, the lead creations after the growth fit the budget.
func TestServiceFollowsPartitionGrowth(t *testing.T) {
	const rate, burst, perPartition = 30, 3, 30
	h := newHarness(t, 1, 1, closeemu.Config{})
	m := metrics.New()
	h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.Rate, c.Burst = rate, burst }, opts: service.Options{Metrics: m,
		ClientOpts: []kgo.Opt{kgo.MetadataMaxAge(200 * time.Millisecond), kgo.MetadataMinAge(50 * time.Millisecond)}}})
	gauges := func(assigned, partitions int64) func() string {
		return func() string {
			if s := m.Snapshot(); s.Assigned != assigned || s.SourcePartitions != partitions {
				return fmt.Sprintf("assigned=%d source_partitions=%d", s.Assigned, s.SourcePartitions)
			}
			return ""
		}
	}
	eventually(t, "one partition owned", gauges(1, 1))
	resp, err := h.adm.CreatePartitions(context.Background(), 2, h.topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new partitions owned and the budget re-split", gauges(3, 3))
	for p := int32(0); p < 3; p++ {
		emails := make([]string, perPartition)
		for i := range emails {
			emails[i] = fmt.Sprintf("p%d-%d@x.com", p, i)
		}
		h.produceLeads(p, emails...)
	}
	eventually(t, "every lead delivered and committed", h.lag)

	// A token bucket lets through at most rate*W + burst in any window W;
	// summed over the partitions' limiters the burst is at most
	// burst + partitions (each max(1, burst/partitions), plus what the
	// first partition's limiter held from before the growth). Arrival
	// times at Close can only be spread further by a slow machine, except
	// that a delayed first request shortens the measured span: jitter
	// grants 0.5s of slack (15 requests), while a split that ignored the
	// new partitions would run at 3×rate and need 2s less for these 90.
	var at []time.Time
	for _, c := range h.front.wire.snapshot() {
		at = append(at, c.arrived)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if len(at) != 3*perPartition {
		t.Fatalf("%d lead creations, want %d (no faults, so one each)", len(at), 3*perPartition)
	}
	span := at[len(at)-1].Sub(at[0])
	budget := rate*(span+500*time.Millisecond).Seconds() + burst + 3
	t.Logf("%d creations in %s: %.1f/s against a budget of %d/s (at most %.0f in that span)",
		len(at), span, float64(len(at)-1)/span.Seconds(), rate, budget)
	if float64(len(at)) > budget {
		t.Fatalf("%d lead creations in %s exceed the group budget of %d/s (at most %.0f with burst and slack)",
			len(at), span, rate, budget)
	}
}
