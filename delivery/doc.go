// Package delivery sends one Close lead at a time to Close's REST API and says
// what became of it: delivered, permanent failure, retries exhausted, or
// interrupted (the caller stopped before the outcome was final).
//
// A [Client] is shared by every partition worker of one closesink instance. It
// owns the HTTP connection pool, the shared 429 pause and the per-partition
// rate limiters. A [Sender] is one partition's handle: it waits for its turn
// (shared pause, then its limiter), posts the lead, classifies the answer with
// [Classify] and retries transient failures with exponential backoff from
// github.com/sethvargo/go-retry until the retry budget is spent.
//
// Policy (docs/design.md §4):
//   - 2xx: delivered. The created lead id and first contact id are parsed
//     from the body when it is JSON; a 2xx is never retried (Close does not
//     deduplicate, so a retry after a 2xx would create a second lead).
//   - 1xx, 3xx, 501 and 4xx other than 408, 425 and 429: permanent.
//   - 408, 425, 429, other 5xx, connection errors and timeouts: retry.
//   - A 429 pauses every partition of the client until the server's reset
//     (RateLimit reset, else Retry-After, else a rate_reset body value, else
//     Config.DefaultRateLimitWait). A response showing remaining=0 makes the
//     next request of any partition wait for reset.
//   - The rate budget is for the whole consumer group: each partition's
//     limiter gets Rate/partitions, so any number of replicas stay within the
//     budget without coordinating.
//
// Cancellation: cancelling the context passed to [Sender.Deliver] stops every
// wait at once and prevents new attempts, but an HTTP request already on the
// wire is left to finish (bounded by Config.RequestTimeout) and its real
// outcome is returned: cancelling it would leave the caller not knowing
// whether Close created the lead, and the record would be re-sent on restart
// as a duplicate. [Client.Abort] is the hard stop that cancels those too.
//
// The API key is held as a [Secret], sent only in the Authorization header
// (never in a URL, whose text appears in transport errors) and scrubbed from
// every message this package produces.
//
// This package never imports Kafka code.
package delivery
