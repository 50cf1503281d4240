package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

const (
	composeFile = "../docker-compose.yml"
	dockerfile  = "../Dockerfile"
	kafkaScript = "../scripts/kafka-local.sh"
)

func loadFixtures(t *testing.T) (compose, string) {
	t.Helper()
	c, err := loadCompose(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := scriptKafkaVersion(kafkaScript)
	if err != nil {
		t.Fatal(err)
	}
	return c, v
}

func TestComposeIsConsistent(t *testing.T) {
	t.Parallel()
	c, version := loadFixtures(t)
	if err := checkCompose(c, version); err != nil {
		t.Errorf("%s:\n%v", composeFile, err)
	}
}

// TestCheckComposeCatchesMistakes breaks the real file in one way at a time
// and expects checkCompose to say so, so TestComposeIsConsistent cannot pass
// by checking nothing.
func TestCheckComposeCatchesMistakes(t *testing.T) {
	t.Parallel()
	edit := func(c compose, name string, fn func(*service)) {
		s := c.Services[name]
		fn(&s)
		c.Services[name] = s
	}
	setEnv := func(name, key, value string) func(compose) {
		return func(c compose) {
			edit(c, name, func(s *service) {
				env := map[string]string{}
				for k, v := range s.Environment {
					env[k] = v
				}
				env[key] = value
				s.Environment = env
			})
		}
	}
	tests := []struct {
		name    string
		mutate  func(compose)
		version string
		wantErr string
	}{
		{"missing depends_on target", func(c compose) {
			edit(c, "closesink", func(s *service) {
				s.DependsOn = map[string]dependsOn{"close-emu": {"service_started"}, "kafka-init": {"service_completed_successfully"}}
			})
		}, "", `"close-emu", which is not a service`},
		{"wrong broker address", setEnv("closesink", "CLOSESINK_BROKERS", "localhost:9092"), "", "CLOSESINK_BROKERS"},
		{"producer broker", func(c compose) {
			edit(c, "producer", func(s *service) {
				s.Command = []string{"produce-samples", "--brokers", "kafka:29092", "--topic", "leads"}
			})
		}, "", "--brokers"},
		{"advertised host not the service", setEnv("kafka", "KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:9092,EXTERNAL://localhost:29092"), "", "cannot resolve"},
		{"advertised port not listened on", setEnv("kafka", "KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://kafka:9094"), "", "not in KAFKA_LISTENERS"},
		{"close url not the emulator", setEnv("closesink", "CLOSESINK_CLOSE_URL", "${CLOSESINK_CLOSE_URL:-https://api.close.com}"), "", "CLOSESINK_CLOSE_URL"},
		{"key the emulator rejects", setEnv("closesink", "CLOSE_API_KEY", "${CLOSE_API_KEY:-other}"), "", "CLOSE_API_KEY"},
		{"uncreated topic", setEnv("closesink", "CLOSESINK_TOPIC", "events"), "", `topic "events" is used but not created`},
		{"uncreated dlq", setEnv("closesink", "CLOSESINK_DLQ_TOPIC", "events.dlq"), "", `topic "events.dlq"`},
		{"producer without profile", func(c compose) { edit(c, "producer", func(s *service) { s.Profiles = nil }) }, "", "want [sample-events]"},
		{"pipeline behind a profile", func(c compose) { edit(c, "close-emulator", func(s *service) { s.Profiles = []string{"x"} }) }, "", "only runs under profiles"},
		{"healthy without healthcheck", func(c compose) { edit(c, "kafka", func(s *service) { s.Healthcheck = nil }) }, "", "has no healthcheck"},
		{"init that restarts", func(c compose) { edit(c, "kafka-init", func(s *service) { s.Restart = "on-failure" }) }, "", "restarts"},
		{"kafka version drift", nil, "4.0.0", "pins Kafka 4.0.0"},
		{"unknown subcommand", func(c compose) { edit(c, "closesink", func(s *service) { s.Command = []string{"serve"} }) }, "", "no closesink run service"},
		{"duplicate host port", func(c compose) {
			edit(c, "close-emulator", func(s *service) { s.Ports = []string{"127.0.0.1:29092:8080"} })
		}, "", "both publish host port 29092"},
		{"port on every interface", func(c compose) { edit(c, "close-emulator", func(s *service) { s.Ports = []string{"8080:8080"} }) }, "", "want 127.0.0.1"},
		{"fixed image", func(c compose) { edit(c, "kafka", func(s *service) { s.Image = "apache/kafka:4.4.0" }) }, "", "not overridable"},
		{"no pull policy", func(c compose) { edit(c, "closesink", func(s *service) { s.PullPolicy = "" }) }, "", "not overridable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, version := loadFixtures(t)
			if tt.mutate != nil {
				tt.mutate(c)
			}
			if tt.version != "" {
				version = tt.version
			}
			err := checkCompose(c, version)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkCompose = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"${A:-http://x:8080}", "http://x:8080"},
		{"${A-dflt}", "dflt"},
		{"${A}", ""},
		{"pre-$A-post", "pre--post"},
		{`"$$topic"`, `"$topic"`},
		{"trailing $", "trailing $"},
		{"${unterminated", "${unterminated"},
	}
	for _, tt := range tests {
		if got := interpolate(tt.in); got != tt.want {
			t.Errorf("interpolate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDockerfile checks the image recipe: multi-stage, static and trimmed,
// a minimal final base, a non-root user and the closesink entrypoint.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			froms = append(froms, fields[1])
		case "USER":
			users = append(users, fields[1])
		}
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got stages %v", froms)
	} else if last := froms[len(froms)-1]; last != "scratch" && !strings.Contains(last, "distroless/static") {
		t.Errorf("final stage FROM %s, want scratch or distroless/static", last)
	}
	if len(users) == 0 {
		t.Error("no USER: the image would run as root")
	}
	for _, u := range users {
		if name, _, _ := strings.Cut(u, ":"); name == "root" || name == "0" {
			t.Errorf("USER %s runs as root", u)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`CGO_ENABLED=0 go build -trimpath`),
		regexp.MustCompile(`\./cmd/closesink`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/closesink"\]$`),
		regexp.MustCompile(`ca-certificates\.crt`),
	} {
		if !want.Match(raw) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
}
