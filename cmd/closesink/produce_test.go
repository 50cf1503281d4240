package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// produce-samples writes the sample set --repeat times, byte for byte, with
// keys and the sample header, to whatever cluster kafkatest provides.
func TestProduceSamplesToCluster(t *testing.T) {
	b := kafkatest.Start(t)
	topic := b.CreateTopic(t, 2)
	all, err := samples.All()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := produceSamples(ctx, b.Brokers, topic, 2, &out); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("produced %d sample events", 2*len(all))
	if !strings.Contains(out.String(), want) {
		t.Errorf("output %q lacks %q", out.String(), want)
	}

	byName := map[string]samples.Sample{}
	for _, s := range all {
		byName[s.Name] = s
	}
	cl := b.NewClient(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	count := map[string]int{}
	var total int
	for total < 2*len(all) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v", total, 2*len(all), ctx.Err())
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatal(errs[0].Err)
		}
		for _, r := range fetches.Records() {
			total++
			name := headerValue(r, samples.HeaderSample)
			s, ok := byName[name]
			if !ok {
				t.Fatalf("record without a known sample header: %q", name)
			}
			if !bytes.Equal(r.Value, s.Value) && !bytes.Equal(r.Value, samples.RepeatValue(s.Value, 1)) || string(r.Key) != s.Key {
				t.Errorf("%s: record differs from the sample", name)
			}
			count[name]++
		}
	}
	for _, s := range all {
		if count[s.Name] != 2 {
			t.Errorf("%s produced %d times, want 2", s.Name, count[s.Name])
		}
	}
}

func TestProduceSamplesMissingTopicIsASetupError(t *testing.T) {
	b := kafkatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	missing := kafkatest.UniqueName(t, "missing")
	err := produceSamples(ctx, b.Brokers, missing, 1, &bytes.Buffer{})
	if exitCode(err) != exitConfig || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want exit %d naming the topic", err, exitConfig)
	}
}

// The command reads CLOSESINK_BROKERS and CLOSESINK_TOPIC when the flags are
// absent, and rejects incomplete settings with exit 2.
func TestProduceSamplesCommand(t *testing.T) {
	b := kafkatest.Start(t)
	topic := b.CreateTopic(t, 1)
	r := runToEnd(t, []string{"CLOSESINK_BROKERS=" + strings.Join(b.Brokers, ","), "CLOSESINK_TOPIC=" + topic},
		"produce-samples", "--repeat", "3")
	all, _ := samples.All()
	if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("produced %d sample events", 3*len(all))) {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no brokers", nil, []string{"--topic", "t"}, "brokers"},
		{"no topic", []string{"CLOSESINK_BROKERS=127.0.0.1:9"}, nil, "topic"},
		{"bad repeat", nil, []string{"--brokers", "h:1", "--topic", "t", "--repeat", "0"}, "repeat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runToEnd(t, tc.env, append([]string{"produce-samples"}, tc.args...)...)
			if r.code != exitConfig || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", r.code, r.stderr, tc.want)
			}
		})
	}
}
