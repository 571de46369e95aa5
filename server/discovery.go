package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

const (
	// discoveryTTL is how long a discovery document is kept: issuers change
	// their endpoints rarely, and a replica restart picks a change up at once.
	discoveryTTL = time.Hour
	// discoveryRetry is the least time between two fetches after a failed one,
	// so that a down issuer is not asked on every console load.
	discoveryRetry = 5 * time.Second
	// discoveryTimeout bounds one fetch.
	discoveryTimeout = 5 * time.Second
	// maxDiscoverySize bounds the document read.
	maxDiscoverySize = 1 << 20
)

// errIssuerUnavailable is a discovery document that could not be read or used:
// the console cannot sign anyone in until it can (503, retry).
var errIssuerUnavailable = errors.New("the issuer's discovery document could not be read")

// providerMetadata is the part of an OpenID provider's discovery document
// (OpenID Connect Discovery 1.0, section 3) the console uses.
type providerMetadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
}

// discovery reads the issuer's discovery document for the console, so the
// browser needs no cross-origin request for it, and keeps it for discoveryTTL.
// Concurrent callers share one fetch.
type discovery struct {
	issuer string
	url    string
	client *http.Client
	now    func() time.Time
	group  singleflight.Group

	mu        sync.Mutex
	meta      *providerMetadata
	fetched   time.Time
	lastErr   error
	lastTried time.Time
}

func newDiscovery(issuer string, client *http.Client) (*discovery, error) {
	u, err := url.Parse(issuer)
	if err != nil || !allowedEndpoint(u) || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server: the issuer %q is not an https URL (http only on loopback) without query or fragment", issuer)
	}
	if client == nil {
		client = &http.Client{Timeout: discoveryTimeout}
	}
	return &discovery{
		issuer: issuer,
		url:    strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
		client: client,
		now:    time.Now,
	}, nil
}

// get returns the issuer's metadata: kept, or fetched when older than
// discoveryTTL. When a refresh fails, the kept document is still answered.
func (d *discovery) get(ctx context.Context) (*providerMetadata, error) {
	now := d.now()
	d.mu.Lock()
	meta, fetched, lastErr, lastTried := d.meta, d.fetched, d.lastErr, d.lastTried
	d.mu.Unlock()
	if meta != nil && now.Sub(fetched) < discoveryTTL {
		return meta, nil
	}
	if lastErr != nil && now.Sub(lastTried) < discoveryRetry {
		if meta != nil {
			return meta, nil
		}
		return nil, lastErr
	}
	ch := d.group.DoChan("", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
		defer cancel()
		m, err := d.fetch(ctx)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.lastTried = d.now()
		d.lastErr = err
		if err != nil {
			return nil, err
		}
		d.meta, d.fetched = m, d.lastTried
		return m, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			if meta != nil {
				return meta, nil
			}
			return nil, r.Err
		}
		return r.Val.(*providerMetadata), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// origins are the origins the console fetches from at the issuer: that of the
// token endpoint, as discovered, and the issuer's own while none is.
func (d *discovery) origins(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	issuer := originOf(d.issuer)
	m, err := d.get(ctx)
	if err != nil {
		return []string{issuer}
	}
	if o := originOf(m.TokenEndpoint); o != "" && o != issuer {
		return []string{issuer, o}
	}
	return []string{issuer}
}

func (d *discovery) fetch(ctx context.Context) (*providerMetadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIssuerUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIssuerUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %s", errIssuerUnavailable, d.url, resp.Status)
	}
	var m providerMetadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscoverySize)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errIssuerUnavailable, d.url, err)
	}
	// OpenID Connect Discovery 1.0, 4.3: the issuer in the document must be
	// exactly the one it was fetched for, or an attacker's document could
	// redirect the sign-in.
	if m.Issuer != d.issuer {
		return nil, fmt.Errorf("%w: it names the issuer %q, not %q", errIssuerUnavailable, m.Issuer, d.issuer)
	}
	for name, raw := range map[string]string{"authorization_endpoint": m.AuthorizationEndpoint, "token_endpoint": m.TokenEndpoint, "end_session_endpoint": m.EndSessionEndpoint} {
		if raw == "" && name == "end_session_endpoint" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || !allowedEndpoint(u) {
			return nil, fmt.Errorf("%w: its %s %q is not an https URL", errIssuerUnavailable, name, raw)
		}
	}
	return &m, nil
}

// allowedEndpoint reports whether u is an absolute https URL, or http on a
// loopback host (development and tests).
func allowedEndpoint(u *url.URL) bool {
	if u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}
