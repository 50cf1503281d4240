package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/config"
	"github.com/closesink/closesink/pkg/kafkatest"
	"github.com/closesink/closesink/pkg/metrics"
)

// Partitions added to the source topic while the service runs re-split the
// rate budget, so the group never exceeds --rate after the topic grows.
func TestServiceFollowsPartitionGrowth(t *testing.T) {
	b := kafkatest.Start(t)
	srv := httptest.NewServer(closeemu.New(closeemu.Config{APIKeys: []string{"api_k"}}))
	defer srv.Close()
	topic, adm := sourceAndDLQ(t, b, 1)

	cfg := config.Defaults()
	cfg.Brokers, cfg.Topic, cfg.DLQTopic = b.Brokers, topic, topic+".dlq"
	cfg.Group = kafkatest.UniqueName(t, "grp")
	cfg.CloseURL, cfg.APIKey = srv.URL, "api_k"
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runService(ctx, cfg, zaptest.NewLogger(t), serviceHooks{metrics: m,
			clientOpts: []kgo.Opt{kgo.MetadataMaxAge(200 * time.Millisecond), kgo.MetadataMinAge(50 * time.Millisecond)}})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runService: %v", err)
		}
	}()
	gauges := func(assigned, partitions int64) func() string {
		return func() string {
			if s := m.Snapshot(); s.Assigned != assigned || s.SourcePartitions != partitions {
				return fmt.Sprintf("assigned=%d source_partitions=%d", s.Assigned, s.SourcePartitions)
			}
			return ""
		}
	}
	kafkatest.Eventually(t, "one partition owned", gauges(1, 1))
	if _, err := adm.CreatePartitions(context.Background(), 2, topic); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, "the new partitions owned and the budget re-split", gauges(3, 3))
}
