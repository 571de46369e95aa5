package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

const (
	devKeyFile = "dev-signing-key.pem"
	devIssuer  = "appreg-dev"
)

// DevKey is the signing key `appreg serve` creates in its data directory in
// development mode (no JWKS configured) and that `appreg token` signs with:
// an ECDSA P-256 key (ES256) whose kid is its RFC 7638 thumbprint.
type DevKey struct {
	key  *ecdsa.PrivateKey
	kid  string
	jwks []byte
}

// LoadOrCreateDevKey loads the development key of dataDir, creating the
// directory and the key (<dataDir>/dev-signing-key.pem, mode 0600) when they
// do not exist. Processes racing to create it end up with the same key: the
// file appears whole, at most once, and the losers load it.
func LoadOrCreateDevKey(dataDir string) (*DevKey, error) {
	if dataDir == "" {
		return nil, errors.New("auth: development key: no data directory")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: development key: %w", err)
	}
	path := filepath.Join(dataDir, devKeyFile)
	k, err := readDevKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: development key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: development key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	switch err := createFile(path, data); {
	case errors.Is(err, fs.ErrExist):
		return readDevKey(path) // another process was first
	case err != nil:
		return nil, fmt.Errorf("auth: development key: %w", err)
	}
	return newDevKey(key)
}

// createFile writes data to path, mode 0600, unless path exists. The data is
// written to a temporary file first and linked into place, so no reader sees
// a partial file and an existing file is never replaced.
func createFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	err = os.Link(tmp.Name(), path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// The file system has no hard links: create the file exclusively.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// LoadDevKey loads the development key of dataDir, which `appreg serve`
// creates; it does not create one.
func LoadDevKey(dataDir string) (*DevKey, error) {
	path := filepath.Join(dataDir, devKeyFile)
	k, err := readDevKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth: no development signing key at %s: run `appreg serve` first "+
			"(it creates one in its data directory) or pass the --data-dir it uses: %w", path, fs.ErrNotExist)
	}
	return k, err
}

func readDevKey(path string) (*DevKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("auth: development key %s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: development key %s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("auth: development key %s: want an ECDSA P-256 key, have %T", path, key)
	}
	return newDevKey(ec)
}

func newDevKey(key *ecdsa.PrivateKey) (*DevKey, error) {
	kid, err := thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	jwks, err := PublicJWKS(map[string]crypto.PublicKey{kid: &key.PublicKey})
	if err != nil {
		return nil, err
	}
	return &DevKey{key: key, kid: kid, jwks: jwks}, nil
}

// JWKS returns the public JWK set of the key, for Config.JWKS.
func (k *DevKey) JWKS() []byte {
	return append([]byte(nil), k.jwks...)
}

// Issuer returns the issuer of the tokens the key mints, "appreg-dev".
func (k *DevKey) Issuer() string { return devIssuer }

// Claims are what a development token says about its caller.
type Claims struct {
	TenantID string
	Subject  string
	Roles    []string
	Issuer   string // default DevKey.Issuer()
	Audience string // omitted when empty
}

// Mint returns a token for c, valid for ttl from now.
func (k *DevKey) Mint(c Claims, ttl time.Duration) (string, error) {
	switch {
	case c.TenantID == "":
		return "", errors.New("auth: mint: a tenant id is required")
	case !validTenantID(c.TenantID):
		return "", errors.New("auth: mint: the tenant id must be at most 128 characters, without control characters")
	case c.Subject == "":
		return "", errors.New("auth: mint: a subject is required")
	case ttl <= 0:
		return "", errors.New("auth: mint: the lifetime must be positive")
	}
	iss := c.Issuer
	if iss == "" {
		iss = k.Issuer()
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := time.Now()
	claims := map[string]any{
		"iss":      iss,
		"sub":      c.Subject,
		"tenantId": c.TenantID,
		"iat":      now.Unix(),
		"exp":      now.Add(ttl).Unix(),
		"jti":      base64.RawURLEncoding.EncodeToString(jti),
	}
	if len(c.Roles) > 0 {
		claims["roles"] = c.Roles
	}
	if c.Audience != "" {
		claims["aud"] = c.Audience
	}
	return Sign(k.key, k.kid, claims)
}
