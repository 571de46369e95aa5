package server

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/cxone/appreg/store"
)

// secretBytes is the entropy of an issued secret: 256 bits.
const secretBytes = 32

// pbkdf2Iterations is the work factor for imported secrets (OWASP's figure
// for PBKDF2-HMAC-SHA256).
const pbkdf2Iterations = 600_000

// newSecret returns a fresh client secret: 256 bits from crypto/rand, base64url.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashIssuedSecret hashes a secret this service generated. A 256-bit random
// value cannot be guessed, so one SHA-256 is as strong as a slow hash and
// keeps verification on the lookup path to a microsecond.
func hashIssuedSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256$" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// hashImportedSecret hashes a secret imported from an older system, whose
// entropy this service cannot vouch for, with a salted slow hash.
func hashImportedSecret(secret string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, secret, salt, pbkdf2Iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("pbkdf2: %w", err)
	}
	return fmt.Sprintf("%s$%d$%s$%s", store.ImportedSecretScheme, pbkdf2Iterations,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// isSlowHash reports whether encoded is a slow hash (an imported secret's),
// whose check is bounded by lookup.SlowHashes.
func isSlowHash(encoded string) bool {
	return strings.HasPrefix(encoded, store.ImportedSecretScheme+"$")
}

// secretMatches reports whether secret is the one encoded was made from. The
// comparison of digests is constant-time; an unknown encoding never matches.
func secretMatches(secret, encoded string) bool {
	scheme, rest, _ := strings.Cut(encoded, "$")
	switch scheme {
	case "sha256":
		want, err := base64.RawStdEncoding.DecodeString(rest)
		if err != nil {
			return false
		}
		sum := sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(sum[:], want) == 1
	case "pbkdf2-sha256":
		parts := strings.Split(rest, "$")
		if len(parts) != 3 {
			return false
		}
		iter, err := strconv.Atoi(parts[0])
		if err != nil || iter < 1 || iter > 10_000_000 {
			return false
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[1])
		want, err2 := base64.RawStdEncoding.DecodeString(parts[2])
		if err1 != nil || err2 != nil {
			return false
		}
		got, err := pbkdf2.Key(sha256.New, secret, salt, iter, len(want))
		if err != nil {
			return false
		}
		return subtle.ConstantTimeCompare(got, want) == 1
	}
	return false
}

// secretHint is what people see of a secret to tell secrets apart: its last
// four characters.
func secretHint(secret string) string {
	if len(secret) <= 4 {
		return ""
	}
	return secret[len(secret)-4:]
}
