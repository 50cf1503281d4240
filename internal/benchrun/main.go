// Command benchrun is `make bench`: closesink's end-to-end benchmark, every
// figure beside a baseline or a goal measured in the same run.
//
//  1. Drain: N realistic events (≈700 bytes, 1 % leads) on 12 partitions,
//     first through a bare franz-go group consumer (poll, discard, commit),
//     then through `closesink run` as a process (limiter effectively off)
//     against the Close emulator, until the group's committed offsets reach
//     the end: records/s of each and their ratio. Then the same without
//     leads (-drop-path), to separate the drop path from the creates.
//  2. Rate-limit utilisation: uniform and skewed keys, 1 and 3 members,
//     the emulator enforcing 1.25 × the budget: achieved rate ÷ budget, 429s.
//  3. Latency: 10 leads/s, produce → emulator receipt, p50 and p99.
//  4. Footprint of the drain's child: peak RSS and CPU seconds per million.
//
// With KAFKA_BROKERS set it uses that cluster; else a kfake cluster served
// from this process on 127.0.0.1, which the children reach over TCP.
//
//	go run ./internal/benchrun [-events N] [-quick] [-variants] [-out path]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type opts struct {
	events         int
	quick          bool
	variants       bool
	variantEvents  int
	budget         float64
	rateSeconds    float64
	latencySeconds float64
	out            string
	bin            string
	build          bool
	kfakePort      int
	logDir         string
	leadEvery      int
	childEnv       []string
	drainOnly      bool
	profile        string
	dropPath       bool
	profileSeconds int
}

