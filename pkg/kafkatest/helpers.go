package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// opTimeout bounds one admin or produce operation. Generous because a
	// real broker creates its internal topics lazily on first use.
	opTimeout = 30 * time.Second
	// pollEvery paces the wait for topic metadata.
	pollEvery = 50 * time.Millisecond
	// maxNameLen bounds generated names before the 9-byte random suffix,
	// well under Kafka's 249-byte limit for topic names.
	maxNameLen = 190
)

// NewClient returns a franz-go client seeded with the backend's brokers,
// closed in t.Cleanup. opts are applied after the seed brokers and may
// override them. The client is safe for concurrent use, as any kgo.Client.
func (b *Backend) NewClient(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(b.Brokers...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client on its own connection, closed in t.Cleanup.
// kadm answers metadata questions (ListTopics, ...) from a cache that lives
// for the client's MetadataMinAge, 5s by default; this client's is
// pollEvery, so a test polling for a change (a topic appearing on a real
// broker, which lags its controller) sees it promptly.
func (b *Backend) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(b.NewClient(t, kgo.MetadataMinAge(pollEvery)))
}

// CreateTopic creates a topic named after the test (sanitized, plus a random
// suffix) with the given number of partitions and the cluster's default
// replication factor, and returns its name. It blocks until metadata lists
// every partition with a leader and each leader answers for its partition:
// a real broker acknowledges creation before its metadata and partitions
// catch up, kfake does not, and tests must not see the difference. The topic is deleted in t.Cleanup. Call from the test goroutine.
func (b *Backend) CreateTopic(t testing.TB, partitions int32) string {
	t.Helper()
	if partitions < 1 {
		t.Fatalf("kafkatest: CreateTopic: partitions = %d, want at least 1", partitions)
	}
	adm := b.Admin(t)
	topic := UniqueName(t, "")

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
	// Registered after the admin client's own cleanup, so it runs first
	// (cleanups run last-in first-out) while the client is still open.
	t.Cleanup(func() { deleteTopic(t, adm, topic) })

	if err := waitForTopic(ctx, adm, topic, partitions); err != nil {
		t.Fatalf("kafkatest: topic %s never became usable: %v", topic, err)
	}
	return topic
}

// waitForTopic polls metadata until topic has all its partitions, each with
// a leader, or ctx ends.
func waitForTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		problem := topicProblem(ctx, adm, topic, partitions)
		if problem == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last seen: %v", ctx.Err(), problem)
		case <-tick.C:
		}
	}
}

// topicProblem says why topic is not usable yet (for producing, consuming
// and committing), or returns nil.
func topicProblem(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	topics, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := topics[topic]
	switch {
	case !ok:
		return errors.New("not in metadata")
	case td.Err != nil:
		return td.Err
	case int32(len(td.Partitions)) != partitions:
		return fmt.Errorf("%d of %d partitions in metadata", len(td.Partitions), partitions)
	}
	for _, p := range td.Partitions {
		if p.Err != nil {
			return fmt.Errorf("partition %d: %w", p.Partition, p.Err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p.Partition)
		}
	}
	// Metadata can name a leader before that broker serves the partition;
	// ListOffsets is answered by the leader itself.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	served := 0
	var bad error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			bad = fmt.Errorf("partition %d: leader: %w", o.Partition, o.Err)
			return
		}
		served++
	})
	switch {
	case bad != nil:
		return bad
	case served != int(partitions):
		return fmt.Errorf("%d of %d partitions served by their leaders", served, partitions)
	}
	return nil
}

// deleteTopic runs in t.Cleanup, after the test's own context is cancelled,
// hence its own timeout. A topic that is already gone is fine.
func deleteTopic(t testing.TB, adm *kadm.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := adm.DeleteTopic(ctx, topic)
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("kafkatest: delete topic %s: %v", topic, err)
	}
}

// UniqueName returns a name for a Kafka resource (consumer group,
// transactional id, topic) that no other test or run uses:
// prefix, the sanitized test name and a random suffix, joined by "-".
// The result only contains [A-Za-z0-9_-] and is at most 199 bytes, so it is
// also a legal topic name. An empty prefix is left out. Safe for concurrent use.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails (Go 1.24+)
	base := sanitize(prefix + "-" + t.Name())
	if len(base) > maxNameLen {
		base = strings.TrimRight(base[:maxNameLen], "-")
	}
	if base == "" {
		return hex.EncodeToString(suffix[:])
	}
	return base + "-" + hex.EncodeToString(suffix[:])
}

// sanitize maps s to [A-Za-z0-9_-], collapsing runs of other bytes (such as
// the "/" of subtests) and of "-" into one "-", without leading or trailing "-".
func sanitize(s string) string {
	var sb strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			sb.WriteByte(c)
			dash = false
			continue
		}
		if !dash {
			sb.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(sb.String(), "-")
}

// Produce writes recs synchronously and fails the test if any write fails.
// Records without a Topic go to the client's default produce topic.
// Call from the test goroutine, not from t.Cleanup: it is bounded by the
// test's context, which is cancelled before cleanups run.
func Produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("kafkatest: produce %d records: %v", len(recs), err)
	}
}
