package service_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/pkg/closeemu"
)

// /metrics and /healthz of a running service answer over HTTP, and after
// a lead was delivered and another dead-lettered no label or value carries
// the API key (nor its Basic encoding) or a lead's email.
func TestMetricsEndpointsServeAndLeakNothing(t *testing.T) {
	const delivered, rejected = "jane.doe@acme.com", "blocked.buyer@rejected.example"
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{StatusForEmail: map[string]int{rejected: 422}})
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)).Named("a")
	h.start(memberOpts{name: "a", logger: log, cfg: func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" }})
	h.produceLeads(0, delivered, rejected)
	eventually(t, "both leads final and committed", h.lag)
	if n := len(h.readDLQ(1)); n != 1 {
		t.Fatalf("%d dead letters", n)
	}
	serving := logs.FilterMessage("serving metrics").All()
	if len(serving) != 1 {
		t.Fatalf("%d \"serving metrics\" log lines, want 1", len(serving))
	}
	addr, _ := serving[0].ContextMap()["addr"].(string)

	metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`closesink_records_outcome_total{outcome="delivered"`, `closesink_records_outcome_total{outcome="dead_lettered"`,
		"closesink_records_consumed_total 2", "closesink_close_requests_total", "closesink_offset_commits_total",
		"closesink_assigned_partitions 1", "closesink_source_partitions 1",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	healthz := get(t, "http://"+addr+"/healthz")
	if !strings.HasPrefix(healthz, "ok") {
		t.Errorf("/healthz answered %q", healthz)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(goodKey + ":"))
	for _, secret := range []string{goodKey, basic, delivered, rejected, "acme.com", "rejected.example"} {
		if strings.Contains(metrics, secret) || strings.Contains(healthz, secret) {
			t.Errorf("/metrics or /healthz carries %q", secret)
		}
	}
}

// get fetches url and fails the test unless it answers 200.
func get(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}
