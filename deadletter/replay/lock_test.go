package replay

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/pkg/kafkatest"
)

// Two replays on one group: the first holds every partition and commits;
// the second is refused, and its join and leave do not take the partitions
// from the first, whose commits keep going through.
func TestGroupLockAdmitsOneReplay(t *testing.T) {
	b := kafkatest.Start(t)
	topic := b.CreateTopic(t, 3)
	group := kafkatest.UniqueName(t, "replay")
	opts := []kgo.Opt{kgo.SeedBrokers(b.Brokers...)}
	ctx := context.Background()

	first, err := acquireLock(ctx, opts, topic, group, zaptest.NewLogger(t).Named("first"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.release()
	if err := first.commit(ctx, map[int32]int64{0: 1}); err != nil {
		t.Fatalf("holder's commit: %v", err)
	}
	_, err = acquireLock(ctx, opts, topic, group, zaptest.NewLogger(t).Named("second"))
	if !errors.Is(err, ErrGroupActive) {
		t.Fatalf("second replay: err = %v, want ErrGroupActive", err)
	}
	if err := first.commit(ctx, map[int32]int64{0: 2, 2: 5}); err != nil {
		t.Fatalf("holder's commit after the second replay came and went: %v", err)
	}
	offs, err := b.Admin(t).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 2, 2: 5} {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != want {
			t.Fatalf("partition %d committed %+v (found %v), want %d", p, o, ok, want)
		}
	}
}

// The first comer gets every partition, whatever the order of the members;
// but a member that already holds them keeps them, even against one that
// started earlier and joined later (two replays started together).
func TestFirstComerBalance(t *testing.T) {
	older, newer := &firstComer{startedAt: 100, nonce: 9}, &firstComer{startedAt: 200, nonce: 1}
	for _, order := range [][]*firstComer{{older, newer}, {newer, older}} {
		if got := balanceFor(t, order...); got != indexOf(order, older) {
			t.Fatalf("member %d got the partitions, want the older one (%d)", got, indexOf(order, older))
		}
	}
	holder := &firstComer{lock: &groupLock{heldSince: 300}, startedAt: 200, nonce: 1}
	for _, order := range [][]*firstComer{{older, holder}, {holder, older}} {
		if got := balanceFor(t, order...); got != indexOf(order, holder) {
			t.Fatalf("member %d got the partitions, want the holder (%d)", got, indexOf(order, holder))
		}
	}
}

// A holder whose partitions go to another member is broken for good: its
// commits fail instead of waiting and resuming from a stale position.
func TestLockLostToAnotherMemberFailsCommits(t *testing.T) {
	l := &groupLock{topic: "dlq", changed: make(chan struct{})}
	l.assigned(context.Background(), nil, map[string][]int32{"dlq": {0, 1}})
	l.revoked(context.Background(), nil, nil)
	l.assigned(context.Background(), nil, map[string][]int32{}) // another member got them
	if err := l.commit(context.Background(), map[int32]int64{0: 1}); !errors.Is(err, ErrLockLost) {
		t.Fatalf("commit after the lock went elsewhere: %v, want ErrLockLost", err)
	}
	l2 := &groupLock{topic: "dlq", changed: make(chan struct{})}
	l2.assigned(context.Background(), nil, map[string][]int32{"dlq": {0}})
	l2.lost(context.Background(), nil, nil)
	if err := l2.commit(context.Background(), map[int32]int64{0: 1}); !errors.Is(err, ErrLockLost) || l2.since() != 0 {
		t.Fatalf("commit after the session expired: %v (held since %d)", err, l2.since())
	}
}

// balanceFor runs the balancer over members that joined with the given
// balancers' metadata and returns the index of the member given partitions.
func balanceFor(t *testing.T, bs ...*firstComer) int {
	t.Helper()
	members := make([]kmsg.JoinGroupResponseMember, len(bs))
	for i, b := range bs {
		members[i] = kmsg.JoinGroupResponseMember{MemberID: fmt.Sprintf("m%d", i),
			ProtocolMetadata: b.JoinGroupMetadata([]string{"dlq"}, nil, 1)}
	}
	mb, _, err := bs[0].MemberBalancer(members)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(map[string]int32{"dlq": 4})
	if err != nil {
		t.Fatal(err)
	}
	got := -1
	for _, a := range plan.IntoSyncAssignment() {
		parts, err := kgo.ParseConsumerSyncAssignment(a.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(parts["dlq"]); n > 0 {
			if n != 4 || got != -1 {
				t.Fatalf("member %s got %v; want one member with all 4 partitions", a.MemberID, parts)
			}
			fmt.Sscanf(a.MemberID, "m%d", &got)
		}
	}
	return got
}

func indexOf(bs []*firstComer, b *firstComer) int {
	for i, x := range bs {
		if x == b {
			return i
		}
	}
	return -1
}
