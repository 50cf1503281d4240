package service

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

	"github.com/closesink/closesink/internal/config"
)

// KafkaOpts are the connection options every Kafka client of closesink uses.
func KafkaOpts(cfg config.Config, log *zap.Logger) ([]kgo.Opt, error) {
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
				return nil, fmt.Errorf("%w: kafka.tls_ca_file: %w", config.ErrInvalid, err)
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

// ErrMissingTopic is a setup error: closesink never creates topics itself
// (partition count and retention are the operator's decisions).
var ErrMissingTopic = errors.New("topic does not exist")

// CheckTopics verifies that every topic exists and returns their partition
// counts. Unreachable brokers give a clear error within timeout.
func CheckTopics(ctx context.Context, cl *kgo.Client, timeout time.Duration, topics ...string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
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
		return nil, fmt.Errorf("%w: %s (create it first, e.g. with kafka-topics.sh --create)", ErrMissingTopic, strings.Join(missing, ", "))
	}
	return counts, nil
}

// TopicCheckTimeout bounds the start-up check that the topics exist.
const TopicCheckTimeout = 20 * time.Second

// Connect creates a client with opts and checks that topics exist, returning
// their partition counts. Bad options and a missing topic are setup errors
// (ErrSetup); an unreachable cluster is not. On error the client is closed.
func Connect(ctx context.Context, opts []kgo.Opt, timeout time.Duration, topics ...string) (*kgo.Client, map[string]int, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, setup(err)
	}
	counts, err := CheckTopics(ctx, cl, timeout, topics...)
	if err != nil {
		cl.Close()
		if errors.Is(err, ErrMissingTopic) {
			return nil, nil, setup(err)
		}
		return nil, nil, err
	}
	return cl, counts, nil
}

// topicAbsent is topic's entry in a metadata answer and whether the answer
// says the topic does not exist: not listed, UNKNOWN_TOPIC_OR_PARTITION, or
// listed without partitions.
func topicAbsent(details kadm.TopicDetails, topic string) (kadm.TopicDetail, bool) {
	d, ok := details[topic]
	return d, !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) || (d.Err == nil && len(d.Partitions) == 0)
}
