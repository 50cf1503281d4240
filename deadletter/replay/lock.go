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
// partitions to one member: the one that already holds them, else the one
// that started first (both travel in the join metadata); every other member
// gets none. So the holder keeps them across the rebalances that a
// newcomer's join and leave cause, and commits its progress through the
// group: Kafka accepts a commit only from a current member of the current
// generation, so a commit can neither come from a replay that lost the group
// nor move offsets under another one. A replay that is assigned nothing
// refuses to start (ErrGroupActive); a holder that loses the partitions (its
// session expired, or another member got them) stops: its next commit fails
// with ErrLockLost, and it never resumes from its own, stale position.
//
// The members never fetch through the group client (its fetches are
// paused); the replay reads the DLQ with its own client, as planned.
type groupLock struct {
	cl    *kgo.Client
	topic string
	log   *zap.Logger

	mu      sync.Mutex
	decided bool          // an assignment (possibly empty) was received
	held    bool          // the DLQ's partitions are assigned to us now
	changed chan struct{} // closed and replaced on every change
	// heldSince is when this member first held the partitions (0: never);
	// it travels in the join metadata so the holder keeps them.
	heldSince int64
	// broken: the partitions went to another member, or were lost, after
	// this member held them. Everything it would commit now is stale.
	broken bool
}

// ErrLockLost is returned by a commit after the replay lost the replay
// group's partitions (to another replay, or because its session expired).
var ErrLockLost = errors.New("replay: this replay lost the replay group to another member; stopping without committing")

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
	bal := newFirstComer(l)
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(bal),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(l.assigned),
		kgo.OnPartitionsRevoked(l.revoked),
		kgo.OnPartitionsLost(l.lost),
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
	held := len(m[l.topic]) > 0
	l.update(func() {
		if !held && l.heldSince != 0 {
			l.broken = true // another member got what we held
		}
		if held && l.heldSince == 0 {
			l.heldSince = time.Now().UnixNano()
		}
		l.decided, l.held = true, held
	})
}

// revoked: an eager rebalance takes the partitions before it hands them out
// again; whether they come back decides (assigned).
func (l *groupLock) revoked(context.Context, *kgo.Client, map[string][]int32) {
	l.update(func() { l.held = false })
}

// lost: the session expired; another member may hold the partitions now.
func (l *groupLock) lost(context.Context, *kgo.Client, map[string][]int32) {
	l.update(func() {
		l.held = false
		if l.heldSince != 0 {
			l.broken, l.heldSince = true, 0
		}
	})
}

func (l *groupLock) update(change func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	change()
	close(l.changed)
	l.changed = make(chan struct{})
}

// since is the heldSince for the join metadata.
func (l *groupLock) since() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(l.heldSince)
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
		held, broken, ch := l.held, l.broken, l.changed
		l.mu.Unlock()
		if broken {
			return ErrLockLost
		}
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

// firstComer is a group balancer that assigns every partition to one
// member: the one holding them since the earliest time, else the one that
// started first; ties (same nanosecond) go to the smaller random nonce, then
// member id, so every leader computes the same answer.
type firstComer struct {
	lock             *groupLock // heldSince
	startedAt, nonce uint64
}

func newFirstComer(l *groupLock) *firstComer {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &firstComer{lock: l, startedAt: uint64(time.Now().UnixNano()), nonce: binary.BigEndian.Uint64(b[:])}
}

func (*firstComer) ProtocolName() string { return "closesink-replay-first-comer" }
func (*firstComer) IsCooperative() bool  { return false }

// metaLen is the UserData size: held since, started at, nonce.
const metaLen = 24

func (f *firstComer) JoinGroupMetadata(interests []string, _ map[string][]int32, generation int32) []byte {
	var held uint64
	if f.lock != nil {
		held = f.lock.since()
	}
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	ud := binary.BigEndian.AppendUint64(nil, held)
	ud = binary.BigEndian.AppendUint64(ud, f.startedAt)
	meta.UserData = binary.BigEndian.AppendUint64(ud, f.nonce)
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
		firstKey [4]string
	)
	less := func(a, b [4]string) bool {
		for i := range a {
			if a[i] != b[i] {
				return a[i] < b[i]
			}
		}
		return false
	}
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		key := [4]string{"~", "~", "~", m.MemberID} // members without our metadata sort last
		if len(meta.UserData) == metaLen {
			if held := binary.BigEndian.Uint64(meta.UserData[:8]); held != 0 {
				key[0] = fmt.Sprintf("%020d", held)
			}
			key[1] = fmt.Sprintf("%020d", binary.BigEndian.Uint64(meta.UserData[8:16]))
			key[2] = fmt.Sprintf("%020d", binary.BigEndian.Uint64(meta.UserData[16:]))
		}
		if first == nil || less(key, firstKey) {
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
