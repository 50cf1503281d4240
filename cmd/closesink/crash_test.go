package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// A replica killed with SIGKILL mid-stream loses nothing, and the leads
// Close holds twice are at most those in flight when it died (one per
// partition, since each partition's worker has one record in hand: its
// create on the wire or its commit pending) plus the creates Close
// abandoned after storing the lead (Stats.AbandonedAfterCreate: the 502s
// closesink retried, and the creates the kill cut off). Every create is
// slow to answer after Close stored the lead, so the kill finds creates on
// the wire. With static membership the restarted replica takes its
// partitions back at once instead of waiting out the session timeout.
func TestSIGKILLLosesNothingAndDuplicatesAtMostTheInFlight(t *testing.T) {
	const partitions, perPartition = 3, 10
	b := kafkatest.Start(t)
	emu := closeemu.New(closeemu.Config{APIKeys: []string{"api_k"}})
	emu.SetFaults(closeemu.Faults{LatencyAfterCreate: 40 * time.Millisecond, ErrorAfterCreateRate: 0.2,
		ErrorStatus: http.StatusBadGateway, Seed: 3})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer srv.CloseClientConnections()
	topic, adm := sourceAndDLQ(t, b, partitions)
	cl := b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			kafkatest.Produce(t, cl, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf(
				`{"type":"track","event":"Lead Submitted","traits":{"email":"p%d-%d@x.com"},"context":{"consent":{"marketing":true}}}`, p, i))})
		}
	}
	group := kafkatest.UniqueName(t, "grp")
	args := []string{"run", "--brokers", strings.Join(b.Brokers, ","), "--topic", topic, "--group", group,
		"--close-url", srv.URL, "--instance-id", "replica-0", "--rate", "1000", "--burst", "100"}
	env := []string{"CLOSE_API_KEY=api_k"}

	first, _, _ := closesink(t, env, args...)
	kafkatest.Eventually(t, "a third of the leads created", func() string {
		if n := emu.Stats().Created; n < partitions*perPartition/3 {
			return fmt.Sprintf("%d created", n)
		}
		return ""
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if emu.Stats().Created == partitions*perPartition {
		t.Fatal("every lead was created before the kill: the test no longer kills mid-stream")
	}

	second, _, errb := closesink(t, env, args...)
	kafkatest.Eventually(t, "the restarted replica finished the topic", func() string {
		return kafkatest.Lag(t, adm, group, topic)
	})
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("second replica: %v\n%s", err, errb.String())
	}

	byEmail := emu.LeadsByEmail()
	dupes := 0
	for p := 0; p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			switch n := byEmail[fmt.Sprintf("p%d-%d@x.com", p, i)]; {
			case n == 0:
				t.Errorf("p%d-%d@x.com lost", p, i)
			case n > 1:
				dupes += n - 1
			}
		}
	}
	s := emu.Stats()
	if s.AbandonedAfterCreate == 0 {
		t.Fatal("no create was abandoned: the after-create faults never struck")
	}
	if bound := partitions + s.AbandonedAfterCreate; dupes > bound {
		t.Fatalf("%d duplicate leads after one SIGKILL; at most %d may repeat: %d in flight (one per partition) + %d abandoned after create",
			dupes, bound, partitions, s.AbandonedAfterCreate)
	}
	t.Logf("duplicates after SIGKILL: %d (bound %d in flight + %d abandoned after create)", dupes, partitions, s.AbandonedAfterCreate)
}
