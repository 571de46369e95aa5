package lookup

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

// TestAnswersServeOneStateOnly: an answer is served for exactly the state it was kept for;
// a state that differs in any part (another version, another lastUsedTime, another incarnation
// of the id, another tenant) is a miss.
func TestAnswersServeOneStateOnly(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 123_000, time.UTC)
	used := t0.Add(time.Minute)
	kept := store.Listed{ID: "app-1", TenantID: "tenant-a", CreatedTime: t0, Version: 3, LastUsedTime: &used}
	cases := []struct {
		name string
		edit func(*store.Listed)
		hit  bool
	}{
		{"the same state", func(*store.Listed) {}, true},
		{"the same times in another zone", func(s *store.Listed) {
			s.CreatedTime = t0.In(time.FixedZone("X", 3600))
			u := used.In(time.FixedZone("Y", -3600))
			s.LastUsedTime = &u
		}, true},
		{"a later version", func(s *store.Listed) { s.Version++ }, false},
		{"an earlier version", func(s *store.Listed) { s.Version-- }, false},
		{"used since", func(s *store.Listed) { u := used.Add(time.Second); s.LastUsedTime = &u }, false},
		{"never used", func(s *store.Listed) { s.LastUsedTime = nil }, false},
		{"another incarnation of the id", func(s *store.Listed) { s.CreatedTime = t0.Add(time.Microsecond) }, false},
		{"another tenant", func(s *store.Listed) { s.TenantID = "tenant-b" }, false},
		{"another id", func(s *store.Listed) { s.ID = "app-2" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAnswers(1 << 20)
			a.Put(kept, []byte(`{"id":"app-1"}`))
			s := kept
			tc.edit(&s)
			b, ok := a.Get(s)
			if ok != tc.hit || ok && string(b) != `{"id":"app-1"}` || !ok && b != nil {
				t.Errorf("Get = %q, %v; want a hit: %v", b, ok, tc.hit)
			}
		})
	}
}

// TestAnswersKeepTheNewest: a later state replaces the kept one; an earlier version (a
// listing that read before a write and stores after a listing that read after it) does not.
func TestAnswersKeepTheNewest(t *testing.T) {
	a := NewAnswers(1 << 20)
	v1 := store.Listed{ID: "app-1", TenantID: "t", CreatedTime: time.Unix(1, 0), Version: 1}
	v2 := v1
	v2.Version = 2
	a.Put(v1, []byte("one"))
	a.Put(v2, []byte("two"))
	a.Put(v1, []byte("one again"))
	if _, ok := a.Get(v1); ok {
		t.Error("version 1 is served after version 2 was kept")
	}
	if b, ok := a.Get(v2); !ok || string(b) != "two" {
		t.Errorf("Get(version 2) = %q, %v", b, ok)
	}
	// Another incarnation of the id replaces it whatever its version.
	reborn := store.Listed{ID: "app-1", TenantID: "t", CreatedTime: time.Unix(2, 0), Version: 1}
	a.Put(reborn, []byte("reborn"))
	if b, ok := a.Get(reborn); !ok || string(b) != "reborn" {
		t.Errorf("Get(reborn) = %q, %v", b, ok)
	}
	a.Missed(3)
	if hits, misses, entries := a.Stats(); hits != 2 || misses != 3 || entries != 1 {
		t.Errorf("Stats = %d hits, %d misses, %d entries; want 2, 3, 1", hits, misses, entries)
	}
}

// TestAnswersAreBounded: however many answers are put, the bytes kept stay within the budget,
// and an answer larger than a shard is not kept at all.
func TestAnswersAreBounded(t *testing.T) {
	const budget = 1 << 20
	a := NewAnswers(budget)
	answer := bytes.Repeat([]byte("x"), 700)
	for i := range 20_000 { // 14 MB of answers
		a.Put(store.Listed{ID: fmt.Sprintf("app-%05d", i), Version: 1}, answer)
	}
	weight := 0
	for i := range a.t.shards {
		weight += a.t.shards[i].weight
	}
	if weight > budget {
		t.Errorf("answers weigh %d bytes, budget %d", weight, budget)
	}
	if _, _, n := a.Stats(); n < int64(budget/(2*len(answer))) {
		t.Errorf("only %d answers kept in %d bytes", n, budget)
	}
	huge := store.Listed{ID: "huge", Version: 1}
	a.Put(huge, make([]byte, budget))
	if _, ok := a.Get(huge); ok {
		t.Error("an answer larger than a shard was kept")
	}
}

