package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"

	"github.com/closesink/closesink/pkg/config"
)

// kafkaOpts are the connection options every Kafka client of closesink uses.
func kafkaOpts(cfg config.Config, log *zap.Logger) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kzap.New(log.Named("kafka"), kzap.Level(kgo.LogLevelWarn))),
		// A dead-letter record carries the whole source value plus headers.
		kgo.ProducerBatchMaxBytes(int32(min(cfg.MaxRecordBytes+(64<<10), 1<<30))),
	}
	if cfg.Kafka.TLS || cfg.Kafka.TLSCAFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.Kafka.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.Kafka.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("%w: kafka.tls_ca_file: %v", config.ErrInvalid, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: kafka.tls_ca_file: no PEM certificates in %s", config.ErrInvalid, cfg.Kafka.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	user, pass := cfg.Kafka.SASLUsername, cfg.Kafka.SASLPassword
	switch strings.ToUpper(cfg.Kafka.SASLMechanism) {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	}
	return opts, nil
}

// errMissingTopic is a setup error: closesink never creates topics itself
// (partition count and retention are the operator's decisions).
var errMissingTopic = errors.New("topic does not exist")

// checkTopics verifies that every topic exists and returns their partition
// counts. Unreachable brokers give a clear error within timeout.
func checkTopics(ctx context.Context, cl *kgo.Client, timeout time.Duration, topics ...string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Kafka (asked for topics %s within %s): %w", strings.Join(topics, ", "), timeout, err)
	}
	counts := map[string]int{}
	var missing []string
	for _, t := range topics {
		d, ok := details[t]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) || (d.Err == nil && len(d.Partitions) == 0) {
			missing = append(missing, t)
			continue
		}
		if d.Err != nil {
			return nil, fmt.Errorf("topic %q: %w", t, d.Err)
		}
		counts[t] = len(d.Partitions)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%w: %s (create it first, e.g. with kafka-topics.sh --create)", errMissingTopic, strings.Join(missing, ", "))
	}
	return counts, nil
}

// topicCheckTimeout bounds the start-up check that the topics exist.
const topicCheckTimeout = 20 * time.Second

// connect creates a client with opts and checks that topics exist, returning
// their partition counts. Its errors carry closesink's exit codes: 2 for
// bad options or a missing topic (fix the setup), 1 for an unreachable
// cluster. On error the client is already closed.
func connect(ctx context.Context, opts []kgo.Opt, timeout time.Duration, topics ...string) (*kgo.Client, map[string]int, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, withCode(exitConfig, err)
	}
	counts, err := checkTopics(ctx, cl, timeout, topics...)
	if err != nil {
		cl.Close()
		if errors.Is(err, errMissingTopic) {
			return nil, nil, withCode(exitConfig, err)
		}
		return nil, nil, withCode(exitFailure, err)
	}
	return cl, counts, nil
}
