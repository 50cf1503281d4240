// Package metrics holds closesink's Prometheus metrics and the figures of the
// periodic summary log line. Labels never carry PII: only outcome names,
// reasons, classes and HTTP status codes.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/closesink/closesink/pipeline"
)

// Metrics are safe for concurrent use. A nil *Metrics is valid and records
// nothing, so packages can be used without metrics in tests.
type Metrics struct {
	Registry *prometheus.Registry

	consumed     prometheus.Counter
	outcomes     *prometheus.CounterVec // outcome, reason
	attempts     *prometheus.CounterVec // status code ("0" = no response)
	retries      prometheus.Counter
	phoneIssues  *prometheus.CounterVec
	actions      *prometheus.CounterVec
	dlqErrors    prometheus.Counter
	resultErrors prometheus.Counter
	deliverySecs prometheus.Histogram
	commits      prometheus.Counter
	assigned     prometheus.Gauge
	partitions   prometheus.Gauge
}

// New creates the metrics on a fresh registry (with Go and process collectors).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		consumed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "closesink", Name: "records_consumed_total",
			Help: "Records taken from the source topic for processing."}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "closesink", Name: "records_outcome_total",
			Help: "Final outcomes: delivered, dropped (reason) or dead_lettered (class)."}, []string{"outcome", "reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "closesink", Name: "close_requests_total",
			Help: "HTTP requests sent to Close by response status (0 = no response)."}, []string{"status"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "closesink", Name: "close_retries_total",
			Help: "Delivery attempts beyond the first."}),
		phoneIssues: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "closesink", Name: "phone_left_out_total",
			Help: "Leads created without a phone because the phone was unusable."}, []string{"reason"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "closesink", Name: "leads_delivered_total",
			Help: "Delivered lead events by what they did in Close: created, updated, unchanged or skipped."}, []string{"action"}),
		dlqErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "closesink", Name: "dlq_write_errors_total",
			Help: "Failed attempts to write to the dead-letter topic (the partition stalls and retries)."}),
		deliverySecs: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "closesink", Name: "delivery_seconds",
			Help: "Time from first attempt to final outcome of a lead delivery.", Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12)}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "closesink", Name: "offset_commits_total",
			Help: "Successful offset commits."}),
	}
	m.resultErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "closesink", Name: "results_write_errors_total",
		Help: "Failed attempts to write to the results topic (the partition stalls and retries)."})
	reg.MustRegister(m.resultErrors)
	m.assigned = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "closesink", Name: "assigned_partitions",
		Help: "Source partitions this instance owns now."})
	m.partitions = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "closesink", Name: "source_partitions",
		Help: "Partitions of the source topic; the group's rate budget is split by this number."})
	reg.MustRegister(m.consumed, m.outcomes, m.attempts, m.retries, m.phoneIssues, m.actions, m.dlqErrors, m.deliverySecs, m.commits,
		m.assigned, m.partitions)
	return m
}

// Consumed counts a record taken for processing.
func (m *Metrics) Consumed() {
	if m != nil {
		m.consumed.Inc()
	}
}

// Outcome counts a final outcome; reason is the drop reason or DLQ class.
func (m *Metrics) Outcome(outcome, reason string) {
	if m != nil {
		m.outcomes.WithLabelValues(outcome, reason).Inc()
	}
}

// Delivery records one finished delivery: attempts made and seconds taken.
func (m *Metrics) Delivery(attempts int, seconds float64) {
	if m == nil {
		return
	}
	if attempts > 1 {
		m.retries.Add(float64(attempts - 1))
	}
	m.deliverySecs.Observe(seconds)
}

// Request counts one HTTP request to Close by status (0 = no response).
func (m *Metrics) Request(status int) {
	if m != nil {
		m.attempts.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}

// PhoneLeftOut counts a lead created without its unusable phone.
func (m *Metrics) PhoneLeftOut(reason string) {
	if m != nil {
		m.phoneIssues.WithLabelValues(reason).Inc()
	}
}

// DeliveredAction counts a delivered lead event by its action.
func (m *Metrics) DeliveredAction(action string) {
	if m != nil {
		m.actions.WithLabelValues(action).Inc()
	}
}

// DLQError counts a failed dead-letter write attempt.
func (m *Metrics) DLQError() {
	if m != nil {
		m.dlqErrors.Inc()
	}
}

// ResultsError counts a failed results-topic write attempt.
func (m *Metrics) ResultsError() {
	if m != nil {
		m.resultErrors.Inc()
	}
}

// Commit counts a successful offset commit.
func (m *Metrics) Commit() {
	if m != nil {
		m.commits.Inc()
	}
}

// Assigned adds delta (negative on revoke/lose) to the owned partitions.
func (m *Metrics) Assigned(delta int) {
	if m != nil {
		m.assigned.Add(float64(delta))
	}
}

// SourcePartitions records the source topic's partition count.
func (m *Metrics) SourcePartitions(n int) {
	if m != nil {
		m.partitions.Set(float64(n))
	}
}

// Snapshot is a point-in-time copy of the counters, for the summary log line.
type Snapshot struct {
	Consumed         int64
	Delivered        int64
	Dropped          map[string]int64 // by reason
	DeadLettered     map[string]int64 // by class
	Retries          int64
	Commits          int64
	Assigned         int64 // partitions owned now
	SourcePartitions int64
}

// Snapshot reads the counters.
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{Dropped: map[string]int64{}, DeadLettered: map[string]int64{}}
	if m == nil {
		return s
	}
	s.Consumed = counterValue(m.consumed)
	s.Retries = counterValue(m.retries)
	s.Commits = counterValue(m.commits)
	s.Assigned = gaugeValue(m.assigned)
	s.SourcePartitions = gaugeValue(m.partitions)
	ch := make(chan prometheus.Metric, 64)
	go func() { m.outcomes.Collect(ch); close(ch) }()
	for metric := range ch {
		var d dto.Metric
		if metric.Write(&d) != nil {
			continue
		}
		var outcome, reason string
		for _, l := range d.GetLabel() {
			switch l.GetName() {
			case "outcome":
				outcome = l.GetValue()
			case "reason":
				reason = l.GetValue()
			}
		}
		v := int64(d.GetCounter().GetValue())
		switch outcome {
		case pipeline.Delivered.String():
			s.Delivered += v
		case pipeline.Dropped.String():
			s.Dropped[reason] += v
		case pipeline.DeadLettered.String():
			s.DeadLettered[reason] += v
		}
	}
	return s
}

func counterValue(c prometheus.Counter) int64 {
	var d dto.Metric
	if c.Write(&d) != nil {
		return 0
	}
	return int64(d.GetCounter().GetValue())
}

func gaugeValue(g prometheus.Gauge) int64 {
	var d dto.Metric
	if g.Write(&d) != nil {
		return 0
	}
	return int64(d.GetGauge().GetValue())
}
