//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// apiKey is the key the emulator accepts unless a scenario revokes it.
const apiKey = "api_e2e_key"

// suite is one scenario's world: the real broker, the Close emulator served
// from this process, and the closesink processes it starts.
type suite struct {
	t     *testing.T
	root  string // repository root
	bin   string // bin/closesink
	b     *kafkatest.Backend
	adm   *kadm.Client
	emu   *closeemu.Server
	url   string
	calls *callLog
	rng   *rand.Rand
	seed  uint64
}

// newSuite checks the prerequisites (failing, never skipping, when one is
// missing: a fault suite that silently skips proves nothing) and starts the
// emulator.
func newSuite(t *testing.T) *suite {
	t.Helper()
	return newSuiteWith(t, closeemu.Config{})
}

// newSuiteWith is newSuite with an emulator configured as emu (its API keys
// are the suite's).
func newSuiteWith(t *testing.T, emu closeemu.Config) *suite {
	t.Helper()
	if strings.TrimSpace(os.Getenv(kafkatest.EnvBrokers)) == "" {
		t.Fatalf("%s is not set: the fault suite needs a real broker; run `make test-e2e` "+
			"(it starts scripts/kafka-local.sh) or export %s=127.0.0.1:19092", kafkatest.EnvBrokers, kafkatest.EnvBrokers)
	}
	root := repoRoot(t)
	bin := filepath.Join(root, "bin", "closesink")
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		t.Fatalf("%s is missing: run `make build` first (or `make test-e2e`, which builds it)", bin)
	}
	s := &suite{t: t, root: root, bin: bin, calls: &callLog{}}
	s.seed = seed(t)
	s.rng = rand.New(rand.NewPCG(s.seed, 0xe2e))
	s.b = kafkatest.Start(t)
	s.adm = s.b.Admin(t)
	emu.APIKeys = []string{apiKey}
	s.emu = closeemu.New(emu)
	srv := httptest.NewServer(s.calls.wrap(s.emu))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	s.url = srv.URL
	return s
}

// seed is E2E_SEED when set, else the clock; it is logged so a failing run
// can be repeated with the same kill moments and storm phases.
func seed(t *testing.T) uint64 {
	v := uint64(time.Now().UnixNano())
	if env := os.Getenv("E2E_SEED"); env != "" {
		n, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED=%q: %v", env, err)
		}
		v = n
	}
	t.Logf("seed %d (set E2E_SEED=%d to repeat)", v, v)
	return v
}

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// topics creates a source topic and its dead-letter topic (both removed at
// the end) and a unique group name.
func (s *suite) topics(partitions, dlqPartitions int32) (topic, dlq, group string) {
	s.t.Helper()
	return s.b.CreateTopic(s.t, partitions), s.b.CreateTopic(s.t, dlqPartitions), kafkatest.UniqueName(s.t, "grp")
}

// producer returns a client that writes each record to its own Partition.
// Its batches stay within franz-go's default 1,000,012 bytes, under the
// broker's message.max.bytes, so a 960 KB record travels alone.
func (s *suite) producer() *kgo.Client {
	return s.b.NewClient(s.t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// runArgs are the flags of `closesink run` against this suite's broker and
// emulator; extra flags come last and win.
func (s *suite) runArgs(topic, dlq, group string, extra ...string) []string {
	args := []string{"run", "--brokers", strings.Join(s.b.Brokers, ","), "--topic", topic, "--dlq-topic", dlq,
		"--group", group, "--close-url", s.url, "--metrics-addr", "127.0.0.1:0", "--log-format", "json",
		"--rate", "1000", "--burst", "100"}
	return append(args, extra...)
}

// waitFor polls cond every 50 ms until it returns "" and fails the test with
// its last answer after timeout (kafkatest.Eventually with a deadline of the
// caller's choosing: a backlog behind a slow Close takes longer than 60 s).
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after %s", what, msg, timeout)
		}
		time.Sleep(50 * time.Millisecond) // the poll interval, not a wait for the condition
	}
}

// lagIs0 is a waitFor condition: the group has committed every end offset.
func (s *suite) lagIs0(group, topic string, procs ...*proc) func() string {
	return func() string {
		for _, p := range procs {
			if p.exited() {
				s.t.Fatalf("%s exited while the test waited: %v\n%s", p.name, p.err, p.tail(40))
			}
		}
		return kafkatest.Lag(s.t, s.adm, group, topic)
	}
}

// committed returns the group's committed offset of topic/partition (0 when none).
func (s *suite) committed(group, topic string, partition int32) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := s.adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		s.t.Fatalf("committed offsets of %s: %v", group, err)
	}
	if o, ok := offs.Lookup(topic, partition); ok && o.Err == nil && o.At > 0 {
		return o.At
	}
	return 0
}

// callLog records the span of every POST /api/v1/lead/ the emulator serves,
// so the in-flight requests at any instant (a kill) can be counted later.
type callLog struct {
	mu    sync.Mutex
	spans []span
}

type span struct{ start, end time.Time } // end is zero while in progress

func (c *callLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/api/v1/lead") {
			h.ServeHTTP(w, r)
			return
		}
		c.mu.Lock()
		i := len(c.spans)
		c.spans = append(c.spans, span{start: time.Now()})
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.spans[i].end = time.Now()
			c.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// inFlightAt counts the lead requests a client killed at instant at may not
// have seen the end of: those started before it and not answered more than
// settle before it (an answer that arrived just before the kill may not have
// been committed yet; committing takes a few milliseconds on a local broker,
// so settle is a generous bound).
func (c *callLog) inFlightAt(at time.Time, settle time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, sp := range c.spans {
		if !sp.start.After(at) && (sp.end.IsZero() || sp.end.After(at.Add(-settle))) {
			n++
		}
	}
	return n
}

// readRSS returns a process's current and peak resident set size in bytes
// (VmRSS and VmHWM of /proc/<pid>/status).
func readRSS(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %q: %w", k, v, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}
