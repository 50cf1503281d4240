package delivery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/closesink/closesink/pkg/closeapi"
)

// ErrAborted is the reason given (in Outcome.Message) for outcomes cut short
// by Client.Abort.
var ErrAborted = errors.New("delivery: client aborted")

// Client posts leads to Close. It holds the connection pool, the shared 429
// pause and one rate limiter per partition. It is safe for concurrent use;
// create one per closesink instance and hand each partition worker its
// Sender.
type Client struct {
	cfg        Config
	hc         *http.Client
	leadURL    string
	baseURL    string // leadURL without /api/v1/lead/, for the other endpoints
	authHeader string
	scrubber   *strings.Replacer

	abortCtx context.Context
	abortFn  context.CancelFunc

	mu         sync.Mutex
	partitions int // of the source topic
	assigned   int // of them, owned by this member
	senders    map[int32]*Sender
	// limiter is this member's share of the group budget, shared by every
	// partition it owns (nil when Rate is 0); see SetAssigned.
	limiter *rate.Limiter

	pauseMu    sync.Mutex
	pauseUntil time.Time
}

// New validates cfg, applies defaults and returns a Client. The client
// starts with one partition: call SetPartitions with the source topic's
// partition count before delivering, or each partition gets the whole
// group's budget.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	u, err := leadURL(cfg.BaseURL)
	if err != nil { // unreachable after Validate; kept so New never trusts it blindly
		return nil, errors.Join(ErrInvalidConfig, err)
	}
	key := cfg.APIKey.Reveal()
	b64 := base64.StdEncoding.EncodeToString([]byte(key + ":"))
	c := &Client{
		cfg:        cfg,
		hc:         httpClient(cfg.HTTPClient),
		leadURL:    u,
		baseURL:    strings.TrimSuffix(u, closeapi.LeadPath),
		authHeader: "Basic " + b64,
		// Scrub the key and its Basic encoding from every text we produce, in
		// case a proxy or server echoes the request back.
		scrubber:   strings.NewReplacer(key, redacted, b64, redacted),
		partitions: 1,
		assigned:   1,
		senders:    map[int32]*Sender{},
	}
	if cfg.Rate > 0 {
		c.limiter = rate.NewLimiter(c.memberLimit(), c.memberBurst())
	}
	c.abortCtx, c.abortFn = context.WithCancel(context.Background())
	return c, nil
}

// httpClient copies the caller's client (or builds one) with redirects off.
func httpClient(base *http.Client) *http.Client {
	var hc http.Client
	if base != nil {
		hc = *base
	} else {
		hc.Transport = newTransport()
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// newTransport is a keep-alive transport sized for one connection per
// partition worker: the default MaxIdleConnsPerHost (2) would close and
// reopen TLS connections whenever more than two partitions deliver at once.
func newTransport() http.RoundTripper {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	t.MaxIdleConns = 2 * DefaultMaxIdleConnsPerHost
	t.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// SetPartitions sets the number of partitions of the source topic and
// SetAssigned how many of them this member owns. Together they size the
// member's share of the group budget: Rate*assigned/partitions requests per
// second with a burst of max(1, Burst*assigned/partitions) (rounded down).
// Every member's shares add up to the budget, so any number of replicas stay
// under it without talking to each other.
//
// Within the member the share is work-conserving: one limiter serves every
// partition it owns, first come first served, so partitions with leads use
// the whole share while the others are idle, and each busy partition (one
// request at a time) gets its turn in order, so none starves another. (A
// fixed slice per partition would leave most of the budget unused when the
// leads sit on a few partitions.) Across members a share cannot be lent:
// an idle member's share stays unused. Before SetAssigned the member counts
// one partition. n < 1 counts as 1. Safe for concurrent use; does not block.
func (c *Client) SetPartitions(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partitions = max(n, 1)
	c.resize()
}

// SetAssigned sets how many source partitions this member owns (see
// SetPartitions); n < 1 counts as 1 (a member owning none sends nothing).
func (c *Client) SetAssigned(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.assigned = max(n, 1)
	c.resize()
}

// resize applies the share to the limiter; call with mu held.
func (c *Client) resize() {
	if c.limiter == nil {
		return
	}
	now := c.cfg.Clock.Now()
	c.limiter.SetLimitAt(now, c.memberLimit())
	c.limiter.SetBurstAt(now, c.memberBurst())
}

func (c *Client) memberLimit() rate.Limit {
	return rate.Limit(c.cfg.Rate * float64(min(c.assigned, c.partitions)) / float64(c.partitions))
}

func (c *Client) memberBurst() int {
	return max(1, c.cfg.Burst*min(c.assigned, c.partitions)/c.partitions)
}

// Sender returns the sender of a partition, creating it on first use and
// returning the same one afterwards. Safe for concurrent use.
func (c *Client) Sender(partition int32) *Sender {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.senders[partition]; ok {
		return s
	}
	s := &Sender{c: c, partition: partition}
	c.senders[partition] = s
	return s
}

// Abort is the hard stop (a second SIGTERM): it cancels every in-flight HTTP
// request and every wait, and makes later Deliver calls return Interrupted
// at once. Outcomes cut short this way are Interrupted; a request that had
// reached Close may have created the lead, so the record will be re-sent
// (at-least-once). Safe for concurrent use; idempotent; does not block.
func (c *Client) Abort() {
	c.abortFn()
	c.hc.CloseIdleConnections()
}

// aborted reports whether Abort was called.
func (c *Client) aborted() bool { return c.abortCtx.Err() != nil }

// scrub removes the key from text that may be shown to anyone.
func (c *Client) scrub(s string) string { return cleanMessage(c.scrubber.Replace(s)) }

// pauseRemaining is how long every partition must still wait because of a
// 429 or an exhausted window.
func (c *Client) pauseRemaining() time.Duration {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	return c.pauseUntil.Sub(c.cfg.Clock.Now())
}

// pauseFor makes every partition wait d from now (never shortening a pause).
func (c *Client) pauseFor(d time.Duration) {
	if d <= 0 {
		return
	}
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	if until := c.cfg.Clock.Now().Add(d); until.After(c.pauseUntil) {
		c.pauseUntil = until
	}
}

// Format prints a summary of the client for every verb. It exists so that
// %v, %+v and %#v never reach the unexported fields that hold the key (fmt
// ignores Secret's own Format on unexported fields).
func (c *Client) Format(f fmt.State, _ rune) {
	c.mu.Lock()
	n := c.partitions
	c.mu.Unlock()
	_, _ = fmt.Fprintf(f, "delivery.Client{url: %s, partitions: %d, rate: %g, burst: %d}", c.leadURL, n, c.cfg.Rate, c.cfg.Burst)
}
