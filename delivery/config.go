package delivery

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL             = "https://api.close.com"
	DefaultRequestTimeout      = 15 * time.Second
	DefaultBackoffBase         = 500 * time.Millisecond
	DefaultBackoffMax          = 30 * time.Second
	DefaultRateLimitWait       = 2 * time.Second
	DefaultMaxIdleConnsPerHost = 64
	// DefaultMaxRetryDuration is the retry budget callers should use when the
	// operator sets none. It is not applied by New, because a zero
	// MaxRetryDuration means "retry forever".
	DefaultMaxRetryDuration = 10 * time.Minute
)

// MaxServerWait caps any wait a server asks for (RateLimit reset, Retry-After,
// rate_reset). Close's windows are seconds long; a larger value is a broken
// header (for instance an epoch timestamp where seconds were expected) and
// must not park every partition for years.
const MaxServerWait = 15 * time.Minute

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("delivery: invalid config")

// Attempt describes one HTTP attempt, for metrics and logs. It never holds
// the API key or lead data.
type Attempt struct {
	Partition   int32
	Number      int           // 1-based attempt number within one Deliver call
	HTTPStatus  int           // 0 when no response arrived
	Class       Class         // how the attempt was classified
	Message     string        // short reason for a failed attempt, "" on success
	Latency     time.Duration // time spent on the HTTP exchange
	Wait        time.Duration // wait before the next attempt; 0 when none follows
	RateLimited bool          // the server answered 429
}

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is Close's API root, without /api/v1; "" means
	// DefaultBaseURL. Scheme must be http or https and it must not carry
	// user info (the key goes in the Authorization header only).
	BaseURL string
	// APIKey is the Close API key, sent as the Basic auth user name.
	APIKey Secret
	// Version names the closesink build in the default User-Agent
	// ("closesink/<Version>"); "" means "dev".
	Version string
	// UserAgent overrides the User-Agent header.
	UserAgent string
	// RequestTimeout bounds one HTTP exchange including reading the body;
	// 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Rate is the request budget of the whole consumer group in requests
	// per second; 0 disables rate limiting. Burst is the group's burst.
	// Each partition gets Rate/partitions (see Client.SetPartitions).
	Rate  float64
	Burst int
	// MaxRetryDuration bounds the time from a lead's first attempt until
	// its last; when the next wait would pass it the outcome is
	// RetriesExhausted. 0 retries forever (callers normally pass
	// DefaultMaxRetryDuration).
	MaxRetryDuration time.Duration
	// BackoffBase is the first retry wait, doubled per retry with ±20%
	// jitter and capped at BackoffMax. 0 means the defaults.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// DefaultRateLimitWait is the pause after a 429 that carries no reset
	// information; 0 means DefaultRateLimitWait.
	DefaultRateLimitWait time.Duration
	// HTTPClient is used for requests when set. It is copied, and the copy
	// never follows redirects: net/http would turn a redirected POST into
	// a GET, and a 200 from GET /api/v1/lead/ would look like a delivery.
	// When nil, a client with a dedicated keep-alive transport is built.
	HTTPClient *http.Client
	// Clock is the time source for waits; nil means RealClock.
	Clock Clock
	// OnAttempt, if set, is called synchronously after every HTTP attempt,
	// concurrently from different partitions. It must be fast and must not
	// block.
	OnAttempt func(Attempt)
}

// Validate reports whether c is usable, treating zero fields as their
// defaults. It never prints the API key. It does not block.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if _, err := leadURL(c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	key := c.APIKey.Reveal()
	switch {
	case key == "":
		bad("api key is empty")
	case strings.ContainsAny(key, ":\r\n\t "):
		// ':' would split the Basic auth user name; whitespace is a paste error.
		bad("api key must not contain ':' or whitespace")
	}
	if strings.ContainsAny(c.UserAgent, "\r\n") {
		bad("user agent must not contain line breaks")
	}
	if c.RequestTimeout < 0 {
		bad("request timeout %v is negative", c.RequestTimeout)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		bad("rate %v must be a finite number >= 0", c.Rate)
	}
	if c.Burst < 0 {
		bad("burst %d is negative", c.Burst)
	}
	if c.MaxRetryDuration < 0 {
		bad("max retry duration %v is negative", c.MaxRetryDuration)
	}
	if c.BackoffBase < 0 || c.BackoffMax < 0 {
		bad("backoff durations must not be negative")
	}
	if c.BackoffBase > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffBase {
		bad("backoff max %v is below backoff base %v", c.BackoffMax, c.BackoffBase)
	}
	if c.DefaultRateLimitWait < 0 {
		bad("default rate limit wait %v is negative", c.DefaultRateLimitWait)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// withDefaults returns c with zero fields replaced by defaults.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.UserAgent == "" {
		c.UserAgent = "closesink/" + c.Version
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
		if c.BackoffMax > 0 && c.BackoffMax < c.BackoffBase {
			c.BackoffBase = c.BackoffMax
		}
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffBase)
	}
	if c.DefaultRateLimitWait == 0 {
		c.DefaultRateLimitWait = DefaultRateLimitWait
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	return c
}

// leadURL validates base and returns the create-lead endpoint under it.
// Errors never echo the URL: a mistyped config may have the key in it.
func leadURL(base string) (string, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", errors.New("base url does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base url scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return "", errors.New("base url has no host")
	case u.User != nil:
		return "", errors.New("base url must not contain user info; set the api key instead")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("base url must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/") + "/api/v1/lead/", nil
}
