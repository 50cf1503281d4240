package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/pipeline"
)

// The tests that run containers use images built beforehand by
// scripts/docker-images.sh (they pull nothing) and skip without a Docker
// engine or without those images, unless CLOSESINK_DOCKER_TESTS=require
// (scripts/ci-docker.sh sets it), which turns every such skip into a failure.
const (
	envRequire     = "CLOSESINK_DOCKER_TESTS"
	envImage       = "CLOSESINK_IMAGE"
	envKafkaImage  = "CLOSESINK_KAFKA_IMAGE"
	defaultImage   = "closesink:ci"
	defaultKafka   = "closesink/kafka:local"
	labelTest      = "org.closesink.deploy-test"
	dockerTimeout  = 2 * time.Minute
	deliverTimeout = 2 * time.Minute
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// needDocker skips (or, when required, fails) unless a Docker engine answers
// and every image is present locally.
func needDocker(t *testing.T, images ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers")
	}
	skip := t.Skipf
	if os.Getenv(envRequire) == "require" {
		skip = t.Fatalf
	}
	if _, err := exec.LookPath("docker"); err != nil {
		skip("no docker command: %v", err)
		return
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		skip("no Docker engine answers: %v: %s", err, bytes.TrimSpace(out))
		return
	}
	for _, img := range images {
		if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", img).CombinedOutput(); err != nil {
			skip("image %s is not built (scripts/docker-images.sh all): %s", img, bytes.TrimSpace(out))
			return
		}
	}
}

// docker runs the docker command and returns its trimmed stdout; it fails
// the test on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerErr(args...)
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func dockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// expectedOutcomes counts what `closesink produce-samples` must give with
// the plain emulator: the leads Close stores and the records closesink
// dead-letters itself. A sample that only the demo's emulator rejects (a
// CloseStatus fault) is an ordinary lead here.
func expectedOutcomes(t *testing.T) (leads, deadLettered int) {
	t.Helper()
	all, err := samples.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		switch {
		case s.Expect.Outcome == pipeline.Delivered:
			leads++
		case s.Expect.Outcome == pipeline.DeadLettered && s.CloseStatus != 0:
			leads++
		case s.Expect.Outcome == pipeline.DeadLettered:
			deadLettered++
		}
	}
	return leads, deadLettered
}

type emulatorStats struct {
	Requests int         `json:"requests"`
	Created  int         `json:"created"`
	ByStatus map[int]int `json:"by_status"`
}

// waitForLeads polls the emulator's stats until it stored want leads, and
// checks that no more arrive within a short grace period.
func waitForLeads(t *testing.T, baseURL string, want int) emulatorStats {
	t.Helper()
	deadline := time.Now().Add(deliverTimeout)
	var last emulatorStats
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = getStats(baseURL)
		if lastErr == nil && last.Created >= want {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if lastErr != nil || last.Created < want {
		t.Fatalf("emulator stored %d leads after %v, want %d (last error: %v, stats %+v)", last.Created, deliverTimeout, want, lastErr, last)
	}
	time.Sleep(2 * time.Second)
	if final, err := getStats(baseURL); err == nil && final.Created != want {
		t.Fatalf("emulator stored %d leads, want exactly %d", final.Created, want)
	}
	return last
}

func getStats(baseURL string) (emulatorStats, error) {
	var s emulatorStats
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(baseURL + "/_emulator/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /_emulator/stats: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}
