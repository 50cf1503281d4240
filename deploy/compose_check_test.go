package deploy

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// compose is the part of the Compose file format these checks read.
type compose struct {
	Services map[string]service `yaml:"services"`
}

type service struct {
	Image       string               `yaml:"image"`
	PullPolicy  string               `yaml:"pull_policy"`
	Build       *build               `yaml:"build"`
	Entrypoint  []string             `yaml:"entrypoint"`
	Command     []string             `yaml:"command"`
	Environment map[string]string    `yaml:"environment"`
	DependsOn   map[string]dependsOn `yaml:"depends_on"`
	Profiles    []string             `yaml:"profiles"`
	Ports       []string             `yaml:"ports"`
	Restart     string               `yaml:"restart"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type build struct {
	Context string `yaml:"context"`
}

type dependsOn struct {
	Condition string `yaml:"condition"`
}

func loadCompose(path string) (compose, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return compose{}, err
	}
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(false) // Compose has many keys these checks ignore.
	if err := dec.Decode(&c); err != nil {
		return compose{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// interpolate resolves Compose variables the way `docker compose` does on a
// machine with none of them set: ${VAR:-default} and ${VAR-default} give the
// default, ${VAR} and $VAR give "", and $$ is a literal $.
func interpolate(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			sb.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			sb.WriteByte('$')
			i++
		case next == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				sb.WriteString(s[i:])
				return sb.String()
			}
			expr := s[i+2 : i+end]
			if _, def, ok := strings.Cut(expr, ":-"); ok {
				sb.WriteString(def)
			} else if _, def, ok := strings.Cut(expr, "-"); ok {
				sb.WriteString(def)
			}
			i += end
		default:
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			i = j - 1
		}
	}
	return sb.String()
}

// env returns a service's environment variable, interpolated.
func (s service) env(key string) string { return interpolate(s.Environment[key]) }

// flag returns the value after name in the service's command ("--x v").
func (s service) flag(name string) (string, bool) {
	i := slices.Index(s.Command, name)
	if i < 0 || i+1 >= len(s.Command) {
		return "", false
	}
	return s.Command[i+1], true
}

// The closesink subcommands a service may run.
var subcommands = []string{"run", "emulator", "produce-samples", "replay"}

var kafkaVersionLine = regexp.MustCompile(`(?m)^KAFKA_VERSION=([0-9][^\s]*)$`)

// scriptKafkaVersion reads the Kafka version pinned in scripts/kafka-local.sh.
func scriptKafkaVersion(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := kafkaVersionLine.FindSubmatch(raw)
	if m == nil {
		return "", fmt.Errorf("%s: no KAFKA_VERSION=... line", path)
	}
	return string(m[1]), nil
}

// checkCompose returns every inconsistency between the services, or nil.
// kafkaVersion is the version scripts/kafka-local.sh pins.
func checkCompose(c compose, kafkaVersion string) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	byRole := func(match func(service) bool) (string, service) {
		for _, name := range slices.Sorted(maps.Keys(c.Services)) {
			if match(c.Services[name]) {
				return name, c.Services[name]
			}
		}
		return "", service{}
	}
	runs := func(sub string) func(service) bool {
		return func(s service) bool { return len(s.Command) > 0 && s.Command[0] == sub }
	}
	kafkaName, kafka := byRole(func(s service) bool {
		return strings.HasPrefix(interpolate(s.Image), "apache/kafka:") && s.Environment["KAFKA_PROCESS_ROLES"] != ""
	})
	emuName, emu := byRole(runs("emulator"))
	sinkName, sink := byRole(runs("run"))
	prodName, prod := byRole(runs("produce-samples"))
	for role, name := range map[string]string{"Kafka broker": kafkaName, "Close emulator": emuName, "closesink run": sinkName, "sample producer": prodName} {
		if name == "" {
			fail("no %s service", role)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// Every dependency exists and its condition can be met.
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				fail("%s depends on %q, which is not a service", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				fail("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case d.Condition == "service_completed_successfully" && target.Restart != "no":
				fail("%s waits for %s to complete, but %s restarts (restart: %q)", name, dep, dep, target.Restart)
			case d.Condition != "service_started" && d.Condition != "service_healthy" && d.Condition != "service_completed_successfully":
				fail("%s depends on %s with unknown condition %q", name, dep, d.Condition)
			}
			if len(target.Profiles) > 0 && !slices.Equal(target.Profiles, s.Profiles) {
				fail("%s depends on %s, which only runs under profiles %v", name, dep, target.Profiles)
			}
		}
	}

	// The broker address everyone uses is the listener Kafka advertises
	// to other containers, on the Kafka service's own name.
	broker, err := advertisedAddr(kafka)
	if err != nil {
		fail("%s: %v", kafkaName, err)
	} else if host, _, _ := net.SplitHostPort(broker); host != kafkaName {
		fail("%s advertises %s, which other containers cannot resolve (want host %q)", kafkaName, broker, kafkaName)
	}
	if got := sink.env("CLOSESINK_BROKERS"); got != broker {
		fail("%s: CLOSESINK_BROKERS=%q, want the advertised listener %q", sinkName, got, broker)
	}
	if got, _ := prod.flag("--brokers"); got != broker {
		fail("%s: --brokers %q, want %q", prodName, got, broker)
	}
	if kafka.Healthcheck != nil && !strings.Contains(strings.Join(kafka.Healthcheck.Test, " "), broker) {
		fail("%s's healthcheck does not probe %s", kafkaName, broker)
	}
	if want := "apache/kafka:" + kafkaVersion; interpolate(kafka.Image) != want {
		fail("%s runs %s, but scripts/kafka-local.sh pins Kafka %s (want %s)", kafkaName, interpolate(kafka.Image), kafkaVersion, want)
	}

	// Topics: closesink's source and DLQ topics (and the producer's) are
	// created by a one-shot service that closesink waits for.
	initName, initSvc := byRole(func(s service) bool {
		return strings.Contains(strings.Join(s.Command, " "), "kafka-topics.sh") && strings.Contains(strings.Join(s.Command, " "), "--create")
	})
	if initName == "" {
		fail("no service creates topics with kafka-topics.sh --create")
	} else {
		script := interpolate(strings.Join(initSvc.Command, "\n"))
		words := strings.Fields(script)
		if !strings.Contains(script, "--bootstrap-server "+broker) {
			fail("%s does not talk to %s", initName, broker)
		}
		if initSvc.Image != kafka.Image {
			fail("%s runs %s, want the broker's image %s", initName, initSvc.Image, kafka.Image)
		}
		topic, dlq := sink.env("CLOSESINK_TOPIC"), sink.env("CLOSESINK_DLQ_TOPIC")
		if dlq == "" {
			dlq = topic + ".dlq" // closesink's default
		}
		prodTopic, _ := prod.flag("--topic")
		for _, t := range []string{topic, dlq, prodTopic} {
			if t == "" || !slices.Contains(words, t) {
				fail("topic %q is used but not created by %s", t, initName)
			}
		}
		if prodTopic != topic {
			fail("%s produces to %q but %s consumes %q", prodName, prodTopic, sinkName, topic)
		}
		for _, user := range []string{sinkName, prodName} {
			if c.Services[user].DependsOn[initName].Condition != "service_completed_successfully" {
				fail("%s must wait for %s to complete (depends_on condition service_completed_successfully)", user, initName)
			}
		}
	}

	// closesink talks to the emulator, with a key the emulator accepts.
	if want := "http://" + emuName + ":" + portOf(emu); sink.env("CLOSESINK_CLOSE_URL") != want {
		fail("%s: CLOSESINK_CLOSE_URL defaults to %q, want the emulator at %q", sinkName, sink.env("CLOSESINK_CLOSE_URL"), want)
	}
	if key := sink.env("CLOSE_API_KEY"); key == "" || !slices.Contains(strings.Split(emu.env("CLOSE_EMULATOR_API_KEYS"), ","), key) {
		fail("%s's CLOSE_API_KEY default is not among %s's CLOSE_EMULATOR_API_KEYS", sinkName, emuName)
	}
	if _, ok := sink.DependsOn[emuName]; !ok {
		fail("%s does not depend on %s", sinkName, emuName)
	}

	// Profiles: `docker compose up` runs the pipeline; sample events are opt-in.
	for name, s := range c.Services {
		switch {
		case name == prodName && !slices.Equal(s.Profiles, []string{"sample-events"}):
			fail("%s has profiles %v, want [sample-events]", name, s.Profiles)
		case name != prodName && len(s.Profiles) > 0:
			fail("%s has profiles %v; only the sample producer should be optional", name, s.Profiles)
		}
	}

	// closesink services run the image built from the Dockerfile, with a
	// real subcommand; no two services claim the same host port.
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		// Every image can be swapped for a locally built one (CI pulls
		// nothing): a ${VAR:-default} image and an overridable pull policy.
		if !strings.HasPrefix(s.Image, "${") || !strings.HasPrefix(s.PullPolicy, "${") {
			fail("%s: image %q / pull_policy %q are not overridable (${VAR:-default})", name, s.Image, s.PullPolicy)
		}
		if !strings.HasPrefix(interpolate(s.Image), "apache/kafka:") {
			if s.Build == nil || s.Build.Context != "." {
				fail("%s is not built from the repository's Dockerfile (build.context .)", name)
			}
			if len(s.Command) == 0 || !slices.Contains(subcommands, s.Command[0]) {
				fail("%s runs %v, not a closesink subcommand %v", name, s.Command, subcommands)
			}
		}
		for _, p := range s.Ports {
			// [ip:]host:container; published on loopback only.
			parts := strings.Split(interpolate(p), ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				fail("%s publishes %q; want 127.0.0.1:<host port>:<port>", name, p)
				continue
			}
			host := parts[1]
			if other, dup := hostPorts[host]; dup {
				fail("%s and %s both publish host port %s", other, name, host)
			}
			hostPorts[host] = name
		}
	}
	return errors.Join(errs...)
}

// advertisedAddr returns host:port of the listener Kafka advertises for
// inter-broker (and in-network client) traffic.
func advertisedAddr(kafka service) (string, error) {
	name := kafka.env("KAFKA_INTER_BROKER_LISTENER_NAME")
	if name == "" {
		name = "PLAINTEXT"
	}
	var addr string
	for _, l := range strings.Split(kafka.env("KAFKA_ADVERTISED_LISTENERS"), ",") {
		if n, a, ok := strings.Cut(strings.TrimSpace(l), "://"); ok && n == name {
			addr = a
		}
	}
	if addr == "" {
		return "", fmt.Errorf("KAFKA_ADVERTISED_LISTENERS has no %s listener", name)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("advertised %s listener %q: %w", name, addr, err)
	}
	if !strings.Contains(kafka.env("KAFKA_LISTENERS"), name+"://:"+port) {
		return "", fmt.Errorf("advertised %s port %s is not in KAFKA_LISTENERS %q", name, port, kafka.env("KAFKA_LISTENERS"))
	}
	return addr, nil
}

// portOf returns the port of the emulator's --addr flag.
func portOf(s service) string {
	addr, _ := s.flag("--addr")
	_, port, _ := net.SplitHostPort(addr)
	return port
}
