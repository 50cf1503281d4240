package service_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// A member that loses its partitions (fenced out of the group, as the
// coordinator does to a member whose session expired) while a lead of each
// is on the wire commits nothing for them, not even that lead's outcome
// once Close answers: another member may own them by then. The next owner
// (the member rejoining under a new id) starts from the last commit and
// delivers every lead; only the lead that was in flight may be created a
// second time, the price of a lost partition (the service may avoid even
// that, e.g. by recording deliveries). The fence is a LeaveGroup naming the member,
// which kfake and Kafka both honour, so this runs on every backend.
func TestLostPartitionsCommitNothing(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	for p := int32(0); p < 2; p++ {
		h.produce(p, lead(fmt.Sprintf("first%d@x.com", p)), lead(fmt.Sprintf("held%d@x.com", p)), lead(fmt.Sprintf("after%d@x.com", p)))
	}
	release, held := make(chan struct{}), newEvents()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the front closes
	h.front.setOnLead(func(_ int, _ http.ResponseWriter, r *http.Request) bool {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		for p := 0; p < 2; p++ {
			if e := fmt.Sprintf("held%d@x.com", p); bytes.Contains(body, []byte(e)) && held.add(e) == 1 {
				<-release // each held lead's first create waits here
			}
		}
		return false
	})
	ev := newEvents()
	core, logs := observer.New(zap.WarnLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)).Named("a")
	h.start(memberOpts{name: "a", logger: log,
		cfg: func(c *config.Config) { c.ShutdownTimeout = 200 * time.Millisecond }, // the stop logs "still busy" after it
		opts: service.Options{
			ClientOpts:  []kgo.Opt{kgo.WithHooks(commitWrites{ev}), kgo.HeartbeatInterval(250 * time.Millisecond)},
			OnRebalance: func(event string, parts []int32) { ev.add(fmt.Sprint(event, parts)) },
		}})
	eventually(t, "first leads committed, held leads on the wire", func() string {
		if n, a, b := held.count("held0@x.com")+held.count("held1@x.com"), h.at(0), h.at(1); n < 2 || a != 1 || b != 1 {
			return fmt.Sprintf("%d held, committed p0=%d p1=%d", n, a, b)
		}
		return ""
	})
	ev.add("fenced")
	h.fence()
	eventually(t, "the member stopping its lost partitions", func() string {
		if logs.FilterMessageSnippet("still busy after the stop timeout").Len() == 0 {
			return "no stop under way"
		}
		return ""
	})
	once.Do(func() { close(release) }) // Close answers the held creates now
	eventually(t, "every offset committed by the next owner", h.lag)

	after := ev.since("fenced")
	assigned := slices.Index(after, "assigned[0 1]")
	if assigned < 0 || !slices.Contains(after[:assigned], "lost[0 1]") {
		t.Fatalf("want partitions lost, then assigned again, after the fence; events: %v", after)
	}
	if i := slices.Index(after[:assigned], "commit"); i >= 0 {
		t.Fatalf("an offset commit was sent for the lost partitions before they were assigned again: %v", after)
	}
	emails := h.createdEmails()
	for p := 0; p < 2; p++ {
		for kind, most := range map[string]int{"first": 1, "held": 2, "after": 1} {
			if e := fmt.Sprintf("%s%d@x.com", kind, p); emails[e] < 1 || emails[e] > most {
				t.Errorf("%s created %d times, want 1 to %d", e, emails[e], most)
			}
		}
	}
}

// fence removes the service group's one member from the group, as a
// coordinator does when the member's session expires: its next heartbeat
// is answered UNKNOWN_MEMBER_ID and it must treat its partitions as lost.
func (h *harness) fence() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := h.adm.DescribeGroups(ctx, h.group)
	if err == nil {
		err = groups.Error()
	}
	if err != nil || len(groups[h.group].Members) != 1 {
		h.t.Fatalf("describe group %s: %v (%+v)", h.group, err, groups)
	}
	id := groups[h.group].Members[0].MemberID
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = h.group, id
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = id
	req.Members = append(req.Members, m)
	resp, err := req.RequestWith(ctx, h.producer)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	for i := 0; err == nil && i < len(resp.Members); i++ {
		err = kerr.ErrorForCode(resp.Members[i].ErrorCode)
	}
	if err != nil {
		h.t.Fatalf("fence member %s: %v", id, err)
	}
}

// events is an ordered, concurrency-safe log of what a test observed.
type events struct {
	mu  sync.Mutex
	all []string
}

func newEvents() *events { return &events{} }

// add appends e and returns how many times e is now in the log.
func (l *events) add(e string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, e)
	n := 0
	for _, x := range l.all {
		if x == e {
			n++
		}
	}
	return n
}

func (l *events) count(e string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.all {
		if x == e {
			n++
		}
	}
	return n
}

// since returns the events after the first mark.
func (l *events) since(mark string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.all, mark)
	return slices.Clone(l.all[i+1:])
}

// commitWrites logs "commit" for every OffsetCommit request a client
// writes, whatever the broker then answers: a commit the coordinator
// rejects was still attempted.
type commitWrites struct{ ev *events }

func (c commitWrites) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	if key == int16(kmsg.OffsetCommit) {
		c.ev.add("commit")
	}
}
