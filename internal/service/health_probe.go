package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/internal/config"
)

// HealthTuning adjusts the readiness checks; the zero value keeps the
// defaults. Tests use it for a fast probe and an injected clock.
type HealthTuning struct {
	// ProbeInterval is how often the source topic's metadata is read
	// (default: a third of --not-ready-after, at most 5s).
	ProbeInterval time.Duration
	// KeyRecheck is how often a rejected key is tried again with GET
	// /api/v1/me/ (default 30s), so a key Close accepts again makes the
	// member ready even when no lead arrives.
	KeyRecheck time.Duration
	// Now is the clock of the thresholds (nil: time.Now).
	Now func() time.Time
}

// Fallbacks of HealthTuning.
const (
	maxProbeInterval  = 5 * time.Second
	defaultKeyRecheck = 30 * time.Second
)

// healthProbe asks Kafka every interval whether the source topic exists:
// an answer proves the brokers reachable (readiness turns off after
// --not-ready-after without one), and a missing topic is what the worker
// otherwise never notices (its fetches just stop). While Close rejects the
// key it also rechecks the key now and then.
type healthProbe struct {
	h          *health
	cl         *kgo.Client
	dc         *delivery.Client
	topic      string
	log        *zap.Logger
	every      time.Duration
	keyRecheck time.Duration
}

func (p *healthProbe) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	wasReady, lastKeyCheck := false, time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.checkTopic(ctx)
		if p.h.keyRejected() && time.Since(lastKeyCheck) >= p.keyRecheck {
			lastKeyCheck = time.Now()
			if err := p.dc.CheckKey(ctx); err == nil {
				p.log.Info("Close accepts the API key again")
				p.h.closeStatus(200)
			}
		}
		ready, why := p.h.ready()
		switch {
		case ready && !wasReady:
			p.log.Info("ready")
		case !ready && wasReady && ctx.Err() == nil:
			p.log.Warn("not ready", zap.String("reasons", strings.Join(why, "; ")))
		}
		wasReady = ready
	}
}

// checkTopic reads the source topic's metadata once, bounded by the probe
// interval. No answer leaves the last one standing (and the clock running).
func (p *healthProbe) checkTopic(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.every)
	defer cancel()
	details, err := kadm.NewClient(p.cl).ListTopics(ctx, p.topic)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			p.log.Debug("health probe: no answer from Kafka", zap.Error(err))
		}
		return
	}
	d, missing := topicAbsent(details, p.topic)
	if !missing && d.Err != nil {
		// An answer, so Kafka is reachable, but not about the topic
		// (e.g. authorization): keep the topic's last state.
		p.log.Warn("health probe: cannot describe the source topic", zap.String("topic", p.topic), zap.Error(d.Err))
		p.h.brokerAnswered(!p.h.topicMissing())
		return
	}
	if missing && !p.h.topicMissing() {
		p.log.Error("the source topic no longer exists: nothing will be consumed until it is created again; not ready",
			zap.String("topic", p.topic))
	} else if !missing && p.h.topicMissing() {
		p.log.Info("the source topic exists again", zap.String("topic", p.topic))
	}
	p.h.brokerAnswered(!missing)
}

func (h *health) topicMissing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topicGone
}

// probeEvery is the probe interval for a --not-ready-after threshold: at
// least three probes fit in the threshold, so one slow answer never flips
// readiness.
func probeEvery(notReadyAfter time.Duration, t HealthTuning) time.Duration {
	if t.ProbeInterval > 0 {
		return t.ProbeInterval
	}
	return max(10*time.Millisecond, min(maxProbeInterval, notReadyAfter/3))
}

// notReadyAfter is --not-ready-after, its default when unset.
func notReadyAfter(cfg config.Config) time.Duration {
	if cfg.NotReadyAfter > 0 {
		return cfg.NotReadyAfter
	}
	return config.DefaultNotReadyAfter
}

// watchHealth marks the member stopping when ctx ends and runs the probe
// until then; the returned func ends the probe and waits for it.
func watchHealth(ctx context.Context, h *health, cl *kgo.Client, dc *delivery.Client, cfg config.Config, log *zap.Logger, t HealthTuning) func() {
	stop := context.AfterFunc(ctx, h.setStopping)
	keyRecheck := t.KeyRecheck
	if keyRecheck <= 0 {
		keyRecheck = defaultKeyRecheck
	}
	p := &healthProbe{h: h, cl: cl, dc: dc, topic: cfg.Topic, log: log.Named("health"),
		every: probeEvery(notReadyAfter(cfg), t), keyRecheck: keyRecheck}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.run(pctx) }()
	return func() { cancel(); <-done; stop() }
}
