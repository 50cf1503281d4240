package closeemu

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// The search index. Close matches a text condition in "phrase" mode by
// words, not by whole string: the words of the query must appear in order,
// adjacent, among the words of the field. So a search for jane@acme.com
// also finds jane@acme.com.evil.io and x.jane@acme.com, and clients must
// compare the returned addresses exactly.
//
// s.tokens maps each word to the contacts that have it in an address
// search may match (stale or current), as a candidate filter; matches are
// then checked against the addresses searchable at the time.

// words splits s into lowercase words at every character that is not a
// letter or digit.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// phraseMatch reports whether query's words appear, adjacent and in order,
// among field's words.
func phraseMatch(field, query []string) bool {
	if len(query) == 0 {
		return false
	}
	for i := 0; i+len(query) <= len(field); i++ {
		if slices.Equal(field[i:i+len(query)], query) {
			return true
		}
	}
	return false
}

// searchable returns the addresses search matches for c at now.
func (c *contactRec) searchable(now time.Time) []string {
	if now.Before(c.indexAt) {
		return c.stale
	}
	out := make([]string, len(c.c.Emails))
	for i, e := range c.c.Emails {
		out[i] = e.Email
	}
	return out
}

// contactTokens is the set of words c is indexed under.
func contactTokens(c *contactRec) map[string]bool {
	set := map[string]bool{}
	for _, e := range c.stale {
		for _, w := range words(e) {
			set[w] = true
		}
	}
	for _, e := range c.c.Emails {
		for _, w := range words(e.Email) {
			set[w] = true
		}
	}
	return set
}

// reindex moves contact id from the words in before to those in after.
// Caller holds s.mu.
func (s *Server) reindex(id string, before, after map[string]bool) {
	for w := range before {
		if after[w] {
			continue
		}
		if ids := s.tokens[w]; ids != nil {
			delete(ids, id)
			if len(ids) == 0 {
				delete(s.tokens, w)
			}
		}
	}
	for w := range after {
		if before[w] {
			continue
		}
		ids := s.tokens[w]
		if ids == nil {
			ids = map[string]struct{}{}
			s.tokens[w] = ids
		}
		ids[id] = struct{}{}
	}
}

// setEmails replaces c's addresses. If they differ, search keeps matching
// what it matched until IndexDelay has passed. Caller holds s.mu.
func (s *Server) setEmails(c *contactRec, emails []emailJSON, now time.Time) {
	same := slices.EqualFunc(c.c.Emails, emails, func(a, b emailJSON) bool { return a.Email == b.Email })
	if same {
		c.c.Emails = emails // types may have changed; the index has not
		return
	}
	before := contactTokens(c)
	c.stale = c.searchable(now)
	c.c.Emails = emails
	c.indexAt = now.Add(s.indexDelay)
	s.reindex(c.c.ID, before, contactTokens(c))
}

// matchContacts returns the contacts whose searchable addresses match the
// phrase, in creation order. Caller holds s.mu.
func (s *Server) matchContacts(phrase []string, now time.Time) []*contactRec {
	var cands map[string]struct{}
	for _, w := range phrase {
		ids := s.tokens[w]
		if len(ids) == 0 {
			return nil
		}
		if cands == nil || len(ids) < len(cands) {
			cands = ids
		}
	}
	var out []*contactRec
	for id := range cands {
		c := s.contacts[id]
		if c == nil {
			continue
		}
		for _, e := range c.searchable(now) {
			if phraseMatch(words(e), phrase) {
				out = append(out, c)
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *contactRec) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// FlushIndex makes every pending index change searchable now, as if
// IndexDelay had passed (for tests without an injected clock).
func (s *Server) FlushIndex() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.contacts {
		if c.stale == nil && c.indexAt.IsZero() {
			continue
		}
		before := contactTokens(c)
		c.stale, c.indexAt = nil, time.Time{}
		s.reindex(id, before, contactTokens(c))
	}
}
