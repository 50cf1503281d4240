package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// roundTripTimeout covers a real broker's first consumer group, which
// creates __consumer_offsets and loads its coordinator on first use.
const roundTripTimeout = 60 * time.Second

// TestBackendRoundTrip runs on whatever Start picks: KAFKA_BROKERS in CI
// (a real Apache Kafka broker), Docker, or kfake.
func TestBackendRoundTrip(t *testing.T) {
	t.Parallel()
	roundTrip(t, Start(t))
}

// roundTrip creates a topic, produces keyed records, consumes them all with
// a consumer group, commits, and checks that the committed offsets read back
// through the admin API equal the partitions' end offsets.
func roundTrip(t *testing.T, b *Backend) {
	t.Helper()
	const partitions, records = 3, 30
	topic := b.CreateTopic(t, partitions)

	producer := b.NewClient(t, kgo.DefaultProduceTopic(topic))
	want := make(map[string]bool, records)
	recs := make([]*kgo.Record, records)
	for i := range recs {
		key := fmt.Sprintf("key-%02d", i)
		recs[i] = &kgo.Record{Key: []byte(key), Value: []byte("value-" + key)}
		want["value-"+key] = true
	}
	Produce(t, producer, recs...)

	group := UniqueName(t, "group")
	consumer := b.NewClient(t,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	ctx, cancel := context.WithTimeout(t.Context(), roundTripTimeout)
	defer cancel()

	got := make(map[string]int, records)
	perPartition := make(map[int32]int, partitions)
	for consumed := 0; consumed < records; {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", consumed, records)
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, partition, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Topic != topic {
				t.Errorf("record from topic %q, want %q", r.Topic, topic)
			}
			got[string(r.Value)]++
			perPartition[r.Partition]++
			consumed++
		})
	}
	for v, n := range got {
		if !want[v] || n != 1 {
			t.Errorf("value %q consumed %d times (produced: %v), want exactly once", v, n, want[v])
		}
	}
	// The keys hash (murmur2, deterministic) onto every partition, so this
	// checks that the group was assigned all of them.
	if len(perPartition) != partitions {
		t.Errorf("records came from %d partitions (%v), want %d", len(perPartition), perPartition, partitions)
	}

	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	waitCommittedAtEnd(ctx, t, b, topic, group, records)
}

// waitCommittedAtEnd polls until the group's committed offsets equal the
// end offsets of every partition. Polling, because a real broker may answer
// COORDINATOR_LOAD_IN_PROGRESS right after the offsets topic is created.
func waitCommittedAtEnd(ctx context.Context, t *testing.T, b *Backend, topic, group string, records int64) {
	t.Helper()
	adm := b.Admin(t)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != records {
		t.Fatalf("end offsets sum to %d, want %d", total, records)
	}

	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		mismatch := committedMismatch(ctx, adm, ends, topic, group)
		if mismatch == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("committed offsets never matched end offsets: %v", mismatch)
		case <-tick.C:
		}
	}
}

func committedMismatch(ctx context.Context, adm *kadm.Client, ends kadm.ListedOffsets, topic, group string) error {
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return err
	}
	var bad error
	ends.Each(func(end kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, end.Partition)
		switch {
		case !ok:
			bad = errors.Join(bad, fmt.Errorf("partition %d: no committed offset", end.Partition))
		case c.Err != nil:
			bad = errors.Join(bad, fmt.Errorf("partition %d: %w", end.Partition, c.Err))
		case c.At != end.Offset:
			bad = errors.Join(bad, fmt.Errorf("partition %d: committed %d, end %d", end.Partition, c.At, end.Offset))
		}
	})
	return bad
}

// TestCreateTopicIsPerTestAndCleanedUp checks that topics are unique, named
// after their test, usable, and gone once the test that made them ends.
func TestCreateTopicIsPerTestAndCleanedUp(t *testing.T) {
	t.Parallel()
	b := Start(t)
	var first, second string
	t.Run("owner", func(t *testing.T) {
		first = b.CreateTopic(t, 2)
		second = b.CreateTopic(t, 1)
		if first == second {
			t.Fatalf("two CreateTopic calls returned the same name %q", first)
		}
		cl := b.NewClient(t)
		Produce(t, cl, &kgo.Record{Topic: first, Value: []byte("x")}, &kgo.Record{Topic: second, Value: []byte("y")})
	})
	for _, topic := range []string{first, second} {
		if want := "TestCreateTopicIsPerTestAndCleanedUp-owner-"; len(topic) <= len(want) || topic[:len(want)] != want {
			t.Errorf("topic %q is not named after its test (want prefix %q)", topic, want)
		}
	}

	// Deletion is asynchronous on a real broker: poll until metadata
	// no longer knows the topics.
	adm := b.Admin(t)
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		topics, err := adm.ListTopics(ctx, first, second)
		gone := err == nil
		for _, topic := range []string{first, second} {
			if td, ok := topics[topic]; ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
				gone = false
			}
		}
		if gone {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topics %s, %s still exist after their test ended (last error %v)", first, second, err)
		case <-tick.C:
		}
	}
}

// TestCleanupLeavesNoGoroutines runs a full round trip in a subtest and
// checks that, once its cleanups ran, the goroutine count is back where it
// started: clients, admin clients and (on kfake) the cluster are all closed.
// Not parallel, so no other test's goroutines come and go meanwhile.
func TestCleanupLeavesNoGoroutines(t *testing.T) {
	if name, _ := chooseBackend(os.Getenv, dockerHealthy); name == NameTestcontainers {
		t.Skip("testcontainers keeps reaper goroutines for the whole process")
	}
	before := runtime.NumGoroutine()
	t.Run("roundtrip", func(t *testing.T) { roundTrip(t, Start(t)) })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		now := runtime.NumGoroutine()
		if now <= before {
			return
		}
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after cleanup:\n%s", before, now, buf[:runtime.Stack(buf, true)])
		case <-tick.C:
		}
	}
}
