package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/closesink/closesink/transform"
)

// Register declares every setting as a flag on fs, bound to c (whose values
// are the defaults --help shows). Use Load after parsing.
func Register(fs *pflag.FlagSet, c *Config) {
	fs.String("config", "", "YAML configuration file (see closesink.example.yaml); env and flags override it")
	fs.StringSliceVar(&c.Brokers, "brokers", c.Brokers, "Kafka bootstrap brokers, comma-separated host:port (required)")
	fs.StringVar(&c.Topic, "topic", c.Topic, "source topic of Signal events (required)")
	fs.StringVar(&c.Group, "group", c.Group, "consumer group id shared by all replicas")
	fs.StringVar(&c.InstanceID, "instance-id", c.InstanceID, "static group membership: a stable, unique name per replica (e.g. the pod name); a restart takes its partitions back at once")
	fs.StringVar(&c.DLQTopic, "dlq-topic", c.DLQTopic, "dead-letter topic (default <topic>.dlq)")
	fs.StringVar(&c.ResultsTopic, "results-topic", c.ResultsTopic, "optional topic that gets one JSON record per delivered lead (Close lead and contact ids, action), written before the offset is committed")
	fs.StringVar(&c.CloseURL, "close-url", c.CloseURL, "Close API base URL")
	fs.StringVar(&c.APIKeyFile, "api-key-file", c.APIKeyFile, "file holding the Close API key (else env "+EnvAPIKey+"; the key itself is never a flag)")
	fs.StringVar(&c.LeadStatusID, "lead-status-id", c.LeadStatusID, "Close lead status id for new leads (stat_...); empty = org default")
	fs.StringVar(&c.ConsentCategory, "consent-category", c.ConsentCategory, "consent category that must be granted")
	fs.StringVar(&c.PhoneRegion, "phone-region", c.PhoneRegion, "default region (ISO 3166 alpha-2) for national phone numbers")
	fs.StringSliceVar(&c.Mapping.Events, "events", c.Mapping.Events, "track events that create a lead (default "+strings.Join(transform.DefaultEvents, ", ")+")")
	fs.BoolVar(&c.Mapping.StrictJSON, "strict-json", c.Mapping.StrictJSON, "parse every record in full: a malformed JSON object that names no mapped event is dead-lettered as invalid_event instead of dropped unparsed as no_mapped_name (slower: about 10x per non-lead event)")
	fs.StringVar(&c.Delivery.Mode, "mode", c.Delivery.Mode, "create: every lead event creates a lead; upsert: one lead per person (match by email, update instead of create)")
	fs.StringVar(&c.Delivery.OnMatch, "on-match", c.Delivery.OnMatch, "upsert: what to do with a person Close already has: update or skip")
	fs.BoolVar(&c.Delivery.UpdateOnIdentify, "update-on-identify", c.Delivery.UpdateOnIdentify, "upsert: identify calls with an email update an existing contact (never create a lead)")
	fs.IntVar(&c.Delivery.Memory, "upsert-memory", c.Delivery.Memory, "upsert: people each partition remembers (email -> Close ids), sparing a search; 0 = always search")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "Close requests/second for the WHOLE consumer group (split across partitions)")
	fs.IntVar(&c.Burst, "burst", c.Burst, "request burst for the whole consumer group")
	fs.DurationVar(&c.MaxRetryDuration, "max-retry-duration", c.MaxRetryDuration, "how long transient failures are retried before dead-lettering (0 = forever)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "timeout of one HTTP request to Close")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a stop waits for in-flight requests before aborting them (must exceed request-timeout)")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", c.SessionTimeout, "consumer group session timeout: a replica silent this long loses its partitions (must exceed shutdown-timeout + 10s)")
	fs.IntVar(&c.MaxRecordBytes, "max-record-bytes", c.MaxRecordBytes, "larger record values are dead-lettered as invalid_event")
	fs.IntVar(&c.BufferBytes, "buffer-bytes", c.BufferBytes, "record bytes this replica may hold read but unprocessed, across its partitions; a partition past its share pauses its fetches (memory bound, with --fetch-max-bytes)")
	fs.IntVar(&c.FetchMaxBytes, "fetch-max-bytes", c.FetchMaxBytes, "bytes one Kafka fetch response may carry (at most 1 MiB of it per partition); one is kept buffered beside the queues")
	fs.IntVar(&c.DedupeWindow, "dedupe-window", c.DedupeWindow, "messageIds of delivered leads each partition remembers; a repeat is dropped as duplicate (0 = off)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve Prometheus /metrics, /healthz (liveness) and /readyz (readiness) here (e.g. :9090); empty = off")
	fs.BoolVar(&c.PProf, "pprof", c.PProf, "also serve Go's /debug/pprof/ profiles on --metrics-addr (CPU, heap, goroutines; for measuring, keep the address private)")
	fs.DurationVar(&c.NotReadyAfter, "not-ready-after", c.NotReadyAfter, "/readyz turns not ready when Kafka has not answered for this long")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json, console or auto (console on a terminal)")
	fs.BoolVar(&c.LogPII, "log-pii", c.LogPII, "print emails in logs (off: masked as j***@acme.com)")
	fs.BoolVar(&c.Kafka.AllowPlaintextSASL, "kafka-allow-plaintext-sasl", c.Kafka.AllowPlaintextSASL, "accept SASL PLAIN without TLS (the Kafka password crosses the network in the clear)")
}

