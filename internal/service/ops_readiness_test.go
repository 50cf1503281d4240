package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// probed is a member whose /readyz and /healthz a test can ask.
type probed struct {
	*member
	addr atomic.Value // string: where /readyz is served
}

// startProbed starts a member serving its probes on a loopback port, with
// a fast health probe (every 20ms) and Kafka deemed unreachable after
// notReadyAfter without an answer.
func (h *harness) startProbed(name string, notReadyAfter time.Duration) *probed {
	h.t.Helper()
	p := &probed{}
	p.member = h.start(memberOpts{name: name,
		cfg: func(c *config.Config) { c.MetricsAddr, c.NotReadyAfter = "127.0.0.1:0", notReadyAfter },
		opts: service.Options{
			OnMetricsServing: func(a string) { p.addr.Store(a) },
			Health:           service.HealthTuning{ProbeInterval: 20 * time.Millisecond, KeyRecheck: 20 * time.Millisecond},
		}})
	return p
}

// get returns path's status and body ("" and 0 while not serving yet).
func (p *probed) get(path string) (int, string) {
	a, _ := p.addr.Load().(string)
	if a == "" {
		return 0, ""
	}
	resp, err := http.Get("http://" + a + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// await polls path until it answers code with a body holding has.
func (p *probed) await(t *testing.T, path string, code int, has string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s %s answering %d %q", p.name, path, code, has), func() string {
		if got, body := p.get(path); got != code || !strings.Contains(body, has) {
			return fmt.Sprintf("%d %q", got, body)
		}
		return ""
	})
}

// Two members, one partition: both are ready once the group has assigned
// (one of them owns nothing, which is normal in a group larger than the
// topic), and both are live.
func TestReadyOnceJoinedEvenWithoutPartitions(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	a := h.startProbed("a", 30*time.Second)
	a.await(t, "/readyz", 200, "ready: in the group")
	b := h.startProbed("b", 30*time.Second)
	eventually(t, "both ready, one owning the partition", func() string {
		ca, ba := a.get("/readyz")
		cb, bb := b.get("/readyz")
		if ca != 200 || cb != 200 || !(strings.Contains(ba, " 0 partition") != strings.Contains(bb, " 0 partition")) {
			return fmt.Sprintf("a %d %q, b %d %q", ca, ba, cb, bb)
		}
		return ""
	})
	a.await(t, "/healthz", 200, "ok: the poll loop turned")
	b.await(t, "/healthz", 200, "ok: the poll loop turned")
}

// From the stop signal on, the member is not ready, while it is still
// finishing the request in flight (and serving its probes).
func TestNotReadyWhileStopping(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{LatencyAfterCreate: 3 * time.Second})
	a := h.startProbed("a", 30*time.Second)
	a.await(t, "/readyz", 200, "ready")
	h.produceLeads(0, "slow@x.com")
	eventually(t, "the create on the wire", func() string {
		if s := h.emu.Stats(); s.Created != 1 {
			return fmt.Sprintf("created %d", s.Created)
		}
		return ""
	})
	a.cancel() // the signal; the request in flight goes on
	a.await(t, "/readyz", 503, "stopping")
	a.stop(t)
	if h.emu.Stats().Created != 1 || h.at(0) != 1 {
		t.Fatalf("the stop must finish and commit the create: created %d, committed %d", h.emu.Stats().Created, h.at(0))
	}
}

// A revoked key makes the member not ready as soon as Close answers 401
// (the lead is dead-lettered); when Close accepts the key again, the
// recheck (GET /api/v1/me/) makes it ready without waiting for a lead.
func TestNotReadyWhileCloseRejectsTheKey(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	a := h.startProbed("a", 30*time.Second)
	a.await(t, "/readyz", 200, "ready")
	h.emu.RevokeKey(goodKey)
	h.produceLeads(0, "revoked@x.com")
	a.await(t, "/readyz", 503, "Close rejects the API key (HTTP 401)")
	h.emu.AddKey(goodKey)
	a.await(t, "/readyz", 200, "ready")
	a.await(t, "/healthz", 200, "ok")
	if d := h.readDLQ(1); header(d[0], "closesink.error.status") != "401" {
		t.Fatalf("dead letter status %q", header(d[0], "closesink.error.status"))
	}
}

// A source topic deleted under a running member: the periodic metadata
// check sees it and readiness turns off (the worker itself would just go
// quiet); the member stays live.
func TestNotReadyWhenTheSourceTopicIsDeleted(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	a := h.startProbed("a", 30*time.Second)
	a.await(t, "/readyz", 200, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := h.adm.DeleteTopic(ctx, h.topic); err != nil {
		t.Fatal(err)
	}
	a.await(t, "/readyz", 503, "source topic "+h.topic+" does not exist")
	a.await(t, "/healthz", 200, "ok")
}

// Kafka unreachable (kfake: every metadata request fails) for longer than
// --not-ready-after: not ready, saying so; once it answers: ready again.
func TestNotReadyWhileKafkaIsUnreachable(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	if h.b.Fake == nil {
		t.Skip("needs kfake to cut Kafka off")
	}
	var down atomic.Bool
	h.b.Fake.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !down.Load() {
			return nil, nil, false
		}
		h.b.Fake.KeepControl()
		return nil, errors.New("unreachable"), true // closes the connection
	})
	a := h.startProbed("a", 300*time.Millisecond)
	a.await(t, "/readyz", 200, "ready")
	down.Store(true)
	a.await(t, "/readyz", 503, "Kafka unreachable for")
	a.await(t, "/healthz", 200, "ok")
	down.Store(false)
	a.await(t, "/readyz", 200, "ready")
}
