package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/closesink/closesink/internal/metrics"
)

// serveMetrics serves /metrics, /healthz (liveness) and /readyz
// (readiness) on addr, and Go's /debug/pprof/ when withPProf; h nil
// answers both probes with a plain ok.
func serveMetrics(addr string, m *metrics.Metrics, log *zap.Logger, h *health, withPProf bool) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	if h != nil {
		mux.HandleFunc("/healthz", h.serveLive)
		mux.HandleFunc("/readyz", h.serveReady)
	} else {
		ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
		mux.HandleFunc("/healthz", ok)
		mux.HandleFunc("/readyz", ok)
	}
	if withPProf {
		// Registered by hand: importing net/http/pprof for its side effect
		// would put the profiles on http.DefaultServeMux, served nowhere.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// Timeouts so a slow or idle client cannot hold connections open: a
	// scrape is a small GET answered at once.
	// (A CPU profile must therefore be shorter than the write timeout: pprof
	// refuses ?seconds=30 or more.)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("serving metrics", zap.String("addr", ln.Addr().String()))
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// summarize logs one line per interval with the counters and the current
// delivery rate, so an operator can see the worker is alive without metrics.
func summarize(ctx context.Context, log *zap.Logger, m *metrics.Metrics, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var prev metrics.Snapshot // the service starts at zero
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := m.Snapshot()
		log.Info("summary",
			zap.Int64("consumed", s.Consumed), zap.Int64("delivered", s.Delivered),
			zap.Any("dropped", s.Dropped), zap.Any("dead_lettered", s.DeadLettered),
			zap.Int64("retries", s.Retries),
			zap.Float64("delivered_per_second", float64(s.Delivered-prev.Delivered)/every.Seconds()))
		prev = s
	}
}
