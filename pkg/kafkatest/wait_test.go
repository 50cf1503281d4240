package kafkatest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLagFollowsCommits(t *testing.T) {
	b := Start(t)
	topic := b.CreateTopic(t, 2)
	group := UniqueName(t, "grp")
	adm := b.Admin(t)
	if lag := Lag(t, adm, group, topic); lag != "" {
		t.Fatalf("empty topic: lag %q", lag)
	}
	cl := b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	Produce(t, cl, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("a")}, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("b")})
	if lag := Lag(t, adm, group, topic); !strings.Contains(lag, "p1 committed=0 end=2") || strings.Contains(lag, "p0") {
		t.Fatalf("uncommitted group: lag %q", lag)
	}
	var commit kadm.Offsets
	commit.AddOffset(topic, 1, 2, -1)
	if err := adm.CommitAllOffsets(context.Background(), group, commit); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "lag gone after commit", func() string { return Lag(t, adm, group, topic) })
}

// An admin error fails the test instead of reading as lag (or as none).
func TestLagFailsOnAdminError(t *testing.T) {
	b := Start(t)
	topic := b.CreateTopic(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	cl.Close() // every request now fails
	rec := &fatalRecorder{TB: t}
	done := make(chan string, 1)
	go func() {
		defer func() { done <- rec.msg }()
		_ = Lag(rec, kadm.NewClient(cl), UniqueName(t, "grp"), topic)
		rec.msg = "returned"
	}()
	if msg := <-done; !strings.Contains(msg, "end offsets of "+topic) {
		t.Fatalf("Lag on a closed client: %q, want a test failure naming the end offsets", msg)
	}
}

// fatalRecorder stands in for the test where a helper must fail it: it
// records the message and ends the goroutine as t.Fatalf does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
