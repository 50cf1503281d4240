package deploy

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// composeCommand returns the Compose CLI: the v2 plugin (docker compose), else
// a docker-compose binary.
func composeCommand() ([]string, bool) {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, true
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, true
	}
	return nil, false
}

// TestComposeStack brings docker-compose.yml up for real, with the images
// scripts/docker-images.sh built (pull policy never), the sample producer
// included: every lead the samples hold lands in the emulator, every record
// closesink rejects lands in the dead-letter topic, and `down` leaves no
// container and no network behind.
func TestComposeStack(t *testing.T) {
	t.Parallel()
	img, kafkaImg := envOr(envImage, defaultImage), envOr(envKafkaImage, defaultKafka)
	needDocker(t, img, kafkaImg)
	compose, ok := composeCommand()
	if !ok {
		if os.Getenv(envRequire) == "require" {
			t.Fatal("neither `docker compose` nor docker-compose is installed")
		}
		t.Skip("neither `docker compose` nor docker-compose is installed")
	}
	leads, rejects := expectedOutcomes(t)

	project := "closesink-test-" + randomSuffix(t)
	kafkaPort, emuPort := freePort(t), freePort(t)
	env := append(os.Environ(),
		"CLOSESINK_IMAGE="+img, "CLOSESINK_KAFKA_IMAGE="+kafkaImg, "CLOSESINK_PULL_POLICY=never",
		"CLOSESINK_KAFKA_PORT="+kafkaPort, "CLOSESINK_EMULATOR_PORT="+emuPort)
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		full := append(append(compose[1:len(compose):len(compose)], "-p", project, "-f", composeFile, "--profile", "sample-events"), args...)
		cmd := exec.CommandContext(ctx, compose[0], full...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	down := func() error {
		out, err := run("down", "--volumes", "--remove-orphans", "--timeout", "20")
		if err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
		return err
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := run("logs", "--no-color", "--tail", "30")
			t.Logf("compose logs:\n%s", out)
		}
		_ = down() // a no-op when the test already took the stack down
	})

	start := time.Now()
	if out, err := run("up", "--detach", "--no-build"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	t.Logf("compose up returned after %v", time.Since(start).Round(time.Second))

	stats := waitForLeads(t, "http://127.0.0.1:"+emuPort, leads)
	t.Logf("emulator: %d leads stored after %v (want %d), responses by status %v",
		stats.Created, time.Since(start).Round(time.Second), leads, stats.ByStatus)

	// The dead-letter topic, read from the host through the published
	// listener.
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:"+kafkaPort), kgo.ConsumeTopics("leads.dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), deliverTimeout)
	defer cancel()
	classes := map[string]int{}
	for got := 0; got < rejects; {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d dead letters (%v) before the deadline, want %d", got, classes, rejects)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			for _, h := range r.Headers {
				if h.Key == "closesink.error.class" {
					classes[string(h.Value)]++
				}
			}
		})
	}
	t.Logf("dead-letter topic: %d records by class %v", rejects, classes)
	if classes["invalid_event"] != rejects {
		t.Errorf("dead letters by class %v, want %d invalid_event", classes, rejects)
	}
	cl.Close()

	if err := down(); err != nil {
		t.Fatal("compose down failed")
	}
	if left := docker(t, "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+project); left != "" {
		t.Errorf("containers left after compose down: %s", left)
	}
	if left := docker(t, "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+project); left != "" {
		t.Errorf("networks left after compose down: %s", left)
	}
}
