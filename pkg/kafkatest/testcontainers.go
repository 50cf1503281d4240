package kafkatest

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// DefaultImage is the broker image for the testcontainers backend: the
// project's own Apache Kafka image (deploy/docker/kafka), the version
// scripts/kafka-local.sh pins. It is built locally, never pulled:
//
//	scripts/docker-images.sh kafka
//
// KAFKATEST_IMAGE picks another image: another tag of the project's image
// (recognised by its org.closesink.kafka.version label), or a public
// confluentinc/confluent-local tag (7.4.0 or later), which testcontainers-go's
// Kafka module runs and pulls if needed.
const DefaultImage = "closesink/kafka:local"

// EnvImage overrides DefaultImage.
const EnvImage = "KAFKATEST_IMAGE"

// envRyukDisabled is testcontainers' switch for its reaper container.
const envRyukDisabled = "TESTCONTAINERS_RYUK_DISABLED"

// Labels of the project's images and of the containers this package starts.
const (
	labelKafkaVersion = "org.closesink.kafka.version"
	// LabelContainer marks every container kafkatest starts, so a CI run
	// can check that none outlived its test process.
	LabelContainer = "org.closesink.kafkatest"
)

const (
	containerStartTimeout = 3 * time.Minute
	dockerProbeTimeout    = 5 * time.Second
	// Ports inside the project's broker container.
	clientPort   = "9092/tcp"
	internalPort = 19092
	// advertisedFile is where the test writes the client listener's
	// address once Docker has chosen the host port (start-kafka.sh waits
	// for it).
	advertisedFile = "/tmp/advertised.listeners"
	// confluentPort is the client port testcontainers-go's Kafka module
	// publishes for confluent-local images.
	confluentPort = "9093/tcp"
)

var docker struct {
	once    sync.Once
	healthy bool
	reason  string
}

// dockerHealthy reports, once per process, whether a Docker engine answers
// and a broker image is at hand: the project's image is built (it is never
// pulled), or KAFKATEST_IMAGE names an image to use. testcontainers can
// panic while looking for a Docker host; that counts as "no Docker", never as
// a test failure.
func dockerHealthy() bool {
	docker.once.Do(func() {
		docker.healthy, docker.reason = probeDocker()
	})
	return docker.healthy
}

