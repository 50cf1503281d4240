//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// Scenario 2: the real broker is stopped and started again with the
// project's script while a worker drains a backlog. The same worker process
// must carry on (no restart), lose nothing and create no duplicate: nothing
// crashed, so nothing may be sent twice.
//
// kafka-local.sh keeps its data directory across stop and start (it formats
// the store only when .cache/kafka/state/data has no meta.properties and
// discards it only when the generated configuration changed), so topics,
// records and committed offsets survive the restart.
func TestBrokerRestartMidRun(t *testing.T) {
	s := newSuite(t)
	script := filepath.Join(s.root, "scripts", "kafka-local.sh")
	brokers := strings.TrimSpace(os.Getenv(kafkatest.EnvBrokers))
	out, err := exec.Command(script, "env").Output()
	if err != nil || strings.TrimSpace(string(out)) != kafkatest.EnvBrokers+"="+brokers {
		t.Skipf("KAFKA_BROKERS=%s is not the broker scripts/kafka-local.sh runs (`kafka-local.sh env`: %q, %v); "+
			"this scenario restarts that broker and runs only against it", brokers, strings.TrimSpace(string(out)), err)
	}
	broker := func(cmd string) time.Duration {
		t.Helper()
		start := time.Now()
		if b, err := exec.Command(script, cmd).CombinedOutput(); err != nil {
			t.Fatalf("kafka-local.sh %s: %v\n%s", cmd, err, b)
		}
		return time.Since(start)
	}
	// Whatever happens, the broker is left running for the rest of the suite.
	t.Cleanup(func() {
		if exec.Command(script, "status").Run() != nil {
			t.Log("restarting the broker the test stopped")
			if b, err := exec.Command(script, "start").CombinedOutput(); err != nil {
				t.Errorf("kafka-local.sh start: %v\n%s", err, b)
			}
		}
	})

	const partitions = 3
	topic, dlq, group := s.topics(partitions, 1)
	before := s.backlog("broker-a", partitions, mix{leads: 240, drops: 60, invalid: 3})
	// 100 ms per lead and 3 partitions: ~30 leads/s, so the stop comes
	// mid-backlog with requests in flight.
	s.emu.SetFaults(closeemu.Faults{Latency: 100 * time.Millisecond})
	cl := s.producer()
	s.produce(cl, topic, before)
	p := s.startRun("run", s.runArgs(topic, dlq, group))
	waitFor(t, "a quarter of the leads delivered", 2*time.Minute, func() string {
		if n := s.emu.Stats().Created; n < 60 {
			return fmt.Sprintf("%d created", n)
		}
		return ""
	})
	stopTook := broker("stop")
	atStop := s.emu.Stats().Created
	// The broker stays down a while (time passing, not a condition): long
	// enough for every request in flight to finish and its commit to fail.
	time.Sleep(5 * time.Second)
	startTook := broker("start")
	if p.exited() {
		t.Fatalf("the worker exited while the broker was down: %v\n%s", p.err, p.tail(40))
	}

	// Records produced after the restart must flow through the same process.
	after := s.backlog("broker-b", partitions, mix{leads: 60, drops: 30, invalid: 3})
	s.produce(cl, topic, after)
	waitFor(t, "the same worker finishes both backlogs", 4*time.Minute, s.lagIs0(group, topic, p))
	dropped := p.stop(s)

	res := s.settle(ledger{scenario: "broker", topic: topic, dlq: dlq, group: group, items: append(before, after...),
		dropped: dropped, atLeast: true, extra: []string{
			fmt.Sprintf("created_at_stop=%d", atStop),
			fmt.Sprintf("broker_stop=%s broker_start=%s", stopTook.Round(time.Millisecond), startTook.Round(time.Millisecond)),
			"worker_restarts=0",
		}})
	if res.duplicates != 0 {
		t.Errorf("%d duplicate leads after a broker restart without any crash; want 0", res.duplicates)
	}
}