// EnvName is the environment variable of a flag: CLOSESINK_ + upper snake case.
func EnvName(flag string) string {
	return "CLOSESINK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Load builds the effective configuration: Defaults, then the YAML file named
// by --config, then CLOSESINK_* environment variables, then the flags set on
// the command line. fs must have been declared by Register (bound to any
// Config) and parsed. It reads secrets (Finish) but does not Validate.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Defaults()
	path, _ := fs.GetString("config")
	if path == "" {
		path = getenv(EnvName("config"))
	}
	if path != "" {
		if err := loadYAML(path, &cfg); err != nil {
			return cfg, err
		}
	}
	// A second flag set bound to cfg parses env values and copies the
	// command-line flags with the same types and rules as the flags.
	into := pflag.NewFlagSet("load", pflag.ContinueOnError)
	Register(into, &cfg)
	var err error
	into.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Name == "config" {
			return
		}
		if v, ok := lookupEnv(getenv, EnvName(f.Name)); ok {
			if e := into.Set(f.Name, v); e != nil {
				err = invalid("%s=%q: %v", EnvName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return cfg, err
	}
	fs.Visit(func(f *pflag.Flag) {
		dst := into.Lookup(f.Name)
		if err != nil || dst == nil || f.Name == "config" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			err = dst.Value.(pflag.SliceValue).Replace(sv.GetSlice())
			return
		}
		if e := dst.Value.Set(f.Value.String()); e != nil {
			err = invalid("--%s: %v", f.Name, e)
		}
	})
	if err != nil {
		return cfg, err
	}
	cfg.Brokers = trimAll(cfg.Brokers)
	cfg.Mapping.Events = trimAll(cfg.Mapping.Events)
	return cfg, cfg.Finish(getenv)
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// SplitList splits a comma-separated value, trimming blanks and dropping
// empty items ("a, b,," -> [a b]).
func SplitList(s string) []string { return trimAll(strings.Split(s, ",")) }

func trimAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func loadYAML(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return invalid("config: cannot read %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, not a silently ignored setting
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		if strings.Contains(err.Error(), "field api_key ") {
			return invalid("config %s: api_key is not accepted in the file (it is too easy to commit); set %s or api_key_file", path, EnvAPIKey)
		}
		return invalid("config %s: %v", path, err)
	}
	for id, field := range cfg.Mapping.CustomFields {
		if strings.TrimSpace(field) == "" {
			return invalid("config %s: mapping.custom_fields.%s has an empty path", path, id)
		}
	}
	return nil
}

// Describe lists the settings for --help: flag, env and meaning.
func Describe() string {
	fs := pflag.NewFlagSet("describe", pflag.ContinueOnError)
	var c Config
	Register(fs, &c)
	var b strings.Builder
	fs.VisitAll(func(f *pflag.Flag) {
		fmt.Fprintf(&b, "  --%-20s %s\n", f.Name, EnvName(f.Name))
	})
	return b.String()
}
