package service_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// Replay never degrades a DLQ record. A lead whose re-dead-letter the DLQ
// topic would take only without its value (it is larger than the topic's
// max.message.bytes, lowered after the record was written) stops the replay
// with ErrWouldDegrade: the record stays uncommitted, no value-less copy is
// written and nothing after it is touched. Once the operator raises the
// limit, the next replay takes it back with its value.
func TestHardeningReplayNeverDegradesADLQRecord(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	big := bigLead("big@x.com", 200<<10)
	orig := h.putDLQ(
		dead{email: "before@x.com", class: pipeline.ClassPermanent, status: 401},
		dead{value: big, class: pipeline.ClassPermanent, status: 401},
		dead{email: "after@x.com", class: pipeline.ClassPermanent, status: 401},
	)
	// Close still rejects the big lead, so the replay must write it back.
	h.emu.SetFaults(closeemu.Faults{StatusForEmail: map[string]int{"big@x.com": 400}})
	h.setDLQMaxMessageBytes(64 << 10)

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := h.replayCtx(ctx, service.ReplayOptions{}, nil)
	if !errors.Is(err, deadletter.ErrWouldDegrade) {
		t.Fatalf("replay err = %v (summary %+v), want one wrapping deadletter.ErrWouldDegrade", err, s)
	}
	if s.Delivered != 1 || s.DeadLettered != 0 || s.ReachedEnd {
		t.Fatalf("summary %+v: want the lead before delivered, nothing dead-lettered, the end not reached", s)
	}
	if c, ok := h.committed(h.replayGroup, h.dlq)[0]; !ok || c != 1 {
		t.Fatalf("replay group committed %d (present %v), want 1: after the lead before, before the big record", c, ok)
	}
	if e := h.ends(h.dlq)[0]; e != 3 {
		t.Fatalf("DLQ end %d, want 3: the replay wrote to the DLQ", e)
	}
	for _, r := range h.readDLQ(3) {
		if header(r, deadletter.HeaderValueOmitted) != "" || len(r.Value) == 0 {
			t.Fatalf("DLQ offset %d lost its value: headers %v", r.Offset, r.Headers)
		}
	}
	if got := h.createdEmails(); len(got) != 1 || got["before@x.com"] != 1 {
		t.Fatalf("created %v, want only before@x.com", got)
	}

	// The operator raises the limit: the record goes back whole.
	h.setDLQMaxMessageBytes(1 << 20)
	s = h.mustReplay(service.ReplayOptions{})
	if s.Read != 2 || s.DeadLettered != 1 || s.Delivered != 1 || !s.ReachedEnd {
		t.Fatalf("second replay summary %+v", s)
	}
	again := h.readDLQ(4)[3]
	if !bytes.Equal(again.Value, orig[1].Value) || header(again, deadletter.HeaderReplays) != "1" ||
		header(again, deadletter.HeaderValueOmitted) != "" || header(again, deadletter.HeaderStatus) != "400" {
		t.Fatalf("re-dead-lettered record: %d-byte value, headers %v", len(again.Value), again.Headers)
	}
	if got := h.createdEmails(); len(got) != 2 || got["before@x.com"] != 1 || got["after@x.com"] != 1 {
		t.Fatalf("created %v", got)
	}
	if c := h.committed(h.replayGroup, h.dlq)[0]; c != 3 {
		t.Fatalf("committed %d after the second replay, want 3", c)
	}
}

// A DLQ record that already lost its value (closesink.value_omitted) is
// re-queued unchanged, marker and all, and counted as unreplayable; it is
// never sent to Close nor dead-lettered again as an empty event.
func TestHardeningReplayRequeuesValueOmittedRecord(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.putDLQ(dead{email: "a@x.com", class: pipeline.ClassPermanent, status: 401})
	// As the writer leaves a record too large for the DLQ: empty value,
	// its size in the marker, the source pointer kept.
	src := &kgo.Record{Topic: h.topic, Partition: 0, Offset: 7, Key: []byte("k"), Timestamp: time.Now(),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("omitted")}}}
	omitted := deadletter.Build(h.dlq, src, pipeline.Failure{Class: pipeline.ClassPermanent, HTTPStatus: 401,
		Message: "value of 3000000 bytes left out", Attempts: 1, FailedAt: time.Now()})
	omitted.Value, omitted.Partition = []byte{}, 0
	omitted.Headers = append(omitted.Headers, kgo.RecordHeader{Key: deadletter.HeaderValueOmitted, Value: []byte("3000000")})
	h.putDLQ(dead{email: "b@x.com", class: pipeline.ClassPermanent, status: 401}) // offset 1
	kafkatest.Produce(t, h.producer, omitted)                                     // offset 2

	s := h.mustReplay(service.ReplayOptions{})
	if s.Read != 3 || s.Unreplayable != 1 || s.Delivered != 2 || s.DeadLettered != 0 || s.Dropped != 0 || !s.ReachedEnd {
		t.Fatalf("summary %+v: want 2 delivered and 1 unreplayable", s)
	}
	if n := h.requests(leadRoute); n != 2 {
		t.Fatalf("Close got %d lead requests, want 2 (the value-less record must not be sent)", n)
	}
	dlq := h.readDLQ(4)
	cp := dlq[3]
	if !bytes.Equal(cp.Key, omitted.Key) || len(cp.Value) != 0 || !reflect.DeepEqual(cp.Headers, dlq[2].Headers) {
		t.Fatalf("re-queued copy differs: key %q value %q headers %v, want %v", cp.Key, cp.Value, cp.Headers, dlq[2].Headers)
	}
	if header(cp, deadletter.HeaderValueOmitted) != "3000000" || header(cp, deadletter.HeaderReplays) != "" {
		t.Fatalf("re-queued copy headers %v: want the marker kept and no replay counted", cp.Headers)
	}
	if c := h.committed(h.replayGroup, h.dlq)[0]; c != 3 {
		t.Fatalf("committed %d, want 3", c)
	}
}

// bigLead is a lead event for email padded with incompressible data to
// about size bytes.
func bigLead(email string, size int) string {
	pad := make([]byte, size/2)
	_, _ = rand.Read(pad)
	return fmt.Sprintf(`{"type":"track","event":"Lead Submitted","messageId":%q,"pad":%q,
		"traits":{"email":%q,"company":"Acme"},"context":{"consent":{"marketing":true}}}`,
		email, hex.EncodeToString(pad), email)
}

// setDLQMaxMessageBytes sets the DLQ topic's max.message.bytes and waits
// until the cluster reports it.
func (h *harness) setDLQMaxMessageBytes(n int) {
	h.t.Helper()
	v := strconv.Itoa(n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := h.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, h.dlq)
	if err == nil {
		_, err = resp.On(h.dlq, func(r *kadm.AlterConfigsResponse) error { return r.Err })
	}
	if err != nil {
		h.t.Fatalf("set max.message.bytes of %s: %v", h.dlq, err)
	}
	eventually(h.t, "max.message.bytes applied", func() string {
		rcs, err := h.adm.DescribeTopicConfigs(ctx, h.dlq)
		if err != nil {
			return err.Error()
		}
		rc, err := rcs.On(h.dlq, nil)
		if err != nil {
			return err.Error()
		}
		for _, c := range rc.Configs {
			if c.Key == "max.message.bytes" {
				if c.MaybeValue() == v {
					return ""
				}
				return "max.message.bytes=" + c.MaybeValue()
			}
		}
		return "max.message.bytes not described"
	})
}
