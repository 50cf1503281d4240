package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/metrics"
)

// CheckOptions are the options of `closesink check`.
type CheckOptions struct {
	// Connect also reaches Kafka and Close; without it only the
	// configuration is checked.
	Connect bool
	Out     io.Writer // one line per check
	// Delivery adjusts the Close client's config (tests).
	Delivery func(*delivery.Config)
	// Timeout bounds each Kafka request (default 15s).
	Timeout time.Duration
}

// Check validates cfg and, with Connect, checks what `run` needs from Kafka
// and Close, printing one line per check: "ok ...", "FAIL ..." or "skip ..."
// (a check the broker gave no answer to, e.g. authorized operations it does
// not report). It stops at the first failure and returns it: errors matching
// ErrSetup or config.ErrInvalid are the setup's (exit 2), others mean a
// service did not answer (exit 1). No record is written, no offset
// committed and no group joined.
func Check(ctx context.Context, cfg config.Config, log *zap.Logger, o CheckOptions) error {
	c := &checker{out: o.Out, timeout: o.Timeout}
	if c.timeout <= 0 {
		c.timeout = 15 * time.Second
	}
	if c.out == nil {
		c.out = io.Discard
	}
	// Configuration: everything Run would refuse before connecting.
	if err := cfg.Validate(); err != nil {
		return c.fail("configuration", err)
	}
	if _, err := newTransformer(cfg); err != nil {
		return c.fail("configuration: mapping", err)
	}
	opts, err := KafkaOpts(cfg, log)
	if err != nil {
		return c.fail("configuration: kafka", err)
	}
	dc, err := newDeliveryClient(cfg, metrics.New(), o.Delivery)
	if err != nil {
		return c.fail("configuration: close", err)
	}
	results := cfg.ResultsTopic
	if results == "" {
		results = "(none)"
	}
	c.ok("configuration: topic %s, dlq %s, results %s, group %s, mode %s, %d custom field(s), close %s",
		cfg.Topic, cfg.DLQTopic, results, cfg.Group, cfg.Delivery.Mode, len(cfg.Mapping.CustomFields), cfg.CloseURL)
	for _, w := range cfg.Warnings() {
		c.line("warn", "configuration: %s", w)
	}
	if !o.Connect {
		c.line("skip", "kafka and close: not contacted (add --connect)")
		return nil
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return c.fail("kafka", setup(err))
	}
	defer cl.Close()
	if err := c.kafka(ctx, kadm.NewClient(cl), cfg); err != nil {
		return err
	}
	return c.close(ctx, dc, cfg)
}

type checker struct {
	out     io.Writer
	timeout time.Duration
}

func (c *checker) line(status, format string, a ...any) {
	_, _ = fmt.Fprintf(c.out, "%-4s %s\n", status, fmt.Sprintf(format, a...))
}

func (c *checker) ok(format string, a ...any) { c.line("ok", format, a...) }

// fail prints the failed check and returns err (the caller marks setup
// errors).
func (c *checker) fail(what string, err error) error {
	c.line("FAIL", "%s: %v", what, err)
	return err
}

func (c *checker) kafka(ctx context.Context, adm *kadm.Client, cfg config.Config) error {
	tctx, cancel := context.WithTimeout(kadm.WithAuthorizedOps(ctx), c.timeout)
	defer cancel()
	topics := []string{cfg.Topic, cfg.DLQTopic}
	if cfg.ResultsTopic != "" {
		topics = append(topics, cfg.ResultsTopic)
	}
	md, err := adm.Metadata(tctx, topics...)
	if err != nil {
		var ae *kadm.AuthError
		if errors.As(err, &ae) {
			return c.fail("kafka: describe topics "+strings.Join(topics, ", "), setup(err))
		}
		return c.fail("kafka", fmt.Errorf("cannot reach the brokers %s within %s: %w", strings.Join(cfg.Brokers, ","), c.timeout, err))
	}
	c.ok("kafka: reached cluster %q (%d broker(s))", md.Cluster, len(md.Brokers))
	need := map[string]kadm.ACLOperation{cfg.Topic: kadm.OpRead, cfg.DLQTopic: kadm.OpWrite, cfg.ResultsTopic: kadm.OpWrite}
	role := map[string]string{cfg.Topic: "source", cfg.DLQTopic: "dead-letter", cfg.ResultsTopic: "results"}
	for _, t := range topics {
		d, missing := topicAbsent(md.Topics, t)
		switch {
		case missing:
			return c.fail(fmt.Sprintf("kafka: %s topic %s", role[t], t), setup(fmt.Errorf("%w (create it first)", ErrMissingTopic)))
		case d.Err != nil:
			return c.fail(fmt.Sprintf("kafka: %s topic %s", role[t], t), setup(d.Err))
		}
		c.ok("kafka: %s topic %s exists, %d partition(s) (DESCRIBE allowed)", role[t], t, len(d.Partitions))
		if err := c.authorized(fmt.Sprintf("%s topic %s", role[t], t), d.AuthorizedOperations, need[t]); err != nil {
			return err
		}
	}
	return c.group(ctx, adm, cfg.Group)
}

