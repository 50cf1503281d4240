package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// WaitTimeout bounds Eventually: generous, because a real broker's first
// group join and the race detector on two cores are slow, while a passing
// condition returns at the first poll that sees it.
const WaitTimeout = 60 * time.Second

// Eventually polls cond every 20 ms until it returns "" and fails the test
// with cond's last answer (what is still missing) after WaitTimeout. Tests
// use it instead of sleeping: it waits exactly as long as the condition needs.
func Eventually(t testing.TB, what string, cond func() string) {
	t.Helper()
	end := time.NewTimer(WaitTimeout)
	defer end.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		msg := cond()
		if msg == "" {
			return
		}
		select {
		case <-end.C:
			t.Fatalf("%s: still %s after %s", what, msg, WaitTimeout)
		case <-tick.C:
		}
	}
}

// Lag is "" when group has committed topic's end offset on every partition
// that holds records, else which partitions are behind. An admin error
// fails the test: it must never read as "behind" (or as "caught up"). A
// group that never committed is behind everywhere records exist (kfake
// answers GROUP_ID_NOT_FOUND for it, Kafka no offsets). Call it from the
// test goroutine (Eventually's cond runs there).
func Lag(t testing.TB, adm *kadm.Client, group, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("kafkatest: Lag: end offsets of %s: %v", topic, err)
	}
	committed, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("kafkatest: Lag: committed offsets of group %s: %v", group, err)
	}
	var behind []string
	ends.Each(func(e kadm.ListedOffset) {
		var at int64
		if c, ok := committed.Lookup(topic, e.Partition); ok && c.Err == nil && c.At >= 0 {
			at = c.At
		}
		if e.Offset > 0 && at != e.Offset {
			behind = append(behind, fmt.Sprintf("p%d committed=%d end=%d", e.Partition, at, e.Offset))
		}
	})
	sort.Strings(behind)
	if len(behind) > 0 {
		return fmt.Sprint(behind)
	}
	return ""
}

// ReadAll reads every record of topic up to the end offsets it lists first,
// with a plain consumer (not the code under test), ordered by partition then
// offset. It fails the test if they cannot be read within WaitTimeout.
func (b *Backend) ReadAll(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	ends, err := b.Admin(t).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("kafkatest: end offsets of %s: %v", topic, err)
	}
	var want int64
	ends.Each(func(e kadm.ListedOffset) { want += e.Offset })
	cl := b.NewClient(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kafkatest: %s: read %d of %d records", topic, len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}
