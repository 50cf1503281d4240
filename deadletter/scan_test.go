package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pkg/kafkatest"
)

func TestPlanAndScan(t *testing.T) {
	b := kafkatest.Start(t)
	topic := b.CreateTopic(t, 2)
	group := kafkatest.UniqueName(t, "g")
	cl := b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(values ...string) {
		t.Helper()
		var recs []*kgo.Record
		for _, v := range values {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)})
		}
		kafkatest.Produce(t, cl, recs...)
	}
	commit := func(at int64) {
		t.Helper()
		if err := adm.CommitAllOffsets(ctx, group, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: at, LeaderEpoch: -1}}}); err != nil {
			t.Fatal(err)
		}
	}
	plan := func(all bool) []deadletter.Range {
		t.Helper()
		rs, err := deadletter.Plan(ctx, adm, topic, group, all)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	scan := func(rs []deadletter.Range, stopAfter int) []string {
		t.Helper()
		var got []string
		err := deadletter.Scan(ctx, []kgo.Opt{kgo.SeedBrokers(b.Brokers...)}, topic, rs, func(batch []*kgo.Record) error {
			for _, r := range batch {
				got = append(got, fmt.Sprintf("%d@%d=%s", r.Partition, r.Offset, r.Value))
				if len(got) == stopAfter {
					return deadletter.ErrStopScan
				}
			}
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	empty := deadletter.Range{Partition: 1, Committed: -1}

	produce("a", "b", "c")
	rs := plan(false) // the group has committed nothing
	if want := []deadletter.Range{{Partition: 0, To: 3, Committed: -1}, empty}; !reflect.DeepEqual(rs, want) {
		t.Fatalf("plan without commits = %+v, want %+v", rs, want)
	}
	produce("d", "e") // written after planning: not part of the scan
	if got := scan(rs, 0); !reflect.DeepEqual(got, []string{"0@0=a", "0@1=b", "0@2=c"}) {
		t.Fatalf("scan = %v", got)
	}

	commit(2)
	rs = plan(false)
	if want := []deadletter.Range{{Partition: 0, Committed: 2, From: 2, To: 5}, empty}; !reflect.DeepEqual(rs, want) {
		t.Fatalf("plan after commit = %+v, want %+v", rs, want)
	}
	if rs[0].Pending() != 3 {
		t.Fatalf("pending %d", rs[0].Pending())
	}
	if got := scan(rs, 2); !reflect.DeepEqual(got, []string{"0@2=c", "0@3=d"}) {
		t.Fatalf("scan stopped after 2 = %v", got)
	}
	if rs = plan(true); rs[0].From != 0 || rs[0].Committed != 2 {
		t.Fatalf("plan --all = %+v", rs)
	}

	commit(50) // beyond the end: a recreated topic; start over rather than skip records
	if rs = plan(false); rs[0].From != 0 || !rs[0].Reset {
		t.Fatalf("plan with stale commit = %+v", rs)
	}

	// Nothing to read: Scan returns at once without a client.
	if err := deadletter.Scan(ctx, nil, topic, []deadletter.Range{empty}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A callback error ends the scan with that error.
	boom := errors.New("boom")
	err := deadletter.Scan(ctx, []kgo.Opt{kgo.SeedBrokers(b.Brokers...)}, topic, plan(true),
		func([]*kgo.Record) error { return boom }, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestPlanMissingTopic(t *testing.T) {
	b := kafkatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := deadletter.Plan(ctx, b.Admin(t), kafkatest.UniqueName(t, "missing"), "g", false); err == nil {
		t.Fatal("plan of a missing topic succeeded")
	}
}

// Retention deletes a planned range while the scan waits: the scan ends,
// reports what was lost, and passes on the records still there.
func TestScanEndsWhenItsRangeExpires(t *testing.T) {
	defer deadletter.SetScanIdleCheck(100 * time.Millisecond)()
	b := kafkatest.Start(t)
	topic := b.CreateTopic(t, 2)
	cl := b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte{byte('a' + i)}},
			&kgo.Record{Topic: topic, Partition: 1, Value: []byte{byte('a' + i)}})
	}
	kafkatest.Produce(t, cl, recs...)
	rs, err := deadletter.Plan(ctx, adm, topic, kafkatest.UniqueName(t, "g"), false)
	if err != nil {
		t.Fatal(err)
	}
	// Partition 0 loses all of its range, partition 1 its first three.
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 5})
	del.Add(kadm.Offset{Topic: topic, Partition: 1, At: 3})
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	var got []string
	lost := map[int32][2]int64{}
	err = deadletter.Scan(ctx, []kgo.Opt{kgo.SeedBrokers(b.Brokers...)}, topic, rs, func(batch []*kgo.Record) error {
		for _, r := range batch {
			got = append(got, fmt.Sprintf("%d@%d", r.Partition, r.Offset))
		}
		return nil
	}, func(p int32, from, to int64) { lost[p] = [2]int64{from, to} })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"1@3", "1@4"}) {
		t.Fatalf("read %v, want the two records left on partition 1", got)
	}
	if !reflect.DeepEqual(lost, map[int32][2]int64{0: {0, 5}, 1: {0, 3}}) {
		t.Fatalf("expired %v", lost)
	}
}
