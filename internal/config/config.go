// Package config loads closesink's configuration: defaults, then a YAML file,
// then environment variables, then command-line flags, each overriding the
// one before (a flag given on the command line always wins). Every setting is
// declared once in the settings table, which also drives --help, the env
// variable names and the error messages.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/transform"
)

// Config is the whole configuration of `closesink run` and `closesink replay`.
type Config struct {
	Brokers          []string      `yaml:"brokers"`
	Topic            string        `yaml:"topic"`
	Group            string        `yaml:"group"`
	InstanceID       string        `yaml:"instance_id"`
	DLQTopic         string        `yaml:"dlq_topic"`
	ResultsTopic     string        `yaml:"results_topic"`
	CloseURL         string        `yaml:"close_url"`
	APIKeyFile       string        `yaml:"api_key_file"`
	LeadStatusID     string        `yaml:"lead_status_id"`
	ConsentCategory  string        `yaml:"consent_category"`
	PhoneRegion      string        `yaml:"phone_region"`
	Rate             float64       `yaml:"rate"`
	Burst            int           `yaml:"burst"`
	MaxRetryDuration time.Duration `yaml:"max_retry_duration"`
	RequestTimeout   time.Duration `yaml:"request_timeout"`
	ShutdownTimeout  time.Duration `yaml:"shutdown_timeout"`
	SessionTimeout   time.Duration `yaml:"session_timeout"`
	MaxRecordBytes   int           `yaml:"max_record_bytes"`
	BufferBytes      int           `yaml:"buffer_bytes"`
	FetchMaxBytes    int           `yaml:"fetch_max_bytes"`
	DedupeWindow     int           `yaml:"dedupe_window"`
	MetricsAddr      string        `yaml:"metrics_addr"`
	// PProf serves Go's /debug/pprof/ profiles on MetricsAddr: for
	// measuring a running worker, off by default.
	PProf         bool          `yaml:"pprof"`
	NotReadyAfter time.Duration `yaml:"not_ready_after"`
	LogLevel      string        `yaml:"log_level"`
	LogFormat     string        `yaml:"log_format"`
	LogPII        bool          `yaml:"log_pii"`
	Mapping       Mapping       `yaml:"mapping"`
	Delivery      Delivery      `yaml:"delivery"`
	Kafka         Kafka         `yaml:"kafka"`

	// APIKey is read from CLOSE_API_KEY or the file named by APIKeyFile,
	// never from a flag (it would show in `ps`) nor from the YAML file.
	APIKey string `yaml:"-"`
}

// Mapping is the event list and custom-field map of the transform.
type Mapping struct {
	Events       []string          `yaml:"events"`
	CustomFields map[string]string `yaml:"custom_fields"`
	// StrictJSON parses every record in full (transform.Config.StrictJSON).
	StrictJSON bool `yaml:"strict_json"`
}

// Delivery chooses how a lead event reaches Close.
type Delivery struct {
	// Mode is "create" (every lead event creates a lead, as the product
	// page describes) or "upsert" (one lead per person: match by email).
	Mode string `yaml:"mode"`
	// OnMatch is what upsert does with a person Close already has:
	// "update" the contact and lead, or "skip" them.
	OnMatch string `yaml:"on_match"`
	// UpdateOnIdentify lets an identify call with an email update an
	// existing contact (upsert only; it never creates a lead).
	UpdateOnIdentify bool `yaml:"update_on_identify"`
	// Memory is how many people each partition remembers (email → Close
	// ids), sparing a search for a repeat.
	Memory int `yaml:"memory"`
}

// The delivery modes and match policies.
const (
	ModeCreate    = "create"
	ModeUpsert    = "upsert"
	OnMatchUpdate = "update"
	OnMatchSkip   = "skip"
)

// Kafka holds connection security settings.
type Kafka struct {
	TLS           bool   `yaml:"tls"`
	TLSCAFile     string `yaml:"tls_ca_file"`
	SASLMechanism string `yaml:"sasl_mechanism"` // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUsername  string `yaml:"sasl_username"`
	// SASL password: env CLOSESINK_KAFKA_SASL_PASSWORD or this file.
	SASLPasswordFile string `yaml:"sasl_password_file"`
	SASLPassword     string `yaml:"-"`
	// AllowPlaintextSASL accepts SASL PLAIN without TLS (the password then
	// crosses the network in the clear): for a trusted network only.
	AllowPlaintextSASL bool `yaml:"allow_plaintext_sasl"`
}

// DefaultSessionTimeout is the consumer group session timeout (franz-go's
// and Kafka's usual default).
const DefaultSessionTimeout = 45 * time.Second

// DefaultNotReadyAfter is --not-ready-after's default: long enough for a
// broker restart or a leader election, short enough that a dashboard or a
// rollout sees a real outage within a minute.
const DefaultNotReadyAfter = 30 * time.Second