// authorized checks op among the operations the broker says this principal
// may perform. A broker that reports none (no KIP-430 answer) proves
// nothing either way: "skip".
func (c *checker) authorized(what string, ops []kadm.ACLOperation, op kadm.ACLOperation) error {
	name := strings.ToUpper(op.String())
	switch {
	case len(ops) == 0:
		c.line("skip", "kafka: %s: %s not verified (the broker reports no authorized operations)", what, name)
	case slices.Contains(ops, op) || slices.Contains(ops, kadm.OpAll):
		c.ok("kafka: %s: %s allowed (the broker's ACL answer; nothing was produced or consumed)", what, name)
	default:
		return c.fail("kafka: "+what, setup(fmt.Errorf("%s is not allowed for this principal (allowed: %v)", name, ops)))
	}
	return nil
}

// group checks the consumer group: fetching its offsets needs DESCRIBE on
// it (proven by the answer); joining and committing need READ (from the
// broker's ACL answer to DescribeGroups). Nothing is joined or committed.
func (c *checker) group(ctx context.Context, adm *kadm.Client, group string) error {
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	offs, err := adm.FetchOffsets(tctx, group)
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		c.ok("kafka: group %s: no committed offsets yet (a new group starts at the oldest record)", group)
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return c.fail("kafka: group "+group, setup(err))
	case err != nil:
		return c.fail("kafka: group "+group, err)
	default:
		n := 0
		offs.Each(func(kadm.OffsetResponse) { n++ })
		c.ok("kafka: group %s: offsets readable, %d partition offset(s) committed (DESCRIBE allowed)", group, n)
	}
	described, err := adm.DescribeGroups(tctx, group)
	if err != nil {
		return c.fail("kafka: describe group "+group, err)
	}
	d := described[group]
	switch {
	case errors.Is(d.Err, kerr.GroupAuthorizationFailed):
		return c.fail("kafka: group "+group, setup(d.Err))
	case d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound):
		return c.fail("kafka: group "+group, d.Err)
	}
	c.ok("kafka: group %s: state %s, %d member(s)", group, orNone(d.State), len(d.Members))
	return c.authorized("group "+group+" (join, commit)", d.AuthorizedOperations, kadm.OpRead)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (c *checker) close(ctx context.Context, dc *delivery.Client, cfg config.Config) error {
	if err := dc.CheckKey(ctx); err != nil {
		if errors.Is(err, delivery.ErrKeyRejected) {
			err = setup(err)
		}
		return c.fail("close: API key (GET /api/v1/me/)", err)
	}
	c.ok("close: API key accepted (GET /api/v1/me/)")
	if cfg.LeadStatusID == "" {
		c.ok("close: lead status not set: new leads get the organization's default")
	} else {
		sts, err := dc.LeadStatuses(ctx)
		if err != nil {
			return c.fail("close: lead statuses", lookupErr(err))
		}
		i := slices.IndexFunc(sts, func(s delivery.LeadStatus) bool { return s.ID == cfg.LeadStatusID })
		if i < 0 {
			return c.fail("close: lead status "+cfg.LeadStatusID, setup(fmt.Errorf("no such lead status in this organization (%d statuses)", len(sts))))
		}
		c.ok("close: lead status %s exists (%q)", cfg.LeadStatusID, sts[i].Label)
	}
	if len(cfg.Mapping.CustomFields) == 0 {
		return nil
	}
	cfs, err := dc.LeadCustomFields(ctx)
	if err != nil {
		return c.fail("close: lead custom fields", lookupErr(err))
	}
	ids := make([]string, 0, len(cfg.Mapping.CustomFields))
	for id := range cfg.Mapping.CustomFields {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		i := slices.IndexFunc(cfs, func(f delivery.CustomField) bool { return f.ID == id })
		if i < 0 {
			return c.fail("close: custom field "+id, setup(fmt.Errorf("no such lead custom field in this organization (%d fields)", len(cfs))))
		}
		c.ok("close: custom field %s exists (%q, %s) <- %s", id, cfs[i].Name, cfs[i].Type, cfg.Mapping.CustomFields[id])
	}
	return nil
}

// lookupErr marks a look-up Close refused as the setup's problem: a
// rejected key, or a 4xx that says the key may not list these objects.
func lookupErr(err error) error {
	var le *delivery.LookupError
	if errors.As(err, &le) && le.Status >= 400 && le.Status < 500 && le.Status != 429 {
		return setup(err)
	}
	return err
}
