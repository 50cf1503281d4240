package kafkatest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// DefaultImage is the broker image for the testcontainers backend.
// testcontainers-go's Kafka module drives confluentinc/confluent-local
// images (its start script assumes their layout); the apache/kafka image
// would need a generic container with hand-written KRaft settings instead.
// Override it with KAFKATEST_IMAGE (a confluent-local tag, 7.4.0 or later).
const DefaultImage = "confluentinc/confluent-local:7.9.0"

// EnvImage overrides DefaultImage.
const EnvImage = "KAFKATEST_IMAGE"

const (
	containerStartTimeout = 3 * time.Minute
	dockerProbeTimeout    = 5 * time.Second
)

var docker struct {
	once    sync.Once
	healthy bool
	reason  string
}

// dockerHealthy reports, once per process, whether a Docker engine answers.
// testcontainers can panic while looking for a Docker host; that counts as
// "no Docker", never as a test failure.
func dockerHealthy() bool {
	docker.once.Do(func() {
		docker.healthy, docker.reason = probeDocker()
	})
	return docker.healthy
}

func probeDocker() (ok bool, reason string) {
	defer func() {
		if r := recover(); r != nil {
			ok, reason = false, fmt.Sprint("testcontainers panicked looking for Docker: ", r)
		}
	}()
	provider, err := testcontainers.ProviderDocker.GetProvider()
	if err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
	defer cancel()
	// Health closes the provider's Docker client itself.
	if err := provider.Health(ctx); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// The shared container lives until the test process exits, when
// testcontainers' reaper (Ryuk) removes it. A failed start is remembered so
// later tests fail fast instead of each waiting out the start timeout.
var shared struct {
	mu      sync.Mutex
	backend *Backend
	err     error
}

// StartTestcontainers returns a real Kafka broker in a Docker container,
// whatever KAFKA_BROKERS says, and skips the test (never fails it) when no
// healthy Docker engine is available. It blocks until the broker is up
// (the first call may pull the image).
//
// One container is shared by the whole test process and removed by the
// testcontainers reaper when the process exits. With the reaper disabled
// (TESTCONTAINERS_RYUK_DISABLED=true) nothing would remove a shared
// container, so each call then starts its own, terminated in t.Cleanup.
// Safe for concurrent use.
func StartTestcontainers(t testing.TB) *Backend {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		testcontainers.SkipIfProviderIsNotHealthy(tt)
	}
	if !dockerHealthy() {
		t.Skipf("kafkatest: no healthy Docker engine, skipping the testcontainers backend: %s", docker.reason)
	}
	b := startTestcontainers(t)
	t.Logf("kafka backend: %s (%s)", b.Name, b.Brokers[0])
	return b
}

func startTestcontainers(t testing.TB) *Backend {
	t.Helper()
	if testcontainers.ReadConfig().Config.RyukDisabled {
		ctr, b, err := runContainer()
		// Registered even on error: a container that started but then
		// failed its readiness wait must still be removed.
		testcontainers.CleanupContainer(t, ctr)
		if err != nil {
			t.Fatalf("kafkatest: %v", err)
		}
		return b
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.backend == nil && shared.err == nil {
		var ctr testcontainers.Container
		ctr, shared.backend, shared.err = runContainer()
		if shared.err != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
	}
	if shared.err != nil {
		t.Fatalf("kafkatest: %v", shared.err)
	}
	return shared.backend
}

// runContainer starts one broker container. Its context only bounds the
// start: a shared container must outlive the test that started it. The
// container is returned even on error so the caller can remove it.
func runContainer() (testcontainers.Container, *Backend, error) {
	image := os.Getenv(EnvImage)
	if image == "" {
		image = DefaultImage
	}
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	ctr, err := tckafka.Run(ctx, image, tckafka.WithClusterID("kafkatest"))
	if err != nil {
		return ctr, nil, fmt.Errorf("start %s: %w", image, err)
	}
	brokers, err := ctr.Brokers(ctx)
	if err != nil {
		return ctr, nil, fmt.Errorf("broker address of %s: %w", image, err)
	}
	return ctr, &Backend{Name: NameTestcontainers, Brokers: brokers}, nil
}