// Defaults returns the configuration before any file, env or flag.
func Defaults() Config {
	return Config{
		Group:            "closesink",
		CloseURL:         delivery.DefaultBaseURL,
		ConsentCategory:  transform.DefaultConsentCategory,
		PhoneRegion:      transform.DefaultPhoneRegion,
		Rate:             10,
		Burst:            5,
		MaxRetryDuration: delivery.DefaultMaxRetryDuration,
		RequestTimeout:   delivery.DefaultRequestTimeout,
		ShutdownTimeout:  consumer.DefaultStopTimeout,
		SessionTimeout:   DefaultSessionTimeout,
		Delivery:         Delivery{Mode: ModeCreate, OnMatch: OnMatchUpdate, Memory: 10000},
		MaxRecordBytes:   pipeline.DefaultMaxRecordBytes,
		BufferBytes:      consumer.DefaultMemberBufferedBytes,
		FetchMaxBytes:    consumer.DefaultFetchMaxBytes,
		DedupeWindow:     10000,
		NotReadyAfter:    DefaultNotReadyAfter,
		LogLevel:         "info",
		LogFormat:        "auto",
	}
}

// EnvAPIKey is the environment variable holding the Close API key itself.
const EnvAPIKey = "CLOSE_API_KEY"

// EnvSASLPassword holds the Kafka SASL password.
const EnvSASLPassword = "CLOSESINK_KAFKA_SASL_PASSWORD"

