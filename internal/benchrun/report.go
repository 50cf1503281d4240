package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

type results struct {
	Broker    string      `json:"broker"`
	Brokers   []string    `json:"brokers"`
	Machine   machineInfo `json:"machine"`
	Command   string      `json:"command"`
	Started   time.Time   `json:"started"`
	Seconds   float64     `json:"seconds"`
	Events    int         `json:"events"`
	LeadEvery int         `json:"lead_every"`
	ChildEnv  []string    `json:"child_env,omitempty"`
	Budget    float64     `json:"budget_per_sec"`
	Drain     drainResult `json:"drain"`
	// DropPath is the same drain without leads (when -drop-path is on):
	// what the worker costs on the records most of a topic holds, apart
	// from the creates at Close.
	DropPath  *drainResult    `json:"drop_path_drain,omitempty"`
	Footprint footprint       `json:"footprint"`
	Variants  []variantResult `json:"fetch_variants,omitempty"`
	RateLimit []rateResult    `json:"rate_limit"`
	Latency   latencyResult   `json:"latency"`
	Goals     []goal          `json:"goals"`
}

type drainResult struct {
	AvgEventBytes    float64 `json:"avg_event_bytes"`
	Leads            int     `json:"leads"`
	Bare             float64 `json:"bare_records_per_sec"`
	Closesink        float64 `json:"closesink_records_per_sec"`
	ClosesinkSeconds float64 `json:"closesink_seconds"`
	Ratio            float64 `json:"ratio"`
}

type footprint struct {
	PeakRSSMB            float64 `json:"peak_rss_mb"`
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_events"`
}

type variantResult struct {
	Name   string  `json:"name"`
	Events int     `json:"events"`
	Bare   float64 `json:"bare_records_per_sec"`
	Worker float64 `json:"in_process_worker_records_per_sec"`
	Ratio  float64 `json:"ratio"`
}

// goal is one figure beside its target.
type goal struct {
	Figure   string `json:"figure"`
	Measured string `json:"measured"`
	Goal     string `json:"goal"`
	Met      *bool  `json:"met,omitempty"` // nil: reported, no goal
}

func yes(b bool) *bool { return &b }

func (r *results) judge() {
	add := func(fig, measured, target string, met *bool) {
		r.Goals = append(r.Goals, goal{Figure: fig, Measured: measured, Goal: target, Met: met})
	}
	d := r.Drain
	add("drain: bare franz-go consumer", fmt.Sprintf("%.0f records/s", d.Bare), "baseline", nil)
	add("drain: closesink run (process)", fmt.Sprintf("%.0f records/s", d.Closesink), "", nil)
	add("drain: closesink / bare", fmt.Sprintf("%.2f", d.Ratio), "≥ 0.80", yes(d.Ratio >= 0.8))
	if dp := r.DropPath; dp != nil {
		add("drain, no leads: bare / closesink", fmt.Sprintf("%.0f / %.0f records/s", dp.Bare, dp.Closesink), "", nil)
		add("drain, no leads: closesink / bare", fmt.Sprintf("%.2f", dp.Ratio), "reported (drop path)", nil)
	}
	for _, rl := range r.RateLimit {
		target, met := "", (*bool)(nil)
		switch {
		case !rl.Skewed:
			target, met = "≥ 0.95, 0 × 429", yes(rl.Utilisation >= 0.95 && rl.Status429 == 0)
		case rl.Members == 1:
			target, met = "≥ 0.90, 0 × 429", yes(rl.Utilisation >= 0.9 && rl.Status429 == 0)
		default:
			target = "reported (idle shares are not lent)"
		}
		add("rate limit: "+rl.Name, fmt.Sprintf("%.3f (%.2f/s of %.0f; whole run %.2f/s), %d × 429", rl.Utilisation, rl.Achieved, rl.Budget, rl.Whole, rl.Status429), target, met)
	}
	l := r.Latency
	if l.Leads == 0 {
		add("latency, rate limit", "not run (-drain-only)", "", nil)
	} else {
		add("latency p50 (produce → Close)", fmt.Sprintf("%.1f ms", l.P50Milli), "", nil)
		add("latency p99 (produce → Close)", fmt.Sprintf("%.1f ms", l.P99Milli), "< 50 ms", yes(l.P99Milli < 50))
	}
	f := r.Footprint
	add("peak RSS (drain)", fmt.Sprintf("%.1f MB", f.PeakRSSMB), "< 100 MB", yes(f.PeakRSSMB < 100))
	add("CPU per million events (drain)", fmt.Sprintf("%.1f s", f.CPUSecondsPerMillion), "", nil)
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\nclosesink bench on %s (%s), %d events (%.0f bytes avg, %d leads), %d × %s, %.0f s\n\n",
		r.Broker, strings.Join(r.Brokers, ","), r.Events, r.Drain.AvgEventBytes, r.Drain.Leads, r.Machine.CPUs, r.Machine.CPUModel, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\tgoal\t")
	for _, g := range r.Goals {
		verdict := ""
		if g.Met != nil {
			verdict = map[bool]string{true: "met", false: "NOT MET"}[*g.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Figure, g.Measured, g.Goal, verdict)
	}
	_ = tw.Flush()
	if len(r.Variants) > 0 {
		fmt.Fprintf(w, "\nfetch settings (%d events each; the worker in-process via service.Run with franz-go options, most of which closesink has no flag for)\n\n", r.Variants[0].Events)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "variant\tbare records/s\tworker records/s\tratio")
		for _, v := range r.Variants {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\n", v.Name, v.Bare, v.Worker, v.Ratio)
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w)
}

func (r *results) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "results: %s\n", path)
	return nil
}

type machineInfo struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemoryMB int64  `json:"memory_mb"`
	GoOS     string `json:"goos"`
	GoArch   string `json:"goarch"`
	Go       string `json:"go"`
}

func machine() machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), GoOS: runtime.GOOS, GoArch: runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryMB = kb >> 10
		}
	}
	return m
}

func commandLine() string {
	cmd := "go run ./internal/benchrun " + strings.Join(os.Args[1:], " ")
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		cmd = "KAFKA_BROKERS=" + v + " " + cmd
	}
	return strings.TrimSpace(cmd)
}
