package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// Partitions added to the source topic while the service runs re-split the
// rate budget, so the group never exceeds --rate after the topic grows.
func TestServiceFollowsPartitionGrowth(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	m := metrics.New()
	h.start(memberOpts{name: "a", opts: service.Options{Metrics: m,
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
}