// ErrInvalid wraps every configuration error (closesink exits 2 on it).
var ErrInvalid = errors.New("invalid configuration")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Finish fills derived defaults and reads secrets. Call after all overrides.
func (c *Config) Finish(getenv func(string) string) error {
	if c.DLQTopic == "" && c.Topic != "" {
		c.DLQTopic = c.Topic + ".dlq"
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	key, err := secret(getenv(EnvAPIKey), c.APIKeyFile, "api-key-file", EnvAPIKey)
	if err != nil {
		return err
	}
	c.APIKey = key
	pw, err := secret(getenv(EnvSASLPassword), c.Kafka.SASLPasswordFile, "kafka.sasl_password_file", EnvSASLPassword)
	if err != nil {
		return err
	}
	c.Kafka.SASLPassword = pw
	return nil
}

// secret prefers the file (explicitly configured) over the environment.
func secret(fromEnv, file, fileSetting, envName string) (string, error) {
	if file == "" {
		return strings.TrimSpace(fromEnv), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", invalid("%s: cannot read %s: %v", fileSetting, file, errors.Unwrap(err))
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", invalid("%s: %s is empty", fileSetting, file)
	}
	return s, nil
}

// ValidateKafka checks the settings every Kafka-facing command needs.
func (c *Config) ValidateKafka() error {
	if len(c.Brokers) == 0 {
		return invalid("brokers: at least one broker is required (--brokers or CLOSESINK_BROKERS)")
	}
	for _, b := range c.Brokers {
		if b == "" || !strings.Contains(b, ":") {
			return invalid("brokers: %q is not host:port", b)
		}
	}
	switch strings.ToUpper(c.Kafka.SASLMechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.Kafka.SASLUsername == "" || c.Kafka.SASLPassword == "" {
			return invalid("kafka.sasl_mechanism %s needs kafka.sasl_username and a password (%s or kafka.sasl_password_file)", c.Kafka.SASLMechanism, EnvSASLPassword)
		}
		tls := c.Kafka.TLS || c.Kafka.TLSCAFile != ""
		if strings.EqualFold(c.Kafka.SASLMechanism, "PLAIN") && !tls && !c.Kafka.AllowPlaintextSASL {
			return invalid("kafka.sasl_mechanism PLAIN without TLS would send the Kafka password in the clear: set kafka.tls (or kafka.tls_ca_file), or --kafka-allow-plaintext-sasl on a trusted network")
		}
	default:
		return invalid("kafka.sasl_mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.Kafka.SASLMechanism)
	}
	return nil
}

// Validate checks everything `closesink run` needs.
func (c *Config) Validate() error {
	if err := c.ValidateKafka(); err != nil {
		return err
	}
	switch {
	case c.Topic == "":
		return invalid("topic is required (--topic or CLOSESINK_TOPIC)")
	case c.Group == "":
		return invalid("group must not be empty")
	case strings.ContainsAny(c.InstanceID, " \t\r\n") || len(c.InstanceID) > 249:
		return invalid("instance-id %q: at most 249 characters, no spaces", c.InstanceID)
	case c.DLQTopic == c.Topic:
		return invalid("dlq-topic must differ from topic (%q)", c.Topic)
	case c.ResultsTopic != "" && (c.ResultsTopic == c.Topic || c.ResultsTopic == c.DLQTopic):
		return invalid("results-topic must differ from topic and dlq-topic (%q)", c.ResultsTopic)
	case c.NotReadyAfter < 0:
		return invalid("not-ready-after must be > 0")
	case c.BufferBytes < 1<<20:
		return invalid("buffer-bytes must be at least 1 MiB (1048576), got %d", c.BufferBytes)
	case c.FetchMaxBytes < 64<<10 || c.FetchMaxBytes > 1<<30:
		return invalid("fetch-max-bytes must be between 64 KiB (65536) and 1 GiB, got %d", c.FetchMaxBytes)
	case c.PProf && c.MetricsAddr == "":
		return invalid("pprof needs metrics-addr: the profiles are served there")
	case c.APIKey == "":
		return invalid("the Close API key is required: set %s or --api-key-file", EnvAPIKey)
	case c.Rate <= 0:
		return invalid("rate must be > 0 requests/second (got %v)", c.Rate)
	case c.Burst < 1:
		return invalid("burst must be >= 1 (got %d)", c.Burst)
	case c.MaxRetryDuration < 0:
		return invalid("max-retry-duration must be >= 0 (0 = retry forever)")
	case c.RequestTimeout <= 0:
		return invalid("request-timeout must be > 0")
	case c.ShutdownTimeout <= 0:
		return invalid("shutdown-timeout must be > 0")
	case c.RequestTimeout >= c.ShutdownTimeout:
		// A stop waits for requests in flight; one that cannot finish
		// within the wait is aborted, and Close may have acted on it.
		return invalid("request-timeout (%s) must be shorter than shutdown-timeout (%s), so a stop lets a request in flight finish", c.RequestTimeout, c.ShutdownTimeout)
	case c.ShutdownTimeout+consumer.DefaultCommitTimeout >= c.SessionTimeout:
		// The final commit happens while the member is still in the group;
		// a stop longer than the session would be fenced out first.
		return invalid("shutdown-timeout (%s) plus the %s commit timeout must be shorter than session-timeout (%s)",
			c.ShutdownTimeout, consumer.DefaultCommitTimeout, c.SessionTimeout)
	case c.MaxRecordBytes <= 0:
		return invalid("max-record-bytes must be > 0")
	case c.DedupeWindow < 0:
		return invalid("dedupe-window must be >= 0 (0 = off)")
	case c.Delivery.Mode != ModeCreate && c.Delivery.Mode != ModeUpsert:
		return invalid("mode: %q is not create or upsert", c.Delivery.Mode)
	case c.Delivery.OnMatch != OnMatchUpdate && c.Delivery.OnMatch != OnMatchSkip:
		return invalid("on-match: %q is not update or skip", c.Delivery.OnMatch)
	case c.Delivery.Memory < 0:
		return invalid("upsert-memory must be >= 0 (0 = always ask Close)")
	case c.Delivery.UpdateOnIdentify && c.Delivery.Mode != ModeUpsert:
		return invalid("update-on-identify needs --mode upsert")
	}
	if u, err := url.Parse(c.CloseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("close-url: %q is not an http(s) URL", c.CloseURL)
	}
	if c.LeadStatusID != "" && !strings.HasPrefix(c.LeadStatusID, "stat_") {
		return invalid("lead-status-id: %q does not look like a Close status id (stat_...)", c.LeadStatusID)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		return invalid("log-format: %q is not auto, json or console", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return invalid("log-level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// Redacted is a loggable view of the effective configuration: secrets are
// shown only as set or not set.
func (c Config) Redacted() map[string]any {
	set := func(s string) string {
		if s == "" {
			return "(not set)"
		}
		return "(set)"
	}
	return map[string]any{
		"brokers": c.Brokers, "topic": c.Topic, "group": c.Group, "instance_id": c.InstanceID, "dlq_topic": c.DLQTopic,
		"results_topic": c.ResultsTopic, "not_ready_after": c.NotReadyAfter.String(),
		"close_url": c.CloseURL, "api_key": set(c.APIKey), "lead_status_id": c.LeadStatusID,
		"consent_category": c.ConsentCategory, "phone_region": c.PhoneRegion,
		"rate": c.Rate, "burst": c.Burst, "max_retry_duration": c.MaxRetryDuration.String(),
		"request_timeout": c.RequestTimeout.String(), "shutdown_timeout": c.ShutdownTimeout.String(),
		"session_timeout":  c.SessionTimeout.String(),
		"max_record_bytes": c.MaxRecordBytes, "buffer_bytes": c.BufferBytes, "fetch_max_bytes": c.FetchMaxBytes, "dedupe_window": c.DedupeWindow, "metrics_addr": c.MetricsAddr, "pprof": c.PProf, "log_pii": c.LogPII,
		"events": c.Mapping.Events, "custom_fields": c.Mapping.CustomFields, "strict_json": c.Mapping.StrictJSON,
		"mode": c.Delivery.Mode, "on_match": c.Delivery.OnMatch, "update_on_identify": c.Delivery.UpdateOnIdentify,
		"upsert_memory": c.Delivery.Memory,
		"kafka_tls":     c.Kafka.TLS, "kafka_sasl_mechanism": c.Kafka.SASLMechanism, "kafka_sasl_password": set(c.Kafka.SASLPassword),
		"kafka_allow_plaintext_sasl": c.Kafka.AllowPlaintextSASL,
	}
}

// Warnings lists settings that work but deserve the operator's attention;
// closesink logs them at start.
func (c Config) Warnings() []string {
	var w []string
	if u, err := url.Parse(c.CloseURL); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		w = append(w, fmt.Sprintf("close-url %s is plain http to a host that is not this machine: the API key and the leads cross the network unencrypted", u.Redacted()))
	}
	return w
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