// TestAnswersConcurrent exercises Get and Put from many goroutines (for -race).
func TestAnswersConcurrent(t *testing.T) {
	a := NewAnswers(256 << 10)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5_000 {
				s := store.Listed{ID: fmt.Sprintf("app-%d", i%300), Version: int64(g + i%3)}
				if b, ok := a.Get(s); ok && string(b) != s.ID {
					t.Errorf("Get(%+v) = %q", s, b)
					return
				}
				a.Put(s, []byte(s.ID))
			}
		}()
	}
	wg.Wait()
	checkTenantCounts(t, a)
}

// TestAnswersCoverage: Admit's covered guesses from the answers kept for a tenant against its last
// whole listing, and follows evictions.
func TestAnswersCoverage(t *testing.T) {
	a := NewAnswers(4 << 10) // room for about four answers of 700 bytes
	put := func(tenant string, i int) {
		a.Put(store.Listed{ID: fmt.Sprintf("%s-%d", tenant, i), TenantID: tenant, Version: 1}, make([]byte, 700))
	}
	covers := func(tenant string) bool {
		_, covered := a.Admit(tenant)
		return covered
	}
	if covers("acme") {
		t.Error("covers a tenant never listed")
	}
	for i := range 4 {
		put("acme", i)
	}
	if !covers("acme") {
		t.Error("does not cover a tenant listed by pages, with answers kept")
	}
	a.Listed("acme", 4)
	if !covers("acme") {
		t.Error("does not cover a tenant whose four applications are all kept")
	}
	a.Listed("acme", 6)
	if covers("acme") {
		t.Error("covers a tenant of six with four kept")
	}
	a.Listed("acme", 5)
	if !covers("acme") {
		t.Error("does not cover a tenant of five with four kept")
	}
	for i := range 4 { // evicts acme's answers
		put("globex", i)
	}
	if covers("acme") {
		t.Error("covers a tenant whose answers were evicted")
	}
	if len(a.tenants) > 2 {
		t.Errorf("%d tenants counted", len(a.tenants))
	}
	checkTenantCounts(t, a)
}

// TestAnswersAdmit: a tenant is admitted from its second listing on, while it stays among the
// tenants listed lately: about as many as the budget holds the answers of.
func TestAnswersAdmit(t *testing.T) {
	a := NewAnswers(1 << 20)
	for range 100 { // listings of 100 applications of 1 KiB: the budget holds about 10
		a.Listed("somebody", 100)
		a.Put(store.Listed{ID: "x", TenantID: "somebody", Version: 1}, make([]byte, 1024))
	}
	window := a.window()
	if window < 10 || window > 20 {
		t.Fatalf("window %d, want about 16", window)
	}
	admit := func(tenant string) bool {
		keep, _ := a.Admit(tenant)
		return keep
	}
	if admit("acme") {
		t.Error("admits a tenant at its first listing")
	}
	if !admit("acme") {
		t.Error("does not admit a tenant at its second listing")
	}
	for i := range window - 1 { // acme moves to the older generation
		admit(fmt.Sprintf("tenant-%d", i))
	}
	if !admit("acme") {
		t.Error("does not admit a tenant listed a window ago")
	}
	for i := range 2 * window { // two windows of others: forgotten
		admit(fmt.Sprintf("other-%d", i))
	}
	if admit("acme") {
		t.Error("admits a tenant not listed for two windows")
	}
	if n := len(a.listedNow) + len(a.listedBefore); n > 2*window {
		t.Errorf("remembers %d tenants", n)
	}

	// Listings of few applications: many more tenants fit.
	for range 100 {
		a.Listed("somebody", 1)
	}
	if w := a.window(); w < 500 {
		t.Errorf("window %d for listings of one application in 1 MiB", w)
	}
}

// checkTenantCounts checks that the answers counted for each tenant add up to those kept.
func checkTenantCounts(t *testing.T, a *Answers) {
	t.Helper()
	var kept int
	for _, c := range a.tenants {
		kept += c.kept
	}
	if _, _, n := a.Stats(); int64(kept) != n {
		t.Errorf("tenants count %d answers, %d kept", kept, n)
	}
}
