package replay_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
)

// The bad day of the issue: the key is revoked while the service runs, the
// leads after that land in the DLQ with 401, the operator adds a new key
// and replays. Every lead reaches Close exactly once.
func TestRevokedKeyRecoveredByReplay(t *testing.T) {
	w := newWorld(t, 2, 2, oldKey)
	stop := w.runService(oldKey)
	before := []string{"a1@x.com", "a2@x.com", "a3@x.com"}
	w.produceSource(0, before[:2]...)
	w.produceSource(1, before[2])
	eventually(t, "first leads delivered", func() string {
		if n := len(w.emu.Leads()); n != 3 {
			return fmt.Sprintf("%d leads", n)
		}
		return w.lagOf(w.group, w.src)
	})

	w.emu.RevokeKey(oldKey)
	revoked := []string{"b1@x.com", "b2@x.com", "b3@x.com", "b4@x.com", "b5@x.com", "b6@x.com"}
	w.produceSource(0, revoked[:3]...)
	w.produceSource(1, revoked[3:]...)
	eventually(t, "revoked leads dead-lettered", func() string {
		if n := total(w.ends(w.dlq)); n != int64(len(revoked)) {
			return fmt.Sprintf("%d DLQ records", n)
		}
		return w.lagOf(w.group, w.src)
	})
	stop()
	dlq := w.readAll(w.dlq)
	for _, r := range dlq {
		if header(r, deadletter.HeaderStatus) != "401" || header(r, deadletter.HeaderClass) != "permanent" {
			t.Fatalf("DLQ record headers: %v", r.Headers)
		}
	}

	w.emu.AddKey(newKey)
	requestsBefore := w.emu.Stats().Requests
	cfg := w.config()
	cfg.Processor = w.processor(newKey)
	cfg.Filter = replay.Filter{Statuses: []int{401}}
	s := w.mustReplay(cfg)
	if s.Read != 6 || s.Selected != 6 || s.Delivered != 6 || s.DeadLettered+s.Dropped+s.Skipped != 0 || !s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	emails := w.createdEmails()
	for _, e := range append(before, revoked...) {
		if emails[e] != 1 {
			t.Errorf("%s created %d times, want once (all: %v)", e, emails[e], emails)
		}
	}
	if len(emails) != 9 {
		t.Errorf("created %v", emails)
	}
	ends := w.ends(w.dlq)
	if total(ends) != 6 {
		t.Fatalf("the replay wrote to the DLQ: ends %v", ends)
	}
	if got := w.committed(w.replayG, w.dlq); !reflect.DeepEqual(got, ends) {
		t.Fatalf("replay group committed %v, want the DLQ end offsets %v", got, ends)
	}

	// A second run has nothing left to do.
	s = w.mustReplay(cfg)
	if s.Read != 0 || s.Selected != 0 || !s.ReachedEnd {
		t.Fatalf("second run summary %+v", s)
	}
	if got := w.emu.Stats().Requests - requestsBefore; got != 6 {
		t.Fatalf("Close got %d requests from the replays, want 6", got)
	}
}

