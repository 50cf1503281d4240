package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler takes pprof profiles of a child started with --pprof: a CPU
// profile from its start, then a heap profile when finish is called.
type profiler struct {
	addr, dir string
	cpu       chan error
}

func startCPUProfile(p *proc, dir string, seconds int) (*profiler, error) {
	if seconds <= 0 || seconds >= 30 {
		return nil, fmt.Errorf("-profile-seconds %d: want 1..29 (the metrics server's write timeout is 30 s)", seconds)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := p.metricsAddr(time.Minute)
	if err != nil {
		return nil, err
	}
	pr := &profiler{addr: addr, dir: dir, cpu: make(chan error, 1)}
	go func() {
		pr.cpu <- fetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds),
			filepath.Join(dir, "drain.cpu.pprof"))
	}()
	return pr, nil
}

// finish takes the heap profile and waits for the CPU profile.
func (pr *profiler) finish() error {
	herr := fetchProfile("http://"+pr.addr+"/debug/pprof/heap", filepath.Join(pr.dir, "drain.heap.pprof"))
	if err := <-pr.cpu; err != nil {
		return err
	}
	return herr
}

func fetchProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile %s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
