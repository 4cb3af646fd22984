package main

import (
	"fmt"
	"sort"
	"strings"
)

// holdings is what one simulated Envoy holds and subscribes to. It is pure
// state (no I/O), shared by the state-of-the-world and delta protocols, and
// decides Envoy's subscription order: clusters, then their endpoints, then
// (once every cluster has endpoints) listeners, then their routes; secrets
// as clusters and listeners name them.
type holdings struct {
	received  [numTypes]bool // at least one response of the type arrived
	requested [numTypes]bool // a subscription request of the type was sent
	version   [numTypes]string
	res       [numTypes]map[string]*resource
	// wanted are the subscribed names of the named (non-wildcard) types.
	wanted [numTypes]map[string]bool
}

func newHoldings() *holdings {
	h := &holdings{}
	for t := range h.res {
		h.res[t] = map[string]*resource{}
		h.wanted[t] = map[string]bool{}
	}
	return h
}

// subChange is a subscription request the node must send: a wildcard
// request (CDS, LDS), or the new name set of a named type with its diff.
type subChange struct {
	t              xdsType
	names          []string // the whole subscribed set, sorted
	added, removed []string // the difference to the previous set, sorted
}

// applySotW applies a state-of-the-world response. Wildcard types are
// replaced whole; named types update only the resources present, keeping
// the others (a server may send only what changed). It reports whether the
// content the node holds changed.
func (h *holdings) applySotW(t xdsType, version string, got []*resource) bool {
	h.received[t] = true
	h.version[t] = version
	changed := false
	if t.wildcard() {
		next := make(map[string]*resource, len(got))
		for _, r := range got {
			next[r.name] = r
		}
		changed = len(next) != len(h.res[t])
		for name, r := range next {
			if !sameContent(h.res[t][name], r) {
				changed = true
			}
		}
		h.res[t] = next
		return changed
	}
	for _, r := range got {
		if h.put(t, r) {
			changed = true
		}
	}
	return changed
}

// applyDelta applies an incremental response and reports whether the
// content the node holds changed.
func (h *holdings) applyDelta(t xdsType, got []*resource, removed []string) bool {
	h.received[t] = true
	changed := false
	for _, r := range got {
		if h.put(t, r) {
			changed = true
		}
	}
	for _, name := range removed {
		if _, ok := h.res[t][name]; ok {
			delete(h.res[t], name)
			changed = true
		}
	}
	return changed
}

// put stores one resource (named types only when subscribed, as Envoy
// ignores the rest) and reports whether it changed what the node holds.
func (h *holdings) put(t xdsType, r *resource) bool {
	if !t.wildcard() && !h.wanted[t][r.name] {
		return false
	}
	old := h.res[t][r.name]
	h.res[t][r.name] = r
	return !sameContent(old, r)
}

// resubscribe derives the named subscriptions from the clusters and
// listeners held, drops resources no longer subscribed, and returns the
// requests to send. It also starts LDS once the clusters are ready, as
// Envoy waits for cluster warming before it asks for listeners. dropped
// reports whether a held resource was discarded.
func (h *holdings) resubscribe() (changes []subChange, dropped bool) {
	next := [numTypes]map[string]bool{eds: {}, rds: {}, sds: {}}
	for _, t := range []xdsType{cds, lds} {
		for _, r := range h.res[t] {
			for _, n := range r.refs.eds {
				next[eds][n] = true
			}
			for _, n := range r.refs.rds {
				next[rds][n] = true
			}
			for _, n := range r.refs.sds {
				next[sds][n] = true
			}
		}
	}
	for _, t := range []xdsType{eds, sds, rds} {
		added, removed := diffNames(h.wanted[t], next[t])
		if len(added) == 0 && len(removed) == 0 {
			continue
		}
		h.wanted[t] = next[t]
		for _, name := range removed {
			if _, ok := h.res[t][name]; ok {
				delete(h.res[t], name)
				dropped = true
			}
		}
		h.requested[t] = true
		changes = append(changes, subChange{t: t, names: sortedKeys(next[t]), added: added, removed: removed})
	}
	if !h.requested[lds] && h.received[cds] && h.missingCount(eds) == 0 {
		h.requested[lds] = true
		changes = append(changes, subChange{t: lds})
	}
	return changes, dropped
}

func diffNames(old, next map[string]bool) (added, removed []string) {
	for n := range next {
		if !old[n] {
			added = append(added, n)
		}
	}
	for n := range old {
		if !next[n] {
			removed = append(removed, n)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (h *holdings) missingCount(t xdsType) int {
	n := 0
	for name := range h.wanted[t] {
		if h.res[t][name] == nil {
			n++
		}
	}
	return n
}

// complete reports whether the node holds a whole configuration: clusters
// and listeners received, and every endpoint set, route configuration and
// secret they reference.
func (h *holdings) complete() bool {
	return h.received[cds] && h.received[lds] &&
		h.missingCount(eds) == 0 && h.missingCount(rds) == 0 && h.missingCount(sds) == 0
}

// missing describes what keeps the node from being complete.
func (h *holdings) missing() string {
	var parts []string
	for _, t := range []xdsType{cds, lds} {
		if !h.received[t] {
			state := "not requested"
			if h.requested[t] {
				state = "requested"
			}
			parts = append(parts, fmt.Sprintf("no %s response (%s)", t, state))
		}
	}
	for _, t := range []xdsType{eds, rds, sds} {
		if n := h.missingCount(t); n > 0 {
			var first string
			for _, name := range sortedKeys(h.wanted[t]) {
				if h.res[t][name] == nil {
					first = name
					break
				}
			}
			parts = append(parts, fmt.Sprintf("%d of %d %s resources (first: %q)", n, len(h.wanted[t]), t, first))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// sorted returns the held resources of a type ordered by name.
func (h *holdings) sorted(t xdsType) []*resource {
	out := make([]*resource, 0, len(h.res[t]))
	for _, name := range sortedKeys(h.res[t]) {
		out = append(out, h.res[t][name])
	}
	return out
}