// Filters select exactly what they say; what they skip is re-queued
// unchanged and a later run with other filters reaches it; a record that
// fails again comes back with closesink.replays=1 and its source headers.
func TestFiltersRequeueAndReplayAgain(t *testing.T) {
	w := newWorld(t, 1, 1, newKey)
	orig := w.putDLQ(
		dead{email: "a@x.com", class: deadletter.ClassPermanent, status: 401, ago: time.Hour},           // 0
		dead{email: "b@x.com", class: deadletter.ClassPermanent, status: 403, ago: time.Hour},           // 1
		dead{email: "c@x.com", class: deadletter.ClassPermanent, status: 400, ago: time.Hour},           // 2
		dead{email: "d@x.com", class: deadletter.ClassRetriesExhausted, status: 503, ago: time.Hour},    // 3
		dead{value: "not json", class: deadletter.ClassInvalidEvent, ago: time.Hour},                    // 4
		dead{email: "f@x.com", class: deadletter.ClassPermanent, status: 401, ago: 10 * 24 * time.Hour}, // 5
	)
	pl := w.processor(newKey)
	run := func(classes, statuses, since, until string) replay.Summary {
		t.Helper()
		f, err := replay.ParseFilter(classes, statuses, since, until, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cfg := w.config()
		cfg.Processor, cfg.Filter = pl, f
		return w.mustReplay(cfg)
	}
	check := func(step string, s replay.Summary, read, selected, delivered, dead, skipped int, created []string, dlqEnd int64) {
		t.Helper()
		if s.Read != read || s.Selected != selected || s.Delivered != delivered || s.DeadLettered != dead || s.Skipped != skipped || !s.ReachedEnd {
			t.Fatalf("%s: summary %+v; want read %d selected %d delivered %d dead %d skipped %d", step, s, read, selected, delivered, dead, skipped)
		}
		emails := w.createdEmails()
		for _, e := range created {
			if emails[e] != 1 {
				t.Fatalf("%s: %s created %d times; all %v", step, e, emails[e], emails)
			}
		}
		if len(emails) != len(created) {
			t.Fatalf("%s: created %v, want %v", step, emails, created)
		}
		if e := w.ends(w.dlq)[0]; e != dlqEnd {
			t.Fatalf("%s: DLQ end %d, want %d", step, e, dlqEnd)
		}
		if c := w.committed(w.replayG, w.dlq)[0]; c != s.Partitions[0].To {
			t.Fatalf("%s: committed %d, want the end at start %d", step, c, s.Partitions[0].To)
		}
	}

	// 1: recent 401s only: a. The other five are copied to offsets 6..10.
	s := run("permanent", "401", "2d", "")
	check("401 since 2d", s, 6, 1, 1, 0, 5, []string{"a@x.com"}, 11)
	dlq := w.readAll(w.dlq)
	for i, src := range []int{1, 2, 3, 4, 5} {
		got, want := dlq[6+i], orig[src]
		if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) || !reflect.DeepEqual(got.Headers, want.Headers) {
			t.Fatalf("re-queued copy at %d differs from original %d:\n%v\n%v", 6+i, src, got.Headers, want.Headers)
		}
	}

	// 2: old failures: f. b, c, d and the invalid one go round again (11..14).
	s = run("", "", "", "2d")
	check("until 2d", s, 5, 1, 1, 0, 4, []string{"a@x.com", "f@x.com"}, 15)

	// 3: invalid events: it fails again and comes back with replays=1;
	// b, c, d are re-queued first (15..17), the dead letter follows (18).
	s = run("invalid_event", "", "", "")
	check("invalid_event", s, 4, 1, 0, 1, 3, []string{"a@x.com", "f@x.com"}, 19)
	again := w.readAll(w.dlq)[18]
	for k, v := range map[string]string{
		deadletter.HeaderClass: "invalid_event", deadletter.HeaderReplays: "1", "trace": "4",
		deadletter.HeaderSourceTopic: w.src, deadletter.HeaderSourcePartition: "0", deadletter.HeaderSourceOffset: "104",
		deadletter.HeaderSourceTimestamp: header(orig[4], deadletter.HeaderSourceTimestamp),
	} {
		if got := header(again, k); got != v {
			t.Errorf("re-dead-lettered record: %s = %q, want %q", k, got, v)
		}
	}
	if string(again.Value) != "not json" {
		t.Errorf("re-dead-lettered value %q", again.Value)
	}

	// 4: no filter: everything left; the invalid one fails once more.
	s = run("", "", "", "")
	check("all", s, 4, 4, 3, 1, 0, []string{"a@x.com", "b@x.com", "c@x.com", "d@x.com", "f@x.com"}, 20)
	if r := w.readAll(w.dlq)[19]; header(r, deadletter.HeaderReplays) != "2" || header(r, deadletter.HeaderSourceOffset) != "104" {
		t.Errorf("second failure headers: %v", r.Headers)
	}
}

func TestDryRunSendsWritesAndCommitsNothing(t *testing.T) {
	w := newWorld(t, 1, 1, newKey)
	w.putDLQ(
		dead{email: "a@x.com", class: deadletter.ClassPermanent, status: 401},
		dead{value: "garbage", class: deadletter.ClassInvalidEvent},
		dead{email: "b@x.com", class: deadletter.ClassPermanent, status: 401},
	)
	var seen []int64
	cfg := w.config()
	cfg.Processor = w.processor(newKey) // must not be used
	cfg.Filter = replay.Filter{Statuses: []int{401}}
	cfg.DryRun = func(rec *kgo.Record, info deadletter.Info) {
		if info.HTTPStatus != 401 {
			t.Errorf("dry run shown a record with status %d", info.HTTPStatus)
		}
		seen = append(seen, rec.Offset)
	}
	s := w.mustReplay(cfg)
	if !reflect.DeepEqual(seen, []int64{0, 2}) || s.Selected != 2 || s.Previewed != 2 || s.Skipped != 1 || s.Delivered != 0 || !s.ReachedEnd {
		t.Fatalf("dry run saw %v, summary %+v", seen, s)
	}
	if n := w.emu.Stats().Requests; n != 0 {
		t.Fatalf("dry run sent %d requests", n)
	}
	if e := w.ends(w.dlq)[0]; e != 3 {
		t.Fatalf("dry run wrote to the DLQ: end %d", e)
	}
	if c := w.committed(w.replayG, w.dlq); len(c) != 0 {
		t.Fatalf("dry run committed %v", c)
	}
}

func TestToTopicRepublishesOriginals(t *testing.T) {
	w := newWorld(t, 1, 1)
	orig := w.putDLQ(
		dead{email: "a@x.com", class: deadletter.ClassPermanent, status: 401},
		dead{email: "b@x.com", class: deadletter.ClassPermanent, status: 401},
	)
	cfg := w.config()
	cfg.ToTopic = w.src
	s := w.mustReplay(cfg)
	if s.Selected != 2 || s.Republished != 2 || !s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	got := w.readAll(w.src)
	if len(got) != 2 {
		t.Fatalf("source topic holds %d records", len(got))
	}
	for i, r := range got {
		want := []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint(i))}}
		if !bytes.Equal(r.Key, orig[i].Key) || !bytes.Equal(r.Value, orig[i].Value) || !reflect.DeepEqual(r.Headers, want) {
			t.Fatalf("republished %d: key %q headers %v", i, r.Key, r.Headers)
		}
	}
	if n := w.emu.Stats().Requests; n != 0 {
		t.Fatalf("--to-topic called Close %d times", n)
	}
	if c := w.committed(w.replayG, w.dlq)[0]; c != 2 {
		t.Fatalf("committed %d, want 2", c)
	}
}
