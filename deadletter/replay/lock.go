package replay

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// groupLock makes a replay a real member of its replay group, so that Kafka
// itself keeps two replays from working on one DLQ at once.
//
// Every replay joins the group with a balancer that gives all of the DLQ's
// partitions to the member that started first (its start time travels in the
// join metadata); every other member gets none. The holder keeps them across
// the rebalances that a newcomer's join and leave cause, and commits its
// progress through the group: Kafka accepts a commit only from a current
// member of the current generation, so a commit can neither come from a
// replay that lost the group nor move offsets under another one. A replay
// that is assigned nothing refuses to start (ErrGroupActive).
//
// The members never fetch through the group client (its fetches are
// paused); the replay reads the DLQ with its own client, as planned.
type groupLock struct {
	cl    *kgo.Client
	topic string
	log   *zap.Logger

	mu       sync.Mutex
	decided  bool          // an assignment (possibly empty) was received
	held     bool          // the DLQ's partitions are assigned to us now
	changed  chan struct{} // closed and replaced on every change
	rebalnce int           // assignments seen, for the log
}

// lockWait bounds how long a new member waits for its first assignment. A
// join takes a round trip or two; a group in a rebalance may take up to the
// members' rebalance timeout, but a replay that cannot join within this is
// better told so than left hanging.
const lockWait = 60 * time.Second

// acquireLock joins group as a member consuming topic and returns once this
// replay holds every partition, or ErrGroupActive (wrapped) when another
// replay does. opts are the connection options.
func acquireLock(ctx context.Context, opts []kgo.Opt, topic, group string, log *zap.Logger) (*groupLock, error) {
	l := &groupLock{topic: topic, log: log, changed: make(chan struct{})}
	bal := newFirstComer()
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(bal),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(l.assigned),
		kgo.OnPartitionsRevoked(l.dropped),
		kgo.OnPartitionsLost(l.dropped),
	)...)
	if err != nil {
		return nil, err
	}
	cl.PauseFetchTopics(topic) // membership only: the replay reads with its own client
	l.cl = cl
	wctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	held, err := l.waitDecided(wctx)
	switch {
	case err != nil:
		cl.Close()
		return nil, fmt.Errorf("joining replay group %s: %w", group, err)
	case !held:
		cl.Close()
		return nil, fmt.Errorf("%w: another replay is working on %s in group %s; wait for it to finish (or stop it), then run this one again",
			ErrGroupActive, topic, group)
	}
	log.Info("replay group joined; this replay holds the DLQ's partitions", zap.String("replay_group", group))
	return l, nil
}

func (l *groupLock) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	l.set(len(m[l.topic]) > 0)
}

func (l *groupLock) dropped(context.Context, *kgo.Client, map[string][]int32) { l.set(false) }

func (l *groupLock) set(held bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.decided, l.held = true, held
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitDecided waits for the first assignment and reports whether it holds
// the partitions. Before it, an error from the group (a consumer of another
// kind in this group: INCONSISTENT_GROUP_PROTOCOL) ends the wait.
func (l *groupLock) waitDecided(ctx context.Context) (bool, error) {
	for {
		l.mu.Lock()
		decided, held, ch := l.decided, l.held, l.changed
		l.mu.Unlock()
		if decided {
			return held, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("no assignment within %s: %w", lockWait, ctx.Err())
		case <-ch:
		}
	}
}

// commit commits next offsets (partition → next offset) through the group.
// During a rebalance (a newcomer joining or leaving) the commit is retried
// once the partitions are assigned back; if they go elsewhere, or ctx ends
// first, the commit fails and the replay stops without it.
func (l *groupLock) commit(ctx context.Context, next map[int32]int64) error {
	offs := map[string]map[int32]kgo.EpochOffset{l.topic: {}}
	for p, at := range next {
		offs[l.topic][p] = kgo.EpochOffset{Epoch: -1, Offset: at}
	}
	for {
		l.mu.Lock()
		held, ch := l.held, l.changed
		l.mu.Unlock()
		if held {
			err := l.commitOnce(ctx, offs)
			if err == nil || !retriableCommit(err) || ctx.Err() != nil {
				return err
			}
			l.log.Info("replay commit waits for the group's rebalance", zap.Error(err))
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("the replay group's partitions were not assigned back in time: %w", ctx.Err())
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

func (l *groupLock) commitOnce(ctx context.Context, offs map[string]map[int32]kgo.EpochOffset) error {
	var cerr error
	l.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
					cerr = fmt.Errorf("partition %d: %w", p.Partition, err)
				}
			}
		}
	})
	return cerr
}

// retriableCommit: the errors a commit gets while the group rebalances or
// its coordinator moves.
func retriableCommit(err error) bool {
	for _, e := range []error{kerr.RebalanceInProgress, kerr.IllegalGeneration, kerr.UnknownMemberID,
		kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.RequestTimedOut} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// release leaves the group.
func (l *groupLock) release() { l.cl.Close() }

// firstComer is a group balancer that assigns every partition to the member
// that started first; ties (same nanosecond) go to the smaller random nonce,
// then member id, so every leader computes the same answer.
type firstComer struct{ startedAt, nonce uint64 }

func newFirstComer() *firstComer {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &firstComer{startedAt: uint64(time.Now().UnixNano()), nonce: binary.BigEndian.Uint64(b[:])}
}

func (*firstComer) ProtocolName() string { return "closesink-replay-first-comer" }
func (*firstComer) IsCooperative() bool  { return false }

func (f *firstComer) JoinGroupMetadata(interests []string, _ map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	meta.UserData = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, f.startedAt), f.nonce)
	return meta.AppendTo(nil)
}

func (*firstComer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (f *firstComer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(f, members)
	if err != nil {
		return nil, nil, err
	}
	return b, b.MemberTopics(), nil
}

func (*firstComer) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var (
		first    *kmsg.JoinGroupResponseMember
		firstKey [3]string
	)
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		key := [3]string{"~", "~", m.MemberID} // members without our metadata sort last
		if len(meta.UserData) == 16 {
			key[0] = fmt.Sprintf("%020d", binary.BigEndian.Uint64(meta.UserData[:8]))
			key[1] = fmt.Sprintf("%020d", binary.BigEndian.Uint64(meta.UserData[8:]))
		}
		if first == nil || key[0] < firstKey[0] || key[0] == firstKey[0] && (key[1] < firstKey[1] || key[1] == firstKey[1] && key[2] < firstKey[2]) {
			first, firstKey = m, key
		}
	})
	plan := b.NewPlan()
	for topic := range b.MemberTopics() {
		parts := make([]int32, topics[topic])
		for i := range parts {
			parts[i] = int32(i)
		}
		plan.AddPartitions(first, topic, parts)
	}
	return plan
}
