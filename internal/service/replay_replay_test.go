package service_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
)

// Filters select exactly what they say; what they skip is re-queued
// unchanged and a later run with other filters reaches it; a record that
// fails again comes back with closesink.replays=1 and its source headers.
func TestFiltersRequeueAndReplayAgain(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	orig := h.putDLQ(
		dead{email: "a@x.com", class: pipeline.ClassPermanent, status: 401, ago: time.Hour},           // 0
		dead{email: "b@x.com", class: pipeline.ClassPermanent, status: 403, ago: time.Hour},           // 1
		dead{email: "c@x.com", class: pipeline.ClassPermanent, status: 400, ago: time.Hour},           // 2
		dead{email: "d@x.com", class: pipeline.ClassRetriesExhausted, status: 503, ago: time.Hour},    // 3
		dead{value: "not json", class: pipeline.ClassInvalidEvent, ago: time.Hour},                    // 4
		dead{email: "f@x.com", class: pipeline.ClassPermanent, status: 401, ago: 10 * 24 * time.Hour}, // 5
	)
	run := func(classes, statuses, since, until string) replay.Summary {
		t.Helper()
		f, err := replay.ParseFilter(strings.Split(classes, ","), strings.Split(statuses, ","), since, until, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return h.mustReplay(service.ReplayOptions{Filter: f})
	}
	check := func(step string, s replay.Summary, read, selected, delivered, dead, skipped int, created []string, dlqEnd int64) {
		t.Helper()
		if s.Read != read || s.Selected != selected || s.Delivered != delivered || s.DeadLettered != dead || s.Skipped != skipped || !s.ReachedEnd {
			t.Fatalf("%s: summary %+v; want read %d selected %d delivered %d dead %d skipped %d", step, s, read, selected, delivered, dead, skipped)
		}
		emails := h.createdEmails()
		for _, e := range created {
			if emails[e] != 1 {
				t.Fatalf("%s: %s created %d times; all %v", step, e, emails[e], emails)
			}
		}
		if len(emails) != len(created) {
			t.Fatalf("%s: created %v, want %v", step, emails, created)
		}
		if e := h.ends(h.dlq)[0]; e != dlqEnd {
			t.Fatalf("%s: DLQ end %d, want %d", step, e, dlqEnd)
		}
		if c := h.committed(h.replayGroup, h.dlq)[0]; c != s.Partitions[0].To {
			t.Fatalf("%s: committed %d, want the end at start %d", step, c, s.Partitions[0].To)
		}
	}

	// 1: recent 401s only: a. The other five are copied to offsets 6..10.
	s := run("permanent", "401", "2d", "")
	check("401 since 2d", s, 6, 1, 1, 0, 5, []string{"a@x.com"}, 11)
	dlq := h.b.ReadAll(t, h.dlq)
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
	again := h.b.ReadAll(t, h.dlq)[18]
	for k, v := range map[string]string{
		deadletter.HeaderClass: "invalid_event", deadletter.HeaderReplays: "1", "trace": "4",
		deadletter.HeaderSourceTopic: h.topic, deadletter.HeaderSourcePartition: "0", deadletter.HeaderSourceOffset: "104",
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
	if r := h.b.ReadAll(t, h.dlq)[19]; header(r, deadletter.HeaderReplays) != "2" || header(r, deadletter.HeaderSourceOffset) != "104" {
		t.Errorf("second failure headers: %v", r.Headers)
	}
}

func TestDryRunSendsWritesAndCommitsNothing(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.putDLQ(
		dead{email: "a@x.com", class: pipeline.ClassPermanent, status: 401},
		dead{value: "garbage", class: pipeline.ClassInvalidEvent},
		dead{email: "b@x.com", class: pipeline.ClassPermanent, status: 401},
	)
	var seen []int64
	s := h.mustReplay(service.ReplayOptions{Filter: replay.Filter{Statuses: []int{401}},
		DryRun: func(rec *kgo.Record, info deadletter.Info, what string) {
			if info.HTTPStatus != 401 {
				t.Errorf("dry run shown a record with status %d", info.HTTPStatus)
			}
			if what == "" {
				t.Errorf("dry run of offset %d says nothing of what replaying would do", rec.Offset)
			}
			seen = append(seen, rec.Offset)
		}})
	if !reflect.DeepEqual(seen, []int64{0, 2}) || s.Selected != 2 || s.Previewed != 2 || s.Skipped != 1 || s.Delivered != 0 || !s.ReachedEnd {
		t.Fatalf("dry run saw %v, summary %+v", seen, s)
	}
	if n := h.emu.Stats().Requests; n != 0 {
		t.Fatalf("dry run sent %d requests", n)
	}
	if e := h.ends(h.dlq)[0]; e != 3 {
		t.Fatalf("dry run wrote to the DLQ: end %d", e)
	}
	if c := h.committed(h.replayGroup, h.dlq); len(c) != 0 {
		t.Fatalf("dry run committed %v", c)
	}
}

func TestToTopicRepublishesOriginals(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	orig := h.putDLQ(
		dead{email: "a@x.com", class: pipeline.ClassPermanent, status: 401},
		dead{email: "b@x.com", class: pipeline.ClassPermanent, status: 401},
	)
	s := h.mustReplay(service.ReplayOptions{ToTopic: h.topic})
	if s.Selected != 2 || s.Republished != 2 || !s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	got := h.b.ReadAll(t, h.topic)
	if len(got) != 2 {
		t.Fatalf("source topic holds %d records", len(got))
	}
	// The producer's headers, then the source pointer; no error headers.
	for i, r := range got {
		want := []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint(i))}}
		for _, k := range []string{deadletter.HeaderSourceTopic, deadletter.HeaderSourcePartition,
			deadletter.HeaderSourceOffset, deadletter.HeaderSourceTimestamp} {
			want = append(want, kgo.RecordHeader{Key: k, Value: []byte(header(orig[i], k))})
		}
		if header(r, deadletter.HeaderSourceOffset) != fmt.Sprint(100+i) || header(r, deadletter.HeaderSourceTopic) != h.topic {
			t.Fatalf("republished %d: source pointer %v", i, r.Headers)
		}
		if !bytes.Equal(r.Key, orig[i].Key) || !bytes.Equal(r.Value, orig[i].Value) || !reflect.DeepEqual(r.Headers, want) {
			t.Fatalf("republished %d: key %q headers %v, want %v", i, r.Key, r.Headers, want)
		}
	}
	if n := h.emu.Stats().Requests; n != 0 {
		t.Fatalf("--to-topic called Close %d times", n)
	}
	if c := h.committed(h.replayGroup, h.dlq)[0]; c != 2 {
		t.Fatalf("committed %d, want 2", c)
	}
}
