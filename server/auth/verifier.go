package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

const (
	defaultLeeway          = 30 * time.Second
	defaultRefreshInterval = 5 * time.Minute
	defaultCacheSize       = 10000
	defaultHTTPTimeout     = 5 * time.Second
	// onDemandRefreshInterval is the least time between two fetches of the
	// JWKS caused by tokens with an unknown kid, so random kids cannot make
	// this service hammer the issuer.
	onDemandRefreshInterval = 30 * time.Second
)

// Config says where the trusted keys come from and what the tokens must say.
// Exactly one of JWKSURL, JWKSFile and JWKS is set.
type Config struct {
	// JWKSURL is fetched over HTTP(S) at start, every RefreshInterval, and
	// when a token names an unknown kid (at most once per 30 s).
	JWKSURL string
	// JWKSFile is read once at start.
	JWKSFile string
	// JWKS is the key set itself (development mode, tests).
	JWKS []byte

	Issuer   string        // checked when non-empty
	Audience string        // checked when non-empty; aud may be a string or an array
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat; default 30 s

	Now             func() time.Time // default time.Now
	HTTPClient      *http.Client     // default: a client with a 5 s timeout
	RefreshInterval time.Duration    // default 5 min
	// CacheSize bounds the verified-token cache; default 10000, negative
	// disables the cache.
	CacheSize int
	// Logger reports failed background refreshes and keys of the set that
	// cannot be used; default slog.Default().
	Logger *slog.Logger
}

// Verifier verifies bearer tokens against the issuer's keys. It is safe for
// concurrent use.
type Verifier struct {
	rules  claimRules // now is set per call
	now    func() time.Time
	keys   atomic.Pointer[keySet]
	cache  *tokenCache // nil when disabled
	url    string
	client *http.Client
	log    *slog.Logger

	// refresh coalesces fetches of the JWKS: callers that find a fetch under
	// way wait for it rather than start another.
	refresh singleflight.Group

	mu     sync.Mutex // guards the fields below
	closed bool
	// onDemand bounds the fetches caused by tokens with an unknown kid.
	onDemand *rate.Limiter
	// clock times on-demand refreshes: wall time, unlike Config.Now, which
	// tests stop or move.
	clock func() time.Time

	ctx    context.Context // background work, cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// verifications counts signature checks, so tests see the cache work.
	verifications atomic.Int64
}

// NewVerifier loads the key set of cfg and returns a verifier; with a
// JWKSURL it also starts refreshing the set in the background until Close.
// ctx bounds the initial load only. The initial load must succeed and yield
// at least one usable key.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	sources := 0
	for _, set := range []bool{cfg.JWKSURL != "", cfg.JWKSFile != "", len(cfg.JWKS) > 0} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("auth: configure exactly one key source: JWKSURL, JWKSFile or JWKS")
	}
	if cfg.Leeway < 0 || cfg.RefreshInterval < 0 {
		return nil, errors.New("auth: Leeway and RefreshInterval must not be negative")
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("auth: JWKSURL %q is not an http(s) URL", cfg.JWKSURL)
		}
	}

	v := &Verifier{
		rules:  claimRules{leeway: cfg.Leeway, issuer: cfg.Issuer, audience: cfg.Audience},
		now:    cfg.Now,
		url:    cfg.JWKSURL,
		client: cfg.HTTPClient,
		log:    cfg.Logger,
		clock:  time.Now,
		// One fetch, then one per 30 s.
		onDemand: rate.NewLimiter(rate.Every(onDemandRefreshInterval), 1),
	}
	if v.rules.leeway == 0 {
		v.rules.leeway = defaultLeeway
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	switch {
	case cfg.CacheSize == 0:
		v.cache = newTokenCache(defaultCacheSize)
	case cfg.CacheSize > 0:
		v.cache = newTokenCache(cfg.CacheSize)
	}

	var (
		set *keySet
		err error
	)
	switch {
	case cfg.JWKSURL != "":
		set, err = v.fetch(ctx)
	case cfg.JWKSFile != "":
		set, err = readKeySetFile(cfg.JWKSFile)
	default:
		set, err = parseKeySet(cfg.JWKS)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load the signing keys: %w", err)
	}
	if len(set.ignored) > 0 {
		v.log.Warn("auth: JWKS keys ignored", "reasons", set.ignored)
	}
	v.keys.Store(set)

	v.ctx, v.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if v.url != "" {
		interval := cfg.RefreshInterval
		if interval == 0 {
			interval = defaultRefreshInterval
		}
		v.wg.Add(1)
		go v.refreshEvery(interval)
	}
	return v, nil
}

// Close stops the background refresh, if any, and waits for it to end.
func (v *Verifier) Close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	v.wg.Wait()
}

// Verify checks a compact JWS bearer token and returns its principal. A token
// that is refused yields a *TokenError; any other error (ctx ended while the
// keys were being refreshed) is not the caller's fault.
//
// A token verified once is remembered until it expires, so the signature is
// checked once per token, not once per call.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, malformed("empty token")
	}
	if len(token) > maxTokenSize {
		return Principal{}, tokenError(reasonTooLarge)
	}
	now := v.now()
	var key [32]byte
	var gen uint64
	if v.cache != nil {
		key = cacheKey(token)
		if p, ok := v.cache.get(key); ok {
			if v.expired(p, now) {
				v.cache.remove(key)
				return Principal{}, tokenError(reasonExpired)
			}
			p.Roles = slices.Clone(p.Roles)
			return p, nil
		}
		gen = v.cache.generation.Load()
	}
	p, err := v.verify(ctx, token, now)
	if err != nil {
		return Principal{}, err
	}
	if v.cache != nil {
		v.cache.add(key, p, gen)
		p.Roles = slices.Clone(p.Roles)
	}
	return p, nil
}

