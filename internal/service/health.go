package service

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/internal/config"
)

// health is the state behind /readyz and /healthz (README, "Readiness and
// liveness"). Readiness says whether this member does useful work now: it
// has joined the group, is not stopping, reaches Kafka, the source topic
// exists and Close accepts the key. Liveness says only whether the process
// is wedged: its poll loop has stopped turning. An idle member, a member
// whose broker is down or whose key is revoked is live: restarting it
// would not help, and the readiness reasons say what would.
//
// Every input is a method called by the consumer, the delivery client or
// the probe (health_probe.go); the verdicts read an injected clock, so the
// thresholds are tested without sleeping. Safe for concurrent use.
type health struct {
	now           func() time.Time
	notReadyAfter time.Duration // Kafka unreachable this long: not ready
	wedgedAfter   time.Duration // no poll-loop turn this long: not live

	mu         sync.Mutex
	joined     bool
	partitions int // assigned to this member now
	stopping   bool
	brokerOK   time.Time // last answer from Kafka (start: the start-up check)
	topicGone  bool
	topic      string
	keyStatus  int // 401 or 403 while Close rejects the key, else 0
	lastPoll   time.Time
}

func newHealth(now func() time.Time, topic string, notReadyAfter, wedgedAfter time.Duration) *health {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &health{now: now, topic: topic, notReadyAfter: notReadyAfter, wedgedAfter: wedgedAfter, brokerOK: t, lastPoll: t}
}

// livenessTimeout is how long the poll loop may stand still before the
// process counts as wedged. A healthy loop turns every
// consumer.DefaultPollTimeout; it waits longer only while a rebalance
// callback runs, and those wait for in-flight work: a request (at most
// request_timeout, below shutdown_timeout), a dead-letter produce and the
// commit (CommitTimeout). Twice that, and never under two minutes, so a
// slow rebalance never gets a healthy pod killed.
func livenessTimeout(cfg config.Config) time.Duration {
	return max(2*time.Minute, 2*(cfg.ShutdownTimeout+consumer.DefaultCommitTimeout+consumer.DefaultPollTimeout))
}

// assigned records an assignment (possibly empty): the member is in the group.
func (h *health) assigned(n int) {
	h.mu.Lock()
	h.joined = true
	h.partitions += n
	h.mu.Unlock()
}

// released records partitions revoked or lost. A loss (session expired)
// means the member must rejoin; until its next assignment it is not ready.
func (h *health) released(n int, lost bool) {
	h.mu.Lock()
	h.partitions = max(0, h.partitions-n)
	if lost {
		h.joined = false
	}
	h.mu.Unlock()
}

func (h *health) setStopping() {
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
}

// brokerAnswered records an answer from Kafka; topicExists is what it said
// about the source topic.
func (h *health) brokerAnswered(topicExists bool) {
	h.mu.Lock()
	h.brokerOK = h.now()
	h.topicGone = !topicExists
	h.mu.Unlock()
}

// closeStatus records the status of a request to Close: 401 and 403 mean
// the key is rejected, a 2xx that it works again; anything else (5xx, 429,
// no answer, 400 for a bad lead) says nothing about the key.
func (h *health) closeStatus(status int) {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		h.mu.Lock()
		h.keyStatus = status
		h.mu.Unlock()
	case status >= 200 && status < 300:
		h.mu.Lock()
		h.keyStatus = 0
		h.mu.Unlock()
	}
}

func (h *health) keyRejected() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keyStatus != 0
}

// polled records a turn of the poll loop.
func (h *health) polled() {
	t := h.now()
	h.mu.Lock()
	h.lastPoll = t
	h.mu.Unlock()
}

// ready reports readiness and, when not ready, every reason.
func (h *health) ready() (bool, []string) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	var why []string
	if h.stopping {
		why = append(why, "stopping")
	}
	if !h.joined {
		why = append(why, "not (or no longer) a member of the consumer group: joining")
	}
	if d := now.Sub(h.brokerOK); d > h.notReadyAfter {
		why = append(why, fmt.Sprintf("Kafka unreachable for %s (over %s)", d.Round(time.Second), h.notReadyAfter))
	}
	if h.topicGone {
		why = append(why, fmt.Sprintf("source topic %s does not exist", h.topic))
	}
	if h.keyStatus != 0 {
		why = append(why, fmt.Sprintf("Close rejects the API key (HTTP %d); leads are dead-lettered", h.keyStatus))
	}
	return len(why) == 0, why
}

// live reports liveness and why.
func (h *health) live() (bool, string) {
	now := h.now()
	h.mu.Lock()
	d := now.Sub(h.lastPoll)
	h.mu.Unlock()
	if d > h.wedgedAfter {
		return false, fmt.Sprintf("wedged: the poll loop has not turned for %s (limit %s)", d.Round(time.Second), h.wedgedAfter)
	}
	return true, fmt.Sprintf("ok: the poll loop turned %s ago", d.Round(time.Millisecond))
}

// serveReady answers /readyz: 200 "ready ..." or 503 "not ready" with one
// reason per line.
func (h *health) serveReady(w http.ResponseWriter, _ *http.Request) {
	ok, why := h.ready()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ok {
		h.mu.Lock()
		n := h.partitions
		h.mu.Unlock()
		_, _ = fmt.Fprintf(w, "ready: in the group with %d partition(s) of %s\n", n, h.topic)
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = fmt.Fprintf(w, "not ready:\n- %s\n", strings.Join(why, "\n- "))
}

// serveLive answers /healthz: 200 while the poll loop turns, else 503.
func (h *health) serveLive(w http.ResponseWriter, _ *http.Request) {
	ok, why := h.live()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = fmt.Fprintln(w, why)
}
