package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
)

// Live is what a running closesink served: its /metrics parsed, and the
// status of each probe path.
type Live struct {
	Families map[string]*dto.MetricFamily
	Probes   map[string]int // path -> HTTP status
	Records  int            // records produced and finished
}

// RunLive runs the real service (internal/service.Run, what `closesink run`
// runs) with the manifests' configuration, on an in-process Kafka (kfake)
// with the source and dead-letter topics and the Close emulator on
// loopback. Only the addresses change: brokers, Close URL and a free
// loopback port for metrics_addr. It produces every sample event (leads,
// drops, malformed records, a lead Close rejects), waits until each has
// its final outcome and /readyz answers 200, then reads /metrics and the
// probes, and stops the service.
func RunLive(cfg config.Config, partitions int, timeout time.Duration) (*Live, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), cfg.Topic, cfg.DLQTopic))
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	defer cluster.Close()

	faults, err := samples.CloseStatusForEmail()
	if err != nil {
		return nil, err
	}
	emu := closeemu.New(closeemu.Config{APIKeys: []string{cfg.APIKey}})
	emu.SetFaults(closeemu.Faults{StatusForEmail: faults})
	closeSrv := httptest.NewServer(emu)
	defer closeSrv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	metricsAddr := ln.Addr().String()
	_ = ln.Close()

	cfg.Brokers = cluster.ListenAddrs()
	cfg.CloseURL = closeSrv.URL
	cfg.MetricsAddr = metricsAddr
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	recs, err := samples.Records(cfg.Topic, 0)
	if err != nil {
		return nil, err
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce samples: %w", err)
	}

	var finished atomic.Int64
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- service.Run(runCtx, cfg, zap.NewNop(), service.Options{
			OnOutcome: func(*kgo.Record, pipeline.Outcome) { finished.Add(1) },
		})
	}()

	base := "http://" + metricsAddr
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, []byte, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	var lastReady string
	for {
		if finished.Load() >= int64(len(recs)) {
			if st, body, err := get("/readyz"); err == nil && st == http.StatusOK {
				break
			} else {
				lastReady = fmt.Sprintf("%d %s %v", st, strings.TrimSpace(string(body)), err)
			}
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("closesink stopped early: %v", err)
		case <-ctx.Done():
			return nil, fmt.Errorf("after %s: %d of %d records finished; last /readyz: %s", timeout, finished.Load(), len(recs), lastReady)
		case <-time.After(50 * time.Millisecond):
		}
	}

	live := &Live{Probes: map[string]int{}, Records: len(recs)}
	for _, p := range []string{LivenessPath, ReadinessPath} {
		st, _, err := get(p)
		if err != nil {
			return nil, err
		}
		live.Probes[p] = st
	}
	st, body, err := get("/metrics")
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d %v", st, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	live.Families, err = parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}

	stop()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("closesink stop: %w", err)
		}
	case <-time.After(cfg.ShutdownTimeout + 15*time.Second):
		return nil, errors.New("closesink did not stop")
	}
	return live, nil
}

// Series says whether the metric name (as a query names it) exists in
// /metrics: a counter or gauge by its name, a histogram by name_bucket,
// name_sum and name_count, a summary by name, name_sum and name_count. It
// returns the family it belongs to.
func (l *Live) Series(name string) (*dto.MetricFamily, bool) {
	if f, ok := l.Families[name]; ok {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			return nil, false // a classic histogram has no series of its bare name
		}
		return f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		f, ok := l.Families[base]
		if !ok {
			continue
		}
		switch t := f.GetType(); {
		case t == dto.MetricType_HISTOGRAM || t == dto.MetricType_GAUGE_HISTOGRAM:
			return f, true
		case t == dto.MetricType_SUMMARY && suffix != "_bucket":
			return f, true
		}
	}
	return nil, false
}

// LabelValues lists the values label takes on the family's series (the
// le label of histogram buckets included), and whether it exists at all.
func LabelValues(f *dto.MetricFamily, label string) (map[string]bool, bool) {
	vals := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				vals[lp.GetValue()] = true
			}
		}
	}
	if label == "le" && (f.GetType() == dto.MetricType_HISTOGRAM) {
		return vals, true
	}
	return vals, len(vals) > 0
}
