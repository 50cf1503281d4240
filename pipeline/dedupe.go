package pipeline

import (
	"sync"

	"github.com/closesink/closesink/transform"
)

// DropDuplicate is the drop reason of a lead event whose messageId was
// already delivered from the same partition within the dedupe window.
const DropDuplicate transform.DropReason = "duplicate"

// seenIDs remembers the messageIds of the last n leads delivered from each
// partition. Producers re-send events (Signal's own retries, a replayed
// batch), and Close creates a new lead for every POST, so a repeat of a
// recent event is dropped instead of creating a duplicate lead. It is best
// effort by design: per partition (events are keyed by user, so a repeat
// lands on the same partition), in memory (a restart or a rebalance starts
// empty), and bounded (oldest ids forgotten first). Safe for concurrent use.
type seenIDs struct {
	n      int
	shared bool // one window for every partition (a replay reads them all)
	mu     sync.Mutex
	by     map[int32]*idRing
}

type idRing struct {
	ids  []string
	next int
	set  map[string]struct{}
}

func newSeenIDs(n int, shared bool) *seenIDs {
	if n <= 0 {
		return nil
	}
	return &seenIDs{n: n, shared: shared, by: map[int32]*idRing{}}
}

// ring returns p's window (the one shared window when shared); call with mu
// held. nil when none exists and create is false.
func (s *seenIDs) ring(p int32, create bool) *idRing {
	if s.shared {
		p = 0
	}
	r := s.by[p]
	if r == nil && create {
		r = &idRing{ids: make([]string, 0, min(s.n, 1024)), set: map[string]struct{}{}}
		s.by[p] = r
	}
	return r
}

// forget drops the windows of partitions this member no longer owns: their
// next owner starts with its own, and keeping them would only hold memory.
func (s *seenIDs) forget(parts []int32) {
	if s == nil || s.shared {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		delete(s.by, p)
	}
}

// seen reports whether id was added for partition p and is still remembered.
func (s *seenIDs) seen(p int32, id string) bool {
	if s == nil || id == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.ring(p, false)
	if r == nil {
		return false
	}
	_, ok := r.set[id]
	return ok
}

// add remembers id for partition p, forgetting the oldest beyond n.
func (s *seenIDs) add(p int32, id string) {
	if s == nil || id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.ring(p, true)
	if _, ok := r.set[id]; ok {
		return
	}
	if len(r.ids) < s.n {
		r.ids = append(r.ids, id)
	} else {
		delete(r.set, r.ids[r.next])
		r.ids[r.next] = id
		r.next = (r.next + 1) % s.n
	}
	r.set[id] = struct{}{}
}
