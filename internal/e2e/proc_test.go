//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/closesink/closesink/internal/childproc"
)

// proc is one closesink process. Its stdout and stderr (JSON logs, the
// replay summary) are kept in one buffer the test reads while it runs.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error // the Wait result, once done is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs bin/closesink with args and the given environment (nothing of
// the test's environment leaks in but PATH and HOME). It is killed at the
// end of the test if still running.
func (s *suite) start(name string, env []string, args ...string) *proc {
	s.t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(s.bin, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	s.t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if s.t.Failed() {
			s.t.Logf("--- last output of %s:\n%s", p.name, p.tail(30))
		}
		if dir := os.Getenv("E2E_LOGDIR"); dir != "" {
			f := filepath.Join(dir, strings.NewReplacer("/", "_", "#", "_").Replace(s.t.Name()+"-"+p.name)+".log")
			if err := os.WriteFile(f, []byte(p.out.String()), 0o644); err != nil {
				s.t.Errorf("keep the output of %s: %v", p.name, err)
			}
		}
	})
	return p
}

// startRun starts `closesink run` with the suite's key.
func (s *suite) startRun(name string, args []string) *proc {
	return s.start(name, []string{"CLOSE_API_KEY=" + apiKey}, args...)
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logLine returns the fields of the first JSON log line whose msg is msg.
func (p *proc) logLine(msg string) map[string]any {
	return childproc.LogLine(strings.NewReader(p.out.String()), msg)
}

// metricsAddr waits for the "serving metrics" log line (the process binds
// 127.0.0.1:0) and returns the address.
func (p *proc) metricsAddr(s *suite) string {
	var addr string
	waitFor(s.t, p.name+" serves /metrics", time.Minute, func() string {
		if p.exited() {
			s.t.Fatalf("%s exited before serving metrics: %v\n%s", p.name, p.err, p.tail(40))
		}
		if m := p.logLine("serving metrics"); m != nil {
			addr, _ = m["addr"].(string)
			return ""
		}
		return "no metrics address in the log"
	})
	return addr
}

// waitAssigned waits until the process owns at least one partition.
func (p *proc) waitAssigned(s *suite) {
	addr := p.metricsAddr(s)
	waitFor(s.t, p.name+" is assigned partitions", time.Minute, func() string {
		if p.exited() {
			s.t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.tail(40))
		}
		if m, err := childproc.Scrape(addr); err != nil || m.Sum("closesink_assigned_partitions") < 1 {
			return fmt.Sprintf("not yet (%v)", err)
		}
		return ""
	})
}

// waitExit waits for the process to exit on its own and returns its code.
func (p *proc) waitExit(s *suite, timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-p.done:
		return p.exitCode()
	case <-time.After(timeout):
		s.t.Fatalf("%s still running after %s\n%s", p.name, timeout, p.tail(40))
		return 0
	}
}

// stop sends SIGTERM, requires exit code 0 and returns what the process
// counted as dropped, from its final "closesink stopped" line.
func (p *proc) stop(s *suite) (dropped int) {
	s.t.Helper()
	if p.exited() {
		s.t.Fatalf("%s had already exited: %v\n%s", p.name, p.err, p.tail(40))
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(s, 90*time.Second); code != 0 {
		s.t.Fatalf("%s exited %d after SIGTERM, want 0\n%s", p.name, code, p.tail(40))
	}
	line := p.logLine("closesink stopped")
	if line == nil {
		s.t.Fatalf("%s logged no \"closesink stopped\" line\n%s", p.name, p.tail(20))
	}
	byReason, _ := line["dropped"].(map[string]any)
	for _, v := range byReason {
		f, _ := v.(float64)
		dropped += int(f)
	}
	return dropped
}

// kill scrapes the process's drop count and SIGKILLs it at once (the scrape
// is the last moment it is known), returning the count and the instant of
// the kill.
func (p *proc) kill(s *suite, addr string) (dropped int, at time.Time) {
	s.t.Helper()
	if m, err := childproc.Scrape(addr); err == nil {
		dropped = int(m.Sum("closesink_records_outcome_total", `outcome="dropped"`))
	}
	at = time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
	return dropped, at
}
