package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startKfake starts a fresh in-process cluster for this test and closes it
// in t.Cleanup. Three brokers, like a small real cluster, so partition
// leaders and group coordinators are spread over several connections.
// Topics are never auto-created, matching the real broker that
// scripts/kafka-local.sh runs: a test that forgets CreateTopic fails on
// every backend, not just some.
func startKfake(t testing.TB) *Backend {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatalf("kafkatest: start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Backend{Name: NameKfake, Brokers: c.ListenAddrs(), Fake: c}
}
