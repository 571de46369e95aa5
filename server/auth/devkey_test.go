package auth

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDevKeyCreatedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	k1, err := LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "dev-signing-key.pem")
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %o, want 600", perm)
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	k2, err := LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := LoadDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*DevKey{k2, k3} {
		if k.kid != k1.kid || string(k.JWKS()) != string(k1.JWKS()) || !k.key.Equal(k1.key) {
			t.Errorf("reloaded key %s differs from created key %s", k.kid, k1.kid)
		}
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("the key file was rewritten")
	}
	if tp, _ := thumbprint(&k1.key.PublicKey); k1.kid != tp {
		t.Errorf("kid = %s, want the RFC 7638 thumbprint %s", k1.kid, tp)
	}
}

func TestDevKeyConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	keys := make([]*DevKey, 16)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateDevKey(dir)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k == nil || k.kid != keys[0].kid {
			t.Fatal("racing creators ended up with different keys")
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("data dir holds %q, want only the key", names)
	}
}

func TestLoadDevKeyMissing(t *testing.T) {
	_, err := LoadDevKey(t.TempDir())
	if err == nil {
		t.Fatal("LoadDevKey succeeded without a key")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "run `appreg serve` first") ||
		!strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("error = %v", err)
	}
}

func TestDevKeyBadFile(t *testing.T) {
	for name, content := range map[string]string{
		"not PEM":     "hello",
		"not a key":   "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"corrupt DER": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "dev-signing-key.pem"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateDevKey(dir); err == nil {
				t.Error("LoadOrCreateDevKey accepted a bad key file")
			}
		})
	}
}

func TestDevKeyMintVerify(t *testing.T) {
	k, err := LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), Config{JWKS: k.JWKS(), Issuer: k.Issuer(), Audience: "appreg"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	tests := []struct {
		name   string
		claims Claims
		reason string
	}{
		{"with roles and audience", Claims{TenantID: "t1", Subject: "dev", Roles: []string{RoleAdmin, RoleLookup}, Audience: "appreg"}, ""},
		{"without audience", Claims{TenantID: "t1", Subject: "dev"}, reasonAudience},
		{"other issuer", Claims{TenantID: "t1", Subject: "dev", Audience: "appreg", Issuer: "someone"}, reasonIssuer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := k.Mint(tc.claims, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), tok)
			if tc.reason != "" {
				wantReason(t, err, tc.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.TenantID != tc.claims.TenantID || p.Subject != tc.claims.Subject || !slices.Equal(p.Roles, tc.claims.Roles) {
				t.Errorf("principal = %+v, want %+v", p, tc.claims)
			}
			if d := time.Until(p.ExpiresAt); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expires in %v, want an hour", d)
			}
		})
	}
}

func TestDevKeyMintRefuses(t *testing.T) {
	k, err := LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		c   Claims
		ttl time.Duration
	}{
		"no tenant":      {Claims{Subject: "dev"}, time.Hour},
		"long tenant":    {Claims{TenantID: strings.Repeat("t", 129), Subject: "dev"}, time.Hour},
		"no subject":     {Claims{TenantID: "t1"}, time.Hour},
		"no lifetime":    {Claims{TenantID: "t1", Subject: "dev"}, 0},
		"negative ttl":   {Claims{TenantID: "t1", Subject: "dev"}, -time.Minute},
		"control in tid": {Claims{TenantID: "t\x00", Subject: "dev"}, time.Hour},
	} {
		if _, err := k.Mint(tc.c, tc.ttl); err == nil {
			t.Errorf("%s: Mint succeeded", name)
		}
	}
}
