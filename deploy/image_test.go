package deploy

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestImage runs the closesink image that CI builds (deploy/docker/
// closesink.Dockerfile, or any image named by CLOSESINK_IMAGE): it runs as a
// non-root user, `closesink version` works, and `closesink run` in one
// container delivers sample events produced by a second one to the emulator
// in a third, through the project's broker image, all on a Docker network
// this test creates and removes.
func TestImage(t *testing.T) {
	t.Parallel()
	img, kafkaImg := envOr(envImage, defaultImage), envOr(envKafkaImage, defaultKafka)
	needDocker(t, img, kafkaImg)
	leads, _ := expectedOutcomes(t)

	// The image config: a non-root user and the closesink entrypoint.
	user := docker(t, "image", "inspect", "--format", "{{.Config.User}}", img)
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); user == "" || uid == "root" || (err == nil && n == 0) {
		t.Errorf("image %s runs as user %q, want a non-root uid", img, user)
	}
	if ep := docker(t, "image", "inspect", "--format", "{{json .Config.Entrypoint}}", img); ep != `["/closesink"]` {
		t.Errorf("image %s entrypoint %s, want [\"/closesink\"]", img, ep)
	}
	if out := docker(t, "run", "--rm", "--pull", "never", "--label", labelTest+"=1", img, "version"); !strings.HasPrefix(out, "closesink ") {
		t.Errorf("closesink version printed %q", out)
	}

	// A network of its own, removed with everything on it at the end (or
	// on failure), even when the test fails halfway.
	suffix := randomSuffix(t)
	netName := "closesink-image-test-" + suffix
	docker(t, "network", "create", "--label", labelTest+"=1", netName)
	var ctrs []string
	t.Cleanup(func() {
		if len(ctrs) > 0 {
			if t.Failed() {
				for _, c := range ctrs {
					out, _ := dockerErr("logs", "--tail", "40", c)
					t.Logf("--- last log lines of %s:\n%s", c, out)
				}
			}
			_, _ = dockerErr(append([]string{"rm", "-f", "-v"}, ctrs...)...)
		}
		if _, err := dockerErr("network", "rm", netName); err != nil {
			t.Errorf("remove network %s: %v", netName, err)
		}
	})
	run := func(name string, args ...string) string {
		t.Helper()
		full := append([]string{"run", "-d", "--pull", "never", "--name", name + "-" + suffix,
			"--network", netName, "--network-alias", name, "--label", labelTest + "=1"}, args...)
		id := docker(t, full...)
		ctrs = append(ctrs, id)
		return id
	}

	kafka := run("kafka", "-e", "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka:9092", kafkaImg)
	waitForLog(t, kafka, "Kafka Server started", 2*time.Minute)
	docker(t, "exec", kafka, "bash", "-c",
		"for t in leads leads.dlq; do /opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --create --topic $t --partitions 3 || exit 1; done")

	const key = "api_image_test_key"
	emu := run("close-emulator", "-p", "127.0.0.1::8080", "-e", "CLOSE_EMULATOR_API_KEYS="+key, img, "emulator", "--addr", ":8080")
	sink := run("closesink", "-e", "CLOSESINK_BROKERS=kafka:9092", "-e", "CLOSESINK_TOPIC=leads",
		"-e", "CLOSESINK_CLOSE_URL=http://close-emulator:8080", "-e", "CLOSE_API_KEY="+key,
		"-e", "CLOSESINK_LOG_FORMAT=json", img, "run")
	if out := docker(t, "run", "--rm", "--pull", "never", "--network", netName, "--label", labelTest+"=1",
		img, "produce-samples", "--brokers", "kafka:9092", "--topic", "leads"); out != "" {
		t.Logf("produce-samples: %s", out)
	}

	hostPort := docker(t, "port", emu, "8080/tcp")
	if !strings.HasPrefix(hostPort, "127.0.0.1:") {
		t.Errorf("emulator published on %s, want 127.0.0.1 only", hostPort)
	}
	stats := waitForLeads(t, "http://"+strings.Fields(hostPort)[0], leads)
	t.Logf("emulator: %d leads stored, responses by status %v", stats.Created, stats.ByStatus)

	// The running process is not root (scratch has no `id`: ask Docker,
	// which reads it from the host's process table).
	top := docker(t, "top", sink, "-o", "pid,uid,args")
	for _, line := range strings.Split(top, "\n")[1:] {
		if f := strings.Fields(line); len(f) < 2 || f[1] == "0" {
			t.Errorf("closesink runs as uid 0: %s", line)
		}
	}
	t.Logf("closesink process:\n%s", top)

	// A graceful stop exits 0.
	docker(t, "stop", "-t", "60", sink)
	if code := docker(t, "inspect", "--format", "{{.State.ExitCode}}", sink); code != "0" {
		t.Errorf("closesink exited %s after SIGTERM, want 0", code)
	}
}

// waitForLog waits until a container's output contains text.
func waitForLog(t *testing.T, ctr, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := dockerErr("logs", ctr)
		if strings.Contains(out, text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v; last output:\n%s", ctr, text, timeout, tail(out, 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
