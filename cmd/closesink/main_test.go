package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// TestMain lets tests run this test binary as the closesink command
// (CLOSESINK_TEST_MAIN=1), so exit codes and signals are tested for real
// without a separate build step.
func TestMain(m *testing.M) {
	if os.Getenv("CLOSESINK_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer the test may read while the child writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code   int
	stdout string
	stderr string
}

// closesink starts the command with args and env (nothing else from the
// test's environment leaks in but PATH and HOME).
func closesink(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append([]string{"CLOSESINK_TEST_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &out, &errb
}

func runToEnd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd, out, errb := closesink(t, env, args...)
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestRunBadConfigurationExits2(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no brokers", nil, []string{"run", "--topic", "t"}, "brokers"},
		{"no topic", []string{"CLOSESINK_BROKERS=127.0.0.1:9"}, []string{"run"}, "topic"},
		{"no key", []string{"CLOSESINK_BROKERS=127.0.0.1:9", "CLOSESINK_TOPIC=t"}, []string{"run"}, "CLOSE_API_KEY"},
		{"bad rate", []string{"CLOSE_API_KEY=api_x"}, []string{"run", "--brokers", "h:1", "--topic", "t", "--rate", "-1"}, "rate"},
		{"unknown flag", nil, []string{"run", "--api-key", "api_x"}, "unknown flag"},
		{"missing config file", nil, []string{"run", "--config", "/nonexistent.yaml"}, "/nonexistent.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runToEnd(t, tc.env, tc.args...)
			if r.code != exitConfig || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestRunUnreachableBrokerExits1(t *testing.T) {
	r := runToEnd(t, []string{"CLOSE_API_KEY=api_x"}, "run", "--brokers", "127.0.0.1:1", "--topic", "leads")
	if r.code != exitFailure || !strings.Contains(r.stderr, "cannot reach Kafka") || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestRunMissingTopicExits2(t *testing.T) {
	b := kafkatest.Start(t)
	topic := b.CreateTopic(t, 1) // the DLQ (topic.dlq) does not exist
	r := runToEnd(t, []string{"CLOSE_API_KEY=api_x", "CLOSESINK_BROKERS=" + strings.Join(b.Brokers, ","), "CLOSESINK_TOPIC=" + topic}, "run")
	if r.code != exitConfig || !strings.Contains(r.stderr, topic+".dlq") || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestRunRejectedKeyExits2(t *testing.T) {
	b := kafkatest.Start(t)
	srv := httptest.NewServer(closeemu.New(closeemu.Config{APIKeys: []string{"api_good"}}))
	defer srv.Close()
	topic, _ := sourceAndDLQ(t, b, 1)
	r := runToEnd(t, []string{"CLOSE_API_KEY=api_revokedKey123"}, "run", "--brokers", strings.Join(b.Brokers, ","),
		"--topic", topic, "--close-url", srv.URL)
	if r.code != exitConfig || !strings.Contains(r.stderr, "Close rejected the API key") || !strings.Contains(r.stderr, "401") ||
		strings.Contains(r.stderr, "api_revokedKey123") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// The service delivers the product page's example, then stops on SIGTERM
// with exit 0; the API key and the email never appear in its output.
func TestRunDeliversSeedAndStopsOnSIGTERM(t *testing.T) {
	const key = "api_SeCrEtKeyThatMustNotLeak123"
	b := kafkatest.Start(t)
	emu := closeemu.New(closeemu.Config{APIKeys: []string{key}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	topic, adm := sourceAndDLQ(t, b, 2)
	cl := b.NewClient(t)
	kafkatest.Produce(t, cl, &kgo.Record{Topic: topic, Value: []byte(`{"type":"track","event":"Lead Submitted",
		"traits":{"email":"jane.doe@acme.com","firstName":"Jane","lastName":"Doe","company":"Acme Inc"},
		"context":{"consent":{"marketing":true}}}`)})
	group := kafkatest.UniqueName(t, "grp")
	cmd, _, errb := closesink(t, []string{"CLOSE_API_KEY=" + key}, "run", "--brokers", strings.Join(b.Brokers, ","),
		"--topic", topic, "--group", group, "--close-url", srv.URL, "--log-format", "json")
	kafkatest.Eventually(t, "lead delivered and committed", func() string {
		if n := len(emu.Leads()); n != 1 {
			return fmt.Sprintf("%d leads in Close", n)
		}
		return kafkatest.Lag(t, adm, group, topic)
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	logs := errb.String()
	for _, secret := range []string{key, "jane.doe@acme.com"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	for _, want := range []string{`"closesink starting"`, `"lead delivered"`, `"closesink stopped"`, `"api_key":"(set)"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// A second signal exits at once with code 1 even while a request to Close is
// in flight, and commits nothing that is not final.
func TestRunSecondSignalExitsAtOnce(t *testing.T) {
	b := kafkatest.Start(t)
	emu := closeemu.New(closeemu.Config{APIKeys: []string{"api_k"}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer srv.CloseClientConnections()
	topic, adm := sourceAndDLQ(t, b, 1)
	group := kafkatest.UniqueName(t, "grp")
	cmd, _, errb := closesink(t, []string{"CLOSE_API_KEY=api_k"}, "run", "--brokers", strings.Join(b.Brokers, ","),
		"--topic", topic, "--group", group, "--close-url", srv.URL, "--shutdown-timeout", "30s")
	// Once the start-up key check is answered and the partition assigned,
	// Close turns slow and the lead arrives: its request stays in flight.
	kafkatest.Eventually(t, "started", func() string {
		if emu.Stats().ByStatus[200] == 0 || !strings.Contains(errb.String(), "partitions assigned") {
			return "not started"
		}
		return ""
	})
	emu.SetFaults(closeemu.Faults{Latency: time.Hour})
	kafkatest.Produce(t, b.NewClient(t), &kgo.Record{Topic: topic, Value: []byte(`{"type":"track","event":"Lead Submitted",
		"traits":{"email":"a@x.com"},"context":{"consent":{"marketing":true}}}`)})
	kafkatest.Eventually(t, "lead request in flight", func() string {
		if s := emu.Stats(); s.Requests < 2 {
			return "no lead request yet"
		}
		return ""
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The second signal must arrive after the first was handled: wait for
	// the log line that says the graceful stop began.
	kafkatest.Eventually(t, "graceful stop begun", func() string {
		if !strings.Contains(errb.String(), "stopping gracefully") {
			return "no stop logged"
		}
		return ""
	})
	began := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("exit after second signal: %v\n%s", err, errb.String())
	}
	// A hang (waiting out the 30s shutdown timeout or the hour-long
	// request) is what this catches; measured under -race on 2 loaded
	// cores, the exit takes well under 0.5s.
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("second signal took %s to exit", took)
	}
	if lag := kafkatest.Lag(t, adm, group, topic); lag == "" {
		t.Fatal("the in-flight record was committed though its outcome was never known")
	}
}

// sourceAndDLQ creates a source topic and its default dead-letter topic
// (<topic>.dlq), both removed when the test ends.
func sourceAndDLQ(t *testing.T, b *kafkatest.Backend, partitions int32) (string, *kadm.Client) {
	t.Helper()
	topic := b.CreateTopic(t, partitions)
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, topic+".dlq"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic+".dlq") })
	return topic, adm
}