// Verified is Verify answered from memory alone, for the server's hot path: the principal of
// a token this verifier has verified and remembers, and that has not expired; ok is false for
// any other token, which Verify then decides (and refuses, when it must). Its roles are the
// cache's own: never modify them.
func (v *Verifier) Verified(token string) (p Principal, ok bool) {
	if v.cache == nil || token == "" || len(token) > maxTokenSize {
		return Principal{}, false
	}
	p, ok = v.cache.get(cacheKey(token))
	if !ok || v.expired(p, v.now()) {
		return Principal{}, false
	}
	return p, true
}

// expired reports whether a remembered principal's token has expired at now.
func (v *Verifier) expired(p Principal, now time.Time) bool {
	return !now.Before(p.ExpiresAt.Add(v.rules.leeway))
}

// cacheKey returns the SHA-256 of token. Typical tokens are copied to the
// stack rather than converted to a []byte on the heap: this is the hot path.
func cacheKey(token string) [32]byte {
	if len(token) > 2048 {
		return sha256.Sum256([]byte(token))
	}
	var buf [2048]byte
	n := copy(buf[:], token)
	return sha256.Sum256(buf[:n])
}

func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (Principal, error) {
	jws, terr := parseJWS(token)
	if terr != nil {
		return Principal{}, terr
	}
	h := jws.Signatures[0].Header
	k, err := v.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return Principal{}, err
	}
	v.verifications.Add(1)
	payload, err := jws.Verify(k.key)
	if err != nil {
		return Principal{}, tokenError(reasonSignature)
	}
	rules := v.rules
	rules.now = now
	p, terr := rules.principal(payload)
	if terr != nil {
		return Principal{}, terr
	}
	return p, nil
}

// key finds the key for kid and alg; a kid the set does not know makes a
// JWKS fetched over HTTP refresh, as the issuer may have rotated its keys.
func (v *Verifier) key(ctx context.Context, kid, alg string) (*verifyKey, error) {
	k, terr := v.keys.Load().find(kid, alg)
	if terr == nil {
		return k, nil
	}
	if v.url == "" || kid == "" || terr.Reason != reasonUnknownKey {
		return nil, terr
	}
	select {
	case <-v.refresh.DoChan("jwks", v.fetchOnDemand):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Even when the rate limit refused a fetch, another may have just ended.
	k, terr = v.keys.Load().find(kid, alg)
	if terr != nil {
		return nil, terr
	}
	return k, nil
}

// find returns the key of the set that verifies alg for kid; without a kid,
// the only key of the set for alg.
func (s *keySet) find(kid, alg string) (*verifyKey, *TokenError) {
	if kid != "" {
		candidates := s.byKID[kid]
		if len(candidates) == 0 {
			return nil, tokenError(reasonUnknownKey)
		}
		for _, k := range candidates {
			if k.alg == alg {
				return k, nil
			}
		}
		return nil, tokenError(reasonKeyMismatch)
	}
	var found *verifyKey
	for _, k := range s.keys {
		if k.alg != alg {
			continue
		}
		if found != nil {
			return nil, tokenError(reasonAmbiguousKey)
		}
		found = k
	}
	if found == nil {
		return nil, tokenError(reasonUnknownKey)
	}
	return found, nil
}

// fetchOnDemand refreshes the keys for a token with an unknown kid, unless
// one did within the last 30 s.
func (v *Verifier) fetchOnDemand() (any, error) {
	v.refreshKeys(true)
	return nil, nil
}

// fetchScheduled refreshes the keys on the background schedule.
func (v *Verifier) fetchScheduled() (any, error) {
	v.refreshKeys(false)
	return nil, nil
}

// refreshKeys fetches the JWKS and installs it; a failed fetch keeps the
// keys there are. It does nothing after Close, nor for an on-demand refresh
// the rate limit refuses. Callers go through v.refresh, so one runs at a time.
func (v *Verifier) refreshKeys(onDemand bool) {
	v.mu.Lock()
	if v.closed || onDemand && !v.onDemand.AllowN(v.clock(), 1) {
		v.mu.Unlock()
		return
	}
	v.wg.Add(1)
	v.mu.Unlock()
	defer v.wg.Done()
	set, err := v.fetch(v.ctx)
	switch {
	case err == nil:
		v.replaceKeys(set)
	case v.ctx.Err() == nil:
		v.log.Warn("auth: refresh of the JWKS failed; keeping the previous keys", "url", v.url, "error", err)
	}
}

func (v *Verifier) refreshEvery(interval time.Duration) {
	defer v.wg.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-ticker.C:
			select {
			case <-v.refresh.DoChan("jwks", v.fetchScheduled):
			case <-v.ctx.Done():
				return
			}
		}
	}
}

// replaceKeys installs a refreshed key set. When a key left the set, the
// tokens it signed are forgotten by the cache and verified again.
func (v *Verifier) replaceKeys(set *keySet) {
	old := v.keys.Swap(set)
	if v.cache == nil || old == nil {
		return
	}
	kept := make(map[string]bool, len(set.keys))
	for _, k := range set.keys {
		kept[k.thumbprint] = true
	}
	for _, k := range old.keys {
		if !kept[k.thumbprint] {
			v.cache.purge()
			return
		}
	}
}

// fetch gets and parses the JWKS at v.url.
func (v *Verifier) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS from %s: %s", v.url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS from %s: %w", v.url, err)
	}
	set, err := parseKeySet(data)
	if err != nil {
		return nil, fmt.Errorf("JWKS from %s: %w", v.url, err)
	}
	return set, nil
}

func readKeySetFile(path string) (*keySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	set, err := parseKeySet(data)
	if err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	return set, nil
}
