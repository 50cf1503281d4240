package pipeline

import (
	"container/list"
	"encoding/json"
	"sync"

	"github.com/closesink/closesink/pkg/closeapi"
)

// known is what the upsert mode remembers about one person: the Close ids of
// the contact and lead it created or matched, and their fields as closesink
// last saw or set them, so a repeat needs no search and no GET.
type known struct {
	ContactID, LeadID string
	Contact           closeapi.FoundContact
	Lead              closeapi.ExistingLead
	// LeadRead: Lead holds the lead's fields (from a create, a GET or an
	// update); false after a search, which returns contact fields only.
	LeadRead bool
}

// memory maps email → known per partition, least recently used first out,
// at most n per partition. A partition's memory is dropped when the member
// loses it (the next owner searches Close instead), and nothing survives a
// restart: Close's search covers that. Safe for concurrent use.
type memory struct {
	n      int
	shared bool // one memory for every partition (a replay)
	mu     sync.Mutex
	by     map[int32]*lru
}

type lru struct {
	order *list.List // front: most recent; values are *entry
	at    map[string]*list.Element
}

type entry struct {
	email string
	k     known
}

func newMemory(n int, shared bool) *memory {
	if n <= 0 {
		return nil
	}
	return &memory{n: n, shared: shared, by: map[int32]*lru{}}
}

func (m *memory) part(p int32, create bool) *lru {
	if m.shared {
		p = 0
	}
	l := m.by[p]
	if l == nil && create {
		l = &lru{order: list.New(), at: map[string]*list.Element{}}
		m.by[p] = l
	}
	return l
}

// get returns a copy of what is known about email on partition p.
func (m *memory) get(p int32, email string) (known, bool) {
	if m == nil {
		return known{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.part(p, false)
	if l == nil {
		return known{}, false
	}
	el, ok := l.at[email]
	if !ok {
		return known{}, false
	}
	l.order.MoveToFront(el)
	return el.Value.(*entry).k.clone(), true
}

// put remembers k for email on partition p, forgetting the least recently
// used entry beyond n.
func (m *memory) put(p int32, email string, k known) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.part(p, true)
	if el, ok := l.at[email]; ok {
		el.Value.(*entry).k = k.clone()
		l.order.MoveToFront(el)
		return
	}
	l.at[email] = l.order.PushFront(&entry{email: email, k: k.clone()})
	if l.order.Len() > m.n {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.at, last.Value.(*entry).email)
	}
}

// forget drops what is known about email on partition p (its ids went
// stale: the contact or lead was deleted or merged away).
func (m *memory) forget(p int32, email string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.part(p, false); l != nil {
		if el, ok := l.at[email]; ok {
			l.order.Remove(el)
			delete(l.at, email)
		}
	}
}

// drop forgets the partitions this member no longer owns.
func (m *memory) drop(parts []int32) {
	if m == nil || m.shared {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range parts {
		delete(m.by, p)
	}
}

// clone copies the slices and maps, so a remembered value is never shared
// with a caller that may change it.
func (k known) clone() known {
	k.Contact.Emails = append([]closeapi.Email(nil), k.Contact.Emails...)
	k.Contact.Phones = append([]closeapi.Phone(nil), k.Contact.Phones...)
	if k.Lead.Custom != nil {
		c := make(map[string]json.RawMessage, len(k.Lead.Custom))
		for id, v := range k.Lead.Custom {
			c[id] = v
		}
		k.Lead.Custom = c
	}
	return k
}
