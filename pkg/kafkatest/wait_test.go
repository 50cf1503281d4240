package kafkatest

import (
	"context"
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
	if lag := Lag(adm, group, topic); lag != "" {
		t.Fatalf("empty topic: lag %q", lag)
	}
	cl := b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	Produce(t, cl, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("a")}, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("b")})
	if lag := Lag(adm, group, topic); !strings.Contains(lag, "p1 committed=0 end=2") || strings.Contains(lag, "p0") {
		t.Fatalf("uncommitted group: lag %q", lag)
	}
	var commit kadm.Offsets
	commit.AddOffset(topic, 1, 2, -1)
	if err := adm.CommitAllOffsets(context.Background(), group, commit); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "lag gone after commit", func() string { return Lag(adm, group, topic) })
}
