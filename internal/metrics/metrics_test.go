package metrics

import (
	"testing"

	"github.com/closesink/closesink/pipeline"
)

func TestSnapshotCountsOutcomes(t *testing.T) {
	m := New()
	m.Consumed()
	m.Consumed()
	m.Consumed()
	m.Outcome(pipeline.Delivered.String(), "")
	m.Outcome(pipeline.Dropped.String(), "no_email")
	m.Outcome(pipeline.DeadLettered.String(), "permanent")
	m.Delivery(3, 0.5)
	m.Commit()
	m.Assigned(3)
	m.Assigned(-1)
	m.SourcePartitions(6)
	s := m.Snapshot()
	if s.Assigned != 2 || s.SourcePartitions != 6 {
		t.Fatalf("gauges: %+v", s)
	}
	if s.Consumed != 3 || s.Delivered != 1 || s.Dropped["no_email"] != 1 || s.DeadLettered["permanent"] != 1 || s.Retries != 2 || s.Commits != 1 {
		t.Fatalf("snapshot: %+v", s)
	}
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *Metrics
	m.Consumed()
	m.Outcome(pipeline.Delivered.String(), "")
	m.Delivery(2, 1)
	m.Request(200)
	m.PhoneLeftOut("x")
	m.DLQError()
	m.Commit()
	if s := m.Snapshot(); s.Consumed != 0 {
		t.Fatal("nil metrics counted")
	}
}
