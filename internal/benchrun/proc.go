package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/closesink/closesink/internal/childproc"
)

// proc is one `closesink run` child, its output in a log file under the
// results directory.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// runArgs are the flags of `closesink run` for this bench's broker and
// emulator; extra flags come last and win.
func runArgs(b *broker, url, topic, dlq, group string, extra ...string) []string {
	args := []string{"run", "--brokers", strings.Join(b.brokers, ","), "--topic", topic, "--dlq-topic", dlq,
		"--group", group, "--close-url", url, "--metrics-addr", "127.0.0.1:0", "--log-format", "json"}
	return append(args, extra...)
}

func startProc(bin, logDir string, env []string, name string, args []string) (*proc, error) {
	p := &proc{name: name, log: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "CLOSE_API_KEY=" + apiKey}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the exit (SIGKILL after timeout).
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return fmt.Errorf("%s had exited early: %v (log %s)", p.name, p.err, p.log)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s", p.name, timeout)
	}
}

// kill ends a child that is still running (cleanup after a failure).
func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// metricsAddr waits for the "serving metrics" log line and returns its addr.
func (p *proc) metricsAddr(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return "", fmt.Errorf("%s exited: %v (log %s)", p.name, p.err, p.log)
		}
		if m := logLine(p.log, "serving metrics"); m != nil {
			if a, _ := m["addr"].(string); a != "" {
				return a, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s logged no metrics address within %s (log %s)", p.name, timeout, p.log)
}

// logLine returns the fields of the first JSON log line in the file at path
// whose msg is msg, or nil.
func logLine(path, msg string) map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	return childproc.LogLine(f, msg)
}

// heldPartitions replays a child's assignment log lines into the set of
// partitions it holds.
func heldPartitions(path string) map[int32]bool {
	held := map[int32]bool{}
	f, err := os.Open(path)
	if err != nil {
		return held
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m struct {
			Msg        string  `json:"msg"`
			Partitions []int32 `json:"partitions"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		for _, p := range m.Partitions {
			switch m.Msg {
			case "partitions assigned":
				held[p] = true
			case "partitions revoked", "partitions lost":
				delete(held, p)
			}
		}
	}
	return held
}

// scrapeSum sums the series of metric name on a /metrics page.
func scrapeSum(addr, name string) (float64, error) {
	m, err := childproc.Scrape(addr)
	if err != nil {
		return 0, err
	}
	return m.Sum(name), nil
}

// usage is a process's footprint from /proc: peak resident set (VmHWM)
// and CPU time (utime+stime; Linux reports them in USER_HZ ticks, 100 per
// second on every architecture Go supports on Linux).
type usage struct {
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	CPUSeconds   float64 `json:"cpu_seconds"`
}

const userHZ = 100

func readUsage(pid int) (usage, error) {
	var u usage
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return u, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			u.PeakRSSBytes = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 13 {
		return u, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	sy, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	u.CPUSeconds = float64(ut+sy) / userHZ
	return u, nil
}
