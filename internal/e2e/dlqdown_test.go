//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/closesink/closesink/internal/childproc"
)

// Scenario 4: the DLQ refuses writes for a while. The partition holding a
// record bound for the DLQ stops at that record without committing past it
// and resumes when the DLQ is back; the other partitions keep flowing.
//
// "Unavailable" is the DLQ topic deleted (every write fails with
// UNKNOWN_TOPIC_OR_PARTITION) and created again later. (Topic-level
// min.insync.replicas=2 on one replica, the classic trick, does not refuse
// writes on this Kafka 4.x broker: with KRaft's eligible leader replicas the
// topic-level setting is ignored.)
func TestDLQUnavailable(t *testing.T) {
	const (
		perPartition = 10
		outage       = 10 * time.Second
	)
	s := newSuite(t)
	topic, dlq, group := s.topics(3, 1)
	cl := s.producer()
	var items []item
	batch := func(name string, parts ...int32) []item {
		var out []item
		for _, p := range parts {
			for i := range perPartition {
				it := leadItem(fmt.Sprintf("dlqdown-%s-p%d", name, p), i)
				it.partition = p
				out = append(out, it)
			}
		}
		s.produce(cl, topic, out)
		items = append(items, out...)
		return out
	}
	batch("warmup", 0, 1, 2)
	p := s.startRun("run", s.runArgs(topic, dlq, group))
	addr := p.metricsAddr(s)
	waitFor(t, "the warm-up delivered", 2*time.Minute, s.lagIs0(group, topic, p))

	start := time.Now()
	s.deleteDLQ(dlq)

	// Partition 0: a record for the DLQ at offset perPartition, then leads.
	stuckAt := int64(perPartition)
	bad := item{key: "dlqdown-broken", partition: 0, value: []byte("not json"), want: wantDLQ, class: "invalid_event", what: "not JSON"}
	s.produce(cl, topic, []item{bad})
	items = append(items, bad)
	blocked := batch("blocked", 0)
	flowing := func(what string, want int64) {
		waitFor(t, what, 2*time.Minute, func() string {
			if p.exited() {
				t.Fatalf("the worker exited: %v\n%s", p.err, p.tail(40))
			}
			for _, part := range []int32{1, 2} {
				if c := s.committed(group, topic, part); c != want {
					return fmt.Sprintf("p%d committed %d, want %d", part, c, want)
				}
			}
			return ""
		})
	}
	batch("during1", 1, 2)
	flowing("partitions 1 and 2 flow while the DLQ is down", 2*perPartition)
	batch("during2", 1, 2)
	flowing("partitions 1 and 2 still flow", 3*perPartition)
	time.Sleep(time.Until(start.Add(outage))) // the outage lasts a while: time passing
	stalled := s.committed(group, topic, 0)
	byEmail := s.emu.LeadsByEmail()
	leaked := 0
	for _, it := range blocked {
		leaked += byEmail[it.email]
	}
	m, err := childproc.Scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	dlqErrors := m.Sum("closesink_dlq_write_errors_total")
	if stalled != stuckAt || leaked != 0 {
		t.Errorf("while the DLQ was down partition 0 committed %d (want %d: the record bound for the DLQ) "+
			"and %d leads behind that record were created (want 0)", stalled, stuckAt, leaked)
	}

	s.recreateDLQ(dlq)
	resumed := time.Now()
	waitFor(t, "partition 0 resumes once the DLQ is back", 2*time.Minute, s.lagIs0(group, topic, p))
	resumeTook := time.Since(resumed)
	dropped := p.stop(s)
	s.settle(ledger{scenario: "dlqdown", topic: topic, dlq: dlq, group: group, items: items, dropped: dropped,
		extra: []string{
			fmt.Sprintf("outage=%s p0_committed_during_outage=%d (record at %d) p0_leads_leaked=%d", outage, stalled, stuckAt, leaked),
			fmt.Sprintf("p1,p2_committed_during_outage=%d dlq_write_errors=%.0f resumed_in=%s",
				3*perPartition, dlqErrors, resumeTook.Round(time.Millisecond)),
		}})
}

// deleteDLQ deletes the DLQ topic and waits until the broker no longer
// lists it (it was empty: only leads were produced before).
func (s *suite) deleteDLQ(dlq string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.adm.DeleteTopic(ctx, dlq); err != nil {
		s.t.Fatalf("delete %s: %v", dlq, err)
	}
	waitFor(s.t, "the DLQ topic is gone", time.Minute, func() string {
		topics, err := s.adm.ListTopics(ctx, dlq)
		if err != nil {
			return err.Error()
		}
		if topics.Has(dlq) {
			return "still listed"
		}
		return ""
	})
}

// recreateDLQ creates the DLQ topic again under its name (retrying while
// the broker still finishes the deletion) and waits until it serves writes.
func (s *suite) recreateDLQ(dlq string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitFor(s.t, "the DLQ topic is back", time.Minute, func() string {
		if _, err := s.adm.CreateTopic(ctx, 1, -1, nil, dlq); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return err.Error()
		}
		ends, err := s.adm.ListEndOffsets(ctx, dlq)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return err.Error()
		}
		return ""
	})
}
