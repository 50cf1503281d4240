// Package e2e is closesink's fault suite: "nothing lost, proven under
// faults". Every scenario drives the real binary (bin/closesink) as separate
// processes against a real Kafka broker and an in-process Close emulator
// (pkg/closeemu on 127.0.0.1, so the test changes faults at run time and reads
// what Close received directly), then ends with a ledger line:
//
//	ledger scenario=kill9 produced=… leads=… delivered_unique=… duplicates=… dlq=… dropped=… committed==end:true …
//
// and asserts it: every lead event produced is in the emulator at least once
// or in the dead-letter topic with a closesink.error.class header, every drop
// is counted, and after a graceful stop the group's committed offsets equal
// the end offsets.
//
// Scenarios:
//
//  1. kill9:    SIGKILL five times at random moments during a backlog with a
//     200 ms Close (leads stored first, answered late); duplicates are at
//     most the requests in flight at the kills.
//  2. broker:   the broker started by scripts/kafka-local.sh is stopped and
//     started mid-run; the worker recovers without a restart, no duplicate.
//  3. storm:    a minute of 5xx, dropped connections, 2 s stalls, 429 bursts
//     and answers lost after the lead was created; every lead delivered,
//     nothing transient in the DLQ, retries in /metrics.
//  4. dlqdown:  the DLQ refuses writes for a while; the affected partition
//     stops at the record without committing past it, the others flow.
//  5. replay2:  two `closesink replay` started together; every DLQ lead is
//     delivered exactly once.
//  6. hostile:  binary, invalid UTF-8, 900 KB strings, 10,000-deep nesting,
//     wrong types, duplicate keys, forged closesink.* headers; each record
//     gets its defined outcome and the peak RSS stays bounded.
//
// The test files carry the build tag e2e, so `go test ./...` never runs them.
// Run the suite with
//
//	make test-e2e
//
// which builds bin/closesink and runs `go test -tags e2e ./internal/e2e/`,
// starting scripts/kafka-local.sh's broker first when KAFKA_BROKERS is unset.
// By hand: `make build && KAFKA_BROKERS=127.0.0.1:19092 go test -tags e2e
// -count=1 -v -timeout 25m ./internal/e2e/`. The tests fail (they do not
// skip) when KAFKA_BROKERS is unset or the binary is missing; only scenario
// 2 skips, when KAFKA_BROKERS is not the broker scripts/kafka-local.sh runs.
// E2E_SEED fixes the random choices (kill moments, storm phases); every test
// logs the seed it used. E2E_LOGDIR=<dir> keeps every process's full output
// there as <test>-<process>.log.
package e2e