func probeDocker() (ok bool, reason string) {
	// The project's image needs no reaper (its container goes with this
	// process, see runProjectContainer), and the reaper image cannot be
	// pulled where no registry answers: unless told otherwise, run without
	// it. This must happen before testcontainers reads its configuration.
	if _, set := os.LookupEnv(envRyukDisabled); !set && os.Getenv(EnvImage) == "" {
		_ = os.Setenv(envRyukDisabled, "true")
	}
	defer func() {
		if r := recover(); r != nil {
			ok, reason = false, fmt.Sprint("testcontainers panicked looking for Docker: ", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false, err.Error()
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return false, err.Error()
	}
	if os.Getenv(EnvImage) != "" {
		return true, ""
	}
	if _, err := cli.ImageInspect(ctx, DefaultImage); err != nil {
		return false, fmt.Sprintf("Docker answers but the broker image %s is not built "+
			"(scripts/docker-images.sh kafka builds it; it is never pulled): %v", DefaultImage, err)
	}
	return true, ""
}

// image is the broker image a testcontainers backend runs and what is known
// about it.
type image struct {
	name  string
	id    string // local image id; "" when it is not local (a public image to pull)
	kafka string // the project image's Kafka version label; "" for other images
}

func (i image) String() string {
	s := i.name
	if i.kafka != "" {
		s += ", Kafka " + i.kafka
	}
	if i.id != "" {
		s += ", id " + shortID(i.id)
	}
	return s
}

func shortID(id string) string {
	const prefix = "sha256:"
	if len(id) > len(prefix) && id[:len(prefix)] == prefix {
		id = id[len(prefix):]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// resolveImage returns the image to run: KAFKATEST_IMAGE or DefaultImage,
// inspected locally. The project's image must be local.
func resolveImage(ctx context.Context) (image, error) {
	img := image{name: os.Getenv(EnvImage)}
	if img.name == "" {
		img.name = DefaultImage
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return img, err
	}
	defer cli.Close()
	res, err := cli.ImageInspect(ctx, img.name)
	switch {
	case err == nil:
		img.id = res.ID
		if res.Config != nil {
			img.kafka = res.Config.Labels[labelKafkaVersion]
		}
	case img.name == DefaultImage:
		return img, fmt.Errorf("broker image %s is not built: run scripts/docker-images.sh kafka "+
			"(it is built locally, never pulled), or set %s to a confluentinc/confluent-local image", img.name, EnvImage)
	}
	return img, nil
}

// The shared container lives until the test process exits. The project's
// image ties the container to the process through its standard input (see
// leaseStdin), so no reaper is needed; a public image relies on
// testcontainers' reaper (Ryuk). A failed start is remembered so later tests
// fail fast instead of each waiting out the start timeout.
var shared struct {
	mu      sync.Mutex
	backend *Backend
	image   image
	err     error
	lease   net.Conn // held open for the life of the process
}

// StartTestcontainers returns a real Kafka broker in a Docker container,
// whatever KAFKA_BROKERS says, and skips the test (never fails it) when no
// healthy Docker engine or no broker image is available, unless
// KAFKATEST_BACKEND=testcontainers demands this backend. It blocks until the
// broker is up.
//
// The project's image (the default) runs one container shared by the whole
// test process, removed when the process exits, however it exits. A public
// image runs one shared container removed by the testcontainers reaper, or,
// with the reaper disabled (TESTCONTAINERS_RYUK_DISABLED=true), one container
// per call, removed in t.Cleanup. Safe for concurrent use.
func StartTestcontainers(t testing.TB) *Backend {
	t.Helper()
	if !dockerHealthy() {
		if os.Getenv(EnvBackend) == NameTestcontainers {
			t.Fatalf("kafkatest: %s=%s but: %s", EnvBackend, NameTestcontainers, docker.reason)
		}
		t.Skipf("kafkatest: skipping the testcontainers backend: %s", docker.reason)
	}
	b := startTestcontainers(t)
	t.Logf("kafka backend: %s (%s)", b.Name, b.Brokers[0])
	return b
}

func startTestcontainers(t testing.TB) *Backend {
	t.Helper()
	// Start reaches here without probing when KAFKATEST_BACKEND forces this
	// backend; the probe also settles the reaper setting.
	if !dockerHealthy() {
		t.Fatalf("kafkatest: the testcontainers backend cannot run: %s", docker.reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	img, err := resolveImage(ctx)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	if img.kafka == "" && testcontainers.ReadConfig().Config.RyukDisabled {
		// A public image without a reaper: nothing would remove a shared
		// container, so this test gets its own.
		ctr, b, err := runModuleContainer(img)
		// Registered even on error: a container that started but then
		// failed its readiness wait must still be removed.
		testcontainers.CleanupContainer(t, ctr)
		if err != nil {
			t.Fatalf("kafkatest: %v", err)
		}
		t.Logf("kafka backend: %s image %s (container per test)", NameTestcontainers, img)
		return b
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.backend == nil && shared.err == nil {
		shared.image = img
		if img.kafka != "" {
			shared.backend, shared.lease, shared.err = runProjectContainer(img)
		} else {
			var ctr testcontainers.Container
			ctr, shared.backend, shared.err = runModuleContainer(img)
			if shared.err != nil {
				_ = testcontainers.TerminateContainer(ctr)
			}
		}
	}
	if shared.err != nil {
		t.Fatalf("kafkatest: %v", shared.err)
	}
	t.Logf("kafka backend: %s image %s (container shared by this test process)", NameTestcontainers, shared.image)
	return shared.backend
}

// runModuleContainer starts a public confluent-local image with
// testcontainers-go's Kafka module. Its context only bounds the start: a
// shared container must outlive the test that started it. The container is
// returned even on error so the caller can remove it.
func runModuleContainer(img image) (testcontainers.Container, *Backend, error) {
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	ctr, err := tckafka.Run(ctx, img.name, tckafka.WithClusterID("kafkatest"),
		testcontainers.WithLabels(map[string]string{LabelContainer: "broker"}),
		testcontainers.WithHostConfigModifier(loopbackPorts(confluentPort)))
	if err != nil {
		return ctr, nil, fmt.Errorf("start %s: %w%s", img.name, err, ryukHint(err))
	}
	brokers, err := ctr.Brokers(ctx)
	if err != nil {
		return ctr, nil, fmt.Errorf("broker address of %s: %w", img.name, err)
	}
	return ctr, &Backend{Name: NameTestcontainers, Brokers: brokers}, nil
}
