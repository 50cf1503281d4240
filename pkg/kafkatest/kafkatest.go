// Package kafkatest gives tests a Kafka cluster, chosen at run time, so one
// test suite runs unchanged on three backends:
//
//   - "external": KAFKA_BROKERS is set (comma-separated host:port list), so
//     tests use that cluster. CI sets it to a real Apache Kafka broker started
//     by scripts/kafka-local.sh.
//   - "testcontainers": otherwise, when a healthy Docker engine answers, a
//     real broker in a container started with testcontainers-go.
//   - "kfake": otherwise, franz-go's in-process fake cluster.
//
// KAFKATEST_BACKEND=kfake or KAFKATEST_BACKEND=testcontainers overrides the
// automatic choice when KAFKA_BROKERS is unset (e.g. kfake for fast local
// runs on a machine that has Docker).
//
// Every test gets its own topics and group names (CreateTopic, UniqueName)
// and cleans up after itself through t.Cleanup, so tests may share one
// cluster and run in parallel. No TestMain is needed.
package kafkatest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Backend names, as logged by Start and stored in Backend.Name.
const (
	NameExternal       = "external"
	NameTestcontainers = "testcontainers"
	NameKfake          = "kfake"
)

// Environment variables read by Start.
const (
	// EnvBrokers selects the external backend: a comma-separated list of
	// seed brokers, e.g. 127.0.0.1:19092.
	EnvBrokers = "KAFKA_BROKERS"
	// EnvBackend forces "kfake" or "testcontainers" when EnvBrokers is unset.
	EnvBackend = "KAFKATEST_BACKEND"
)

// Backend is a Kafka cluster a test can use. Its methods take the calling
// test so that everything they create is removed by t.Cleanup. A Backend is
// safe for concurrent use by parallel tests.
type Backend struct {
	// Name is "external", "testcontainers" or "kfake".
	Name string
	// Brokers are the seed brokers (host:port).
	Brokers []string
	// Fake is the in-process cluster when Name is "kfake", else nil. Tests
	// that inject faults through it only run on kfake and should t.Skip
	// when it is nil.
	Fake *kfake.Cluster
}

// Start returns the backend for this test run and logs which one it is
// ("kafka backend: NAME (BROKERS)"). It blocks until the cluster answers.
//
// The external and testcontainers backends are shared by every test in the
// process (they are expensive to start; per-test topics and groups keep
// tests apart). The kfake backend is a fresh in-process cluster per call,
// closed in t.Cleanup, which is cheap and leaves no goroutines behind.
// Start fails the test if KAFKA_BROKERS is set but the cluster does not
// answer: silently falling back would hide a broken CI setup.
// Call it from the test goroutine.
func Start(t testing.TB) *Backend {
	t.Helper()
	name, err := chooseBackend(os.Getenv, dockerHealthy)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	var b *Backend
	switch name {
	case NameExternal:
		b = startExternal(t)
	case NameTestcontainers:
		b = startTestcontainers(t)
	default:
		b = startKfake(t)
	}
	t.Logf("kafka backend: %s (%s)", b.Name, strings.Join(b.Brokers, ","))
	return b
}

// chooseBackend applies the selection rule. It is separate from Start so the
// rule is testable without a cluster; dockerOK is only called when needed
// because probing Docker takes time.
func chooseBackend(getenv func(string) string, dockerOK func() bool) (string, error) {
	if len(parseBrokers(getenv(EnvBrokers))) > 0 {
		return NameExternal, nil
	}
	switch forced := strings.TrimSpace(getenv(EnvBackend)); forced {
	case "":
	case NameKfake, NameTestcontainers:
		return forced, nil
	case NameExternal:
		return "", fmt.Errorf("%s=%s needs %s to name the cluster", EnvBackend, forced, EnvBrokers)
	default:
		return "", fmt.Errorf("%s=%q: want %q or %q", EnvBackend, forced, NameKfake, NameTestcontainers)
	}
	if dockerOK() {
		return NameTestcontainers, nil
	}
	return NameKfake, nil
}

// parseBrokers splits a comma-separated broker list, dropping blanks.
func parseBrokers(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