func main() {
	var o opts
	flag.IntVar(&o.events, "events", 1_000_000, "events in the drain topic")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: 50,000 events, 5 s scenarios, fetch variants only if -variants is given")
	flag.BoolVar(&o.variants, "variants", true, "also drain with each fetch-settings variant (bare consumer and in-process worker)")
	flag.IntVar(&o.variantEvents, "variant-events", 0, "events each fetch variant drains (0 = all of -events)")
	flag.Float64Var(&o.budget, "budget", 20, "the group's Close budget (requests/s) in the rate-limit and latency scenarios")
	flag.Float64Var(&o.rateSeconds, "rate-seconds", 10, "leads per rate-limit scenario, in seconds of budget")
	flag.Float64Var(&o.latencySeconds, "latency-seconds", 10, "how long the latency scenario offers 10 leads/s")
	flag.StringVar(&o.out, "out", ".cache/bench/results.json", "where the JSON results go (child logs beside it)")
	flag.StringVar(&o.bin, "bin", "bin/closesink", "the closesink binary the children run")
	flag.BoolVar(&o.build, "build", true, "build -bin first (as `make build` does)")
	flag.BoolVar(&o.drainOnly, "drain-only", false, "only the drain (and fetch variants): no rate-limit or latency scenarios, goals of those unjudged")
	flag.BoolVar(&o.dropPath, "drop-path", true, "also drain the same number of events without leads (bare and closesink), to separate the drop path from the creates")
	flag.IntVar(&o.leadEvery, "lead-every", 100, "every n-th drain event is a lead (100 = 1 %; 0 = none)")
	flag.Func("child-env", "KEY=VALUE added to the closesink children's environment (repeatable; e.g. GOMEMLIMIT=64MiB)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.childEnv = append(o.childEnv, v)
		return nil
	})
	flag.StringVar(&o.profile, "profile", "", "directory for pprof profiles of the drain's child (run with --pprof): CPU for -profile-seconds from its start, heap just before it stops")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 10, "length of the drain child's CPU profile (under 30 s)")
	flag.IntVar(&o.kfakePort, "kfake-port", 0, "kfake's 127.0.0.1 port (0 = any free port); ignored with KAFKA_BROKERS")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["events"] {
			o.events = 50_000
		}
		if !set["variants"] {
			o.variants = false
		}
		if !set["rate-seconds"] {
			o.rateSeconds = 5
		}
		if !set["latency-seconds"] {
			o.latencySeconds = 5
		}
	}
	if o.variantEvents <= 0 || o.variantEvents > o.events {
		o.variantEvents = o.events
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o opts) error {
	o.logDir = filepath.Join(filepath.Dir(o.out), "logs")
	if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return err
	}
	if o.build {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", o.bin, "./cmd/closesink")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", o.bin, err)
		}
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	o.bin = bin
	b, err := newBroker(os.Getenv("KAFKA_BROKERS"), o.kfakePort)
	if err != nil {
		return err
	}
	defer b.close()
	res := &results{Broker: b.name, Brokers: b.brokers, Machine: machine(), Started: time.Now().UTC(),
		Command: commandLine(), Events: o.events, LeadEvery: o.leadEvery, ChildEnv: o.childEnv, Budget: o.budget}
	g := newGen(uint64(time.Now().UnixNano()))
	step := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Since(res.Started.Local()).Round(time.Second), fmt.Sprintf(format, a...))
	}

	step("broker %s %v; producing %d events on %d partitions", b.name, b.brokers, o.events, partitions)
	t, err := makeDrainTopic(ctx, b, g, o.events, o.leadEvery)
	if err != nil {
		return err
	}
	step("produced in %.1fs (%.0f bytes/event, %d leads)", t.produceSec, float64(t.bytes)/float64(t.events), t.leads)
	var c childResult
	res.Drain, c, err = drain(ctx, o, b, t, "", func(r float64) { step("bare consumer: %.0f records/s", r) })
	if err != nil {
		return err
	}
	res.Footprint = footprint{PeakRSSMB: float64(c.PeakRSSBytes) / (1 << 20), CPUSeconds: c.CPUSeconds,
		CPUSecondsPerMillion: c.CPUSeconds / float64(o.events) * 1e6}
	step("closesink run: %.0f records/s (ratio %.2f), peak RSS %.1f MB, CPU %.1fs", c.RecordsPerSec, res.Drain.Ratio,
		res.Footprint.PeakRSSMB, c.CPUSeconds)

	if o.dropPath && o.leadEvery > 0 {
		if res.DropPath, err = dropPathDrain(ctx, o, b, g); err != nil {
			return err
		}
		step("drain without leads: bare %.0f/s, closesink %.0f/s (ratio %.2f)", res.DropPath.Bare, res.DropPath.Closesink, res.DropPath.Ratio)
	}

	if o.variants {
		vt := t
		if o.variantEvents < o.events {
			if vt, err = makeDrainTopic(ctx, b, g, o.variantEvents, o.leadEvery); err != nil {
				return err
			}
		}
		for _, v := range fetchVariants() {
			vr := variantResult{Name: v.Name, Events: vt.events}
			if vr.Bare, err = bare(ctx, b, vt, uniq("vbare"), v.opts); err != nil {
				return err
			}
			if vr.Worker, err = inProcess(ctx, b, vt, uniq("vworker"), v.opts); err != nil {
				return err
			}
			vr.Ratio = vr.Worker / vr.Bare
			res.Variants = append(res.Variants, vr)
			step("variant %s: bare %.0f/s, in-process worker %.0f/s", v.Name, vr.Bare, vr.Worker)
		}
	}

	if o.drainOnly {
		res.Seconds = time.Since(res.Started).Seconds()
		res.judge()
		res.print(os.Stdout)
		return res.write(o.out)
	}
	for _, sc := range []struct {
		members int
		skewed  bool
	}{{1, false}, {1, true}, {3, false}, {3, true}} {
		r, err := rateScenario(ctx, o, b, g, sc.members, sc.skewed)
		if err != nil {
			return err
		}
		res.RateLimit = append(res.RateLimit, r)
		step("rate limit, %s: %.2f/s of %.0f (%.3f), %d 429s, owned %v, hot %v", r.Name, r.Achieved, r.Budget,
			r.Utilisation, r.Status429, r.Owned, r.HotOwned)
	}
	if res.Latency, err = latency(ctx, o, b, g); err != nil {
		return err
	}
	step("latency: p50 %.1f ms, p99 %.1f ms", res.Latency.P50Milli, res.Latency.P99Milli)
	res.Seconds = time.Since(res.Started).Seconds()
	res.judge()
	res.print(os.Stdout)
	return res.write(o.out)
}

func uniq(prefix string) string { return fmt.Sprintf("bench-%s-%d", prefix, time.Now().UnixNano()) }
