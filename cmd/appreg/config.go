package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/dustin/go-humanize"
)

// setting is one configuration value: a flag of `appreg serve` with an
// environment variable behind it. settings is the one list that --help and
// the README's table (`appreg config-doc`) are both made from.
type setting struct {
	flag, env, def, usage string
}

var settings = []setting{
	{"addr", "APPREG_ADDR", "127.0.0.1:8080", "address to listen on"},
	{"data-dir", "APPREG_DATA_DIR", "./data", "directory of the SQLite database and the development signing key"},
	{"database-url", "APPREG_DATABASE_URL", "", "database: empty for SQLite in <data-dir>/appreg.db, or postgres://user@host:5432/db"},
	{"deletion-grace", "APPREG_DELETION_GRACE", "168h", "how long a deleted application can be restored with -enable (Go duration)"},
	{"purge-interval", "APPREG_PURGE_INTERVAL", "1m", "how often the purger looks for applications due for deletion"},
	{"jwks-url", "APPREG_JWKS_URL", "", "URL of the issuer's JSON Web Key Set; with --jwks-file empty, development mode"},
	{"jwks-file", "APPREG_JWKS_FILE", "", "file holding the issuer's JSON Web Key Set"},
	{"issuer", "APPREG_ISSUER", "", "required iss claim of tokens (checked when set)"},
	{"audience", "APPREG_AUDIENCE", "", "required aud claim of tokens (checked when set)"},
	{"console-client-id", "APPREG_CONSOLE_CLIENT_ID", "", "the console's public client id at --issuer: with a JWKS, the console signs in with OpenID Connect (code + PKCE, redirect <origin>/console/callback); empty: tokens are pasted"},
	{"smtp-url", "APPREG_SMTP_URL", "", "SMTP server for notifications (smtp://host:port, smtps://user:pass@host:465); empty: notifications go to the log"},
	{"smtp-from", "APPREG_SMTP_FROM", "appreg@localhost", "From address of notifications"},
	{"body-limit", "APPREG_BODY_LIMIT", "1MiB", "largest request body accepted (bytes, or with kB/MB/GB or KiB/MiB/GiB)"},
	{"db-max-conns", "APPREG_DB_MAX_CONNS", strconv.Itoa(store.DefaultPostgresConns), "PostgreSQL connections each replica opens at most (and keeps open); replicas x this must stay below the server's max_connections"},
	{"db-timeout", "APPREG_DB_TIMEOUT", store.DefaultOperationTimeout.String(), "how long one PostgreSQL operation of a request may take, waiting for a connection included, before the request answers 503 with Retry-After (a database that stopped answering); at most " + maxDBTimeout.String()},
	{"cache-size", "APPREG_CACHE_SIZE", "50000", "clients (and origins) the lookup cache keeps in memory"},
	{"lookup-max-stale", "APPREG_LOOKUP_MAX_STALE", lookup.DefaultMaxStale.String(), "how long the lookup cache keeps answering from memory once it cannot read the change log (the database away), before it fails closed with 503: a client disabled meanwhile authenticates on a replica for at most this plus a poll; at most " + maxLookupStale.String()},
	{"list-cache-size", "APPREG_LIST_CACHE_SIZE", strconv.Itoa(lookup.DefaultAnswersSize>>20) + "MiB", "memory for applications encoded as listApplication answers them, so that a listing encodes only those changed since (bytes, or with kB/MB/GB or KiB/MiB/GiB)"},
	{"rate-limit", "APPREG_RATE_LIMIT", "50", "management API requests per second per tenant (bursts of twice that); 0 turns limiting off"},
	{"anonymous-registration-rate", "APPREG_ANONYMOUS_REGISTRATION_RATE", "1", "anonymous dynamic client registrations per second per tenant (bursts of 10); 0 turns the limit off"},
	{"anonymous-registration-rate-per-address", "APPREG_ANONYMOUS_REGISTRATION_RATE_PER_ADDRESS", "0.1", "anonymous dynamic client registrations per second per source address (bursts of 5); 0 turns the limit off"},
	{"cors-max-age", "APPREG_CORS_MAX_AGE", "1s", "how long the gateway may keep a CORS answer (Cache-Control max-age)"},
	{"memory-limit", "APPREG_MEMORY_LIMIT", "200MiB", "soft memory limit for the Go runtime (bytes, or with kB/MB/GB or KiB/MiB/GiB); GOMEMLIMIT wins when set"},
	{"log-level", "APPREG_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"debug-addr", "APPREG_DEBUG_ADDR", "", "address of the profiling listener (Go's /debug/pprof), e.g. 127.0.0.1:6060; empty: none. Never expose it beyond the host"},
}

// A kind is how the value of a setting that is not free text is read. Every
// parse reads the whole value: a value with anything left over, a unit the
// kind does not take, or a number out of range is refused.
type kind struct {
	// want is the form a value must have, as the error message says it.
	want string
	// parse reads a value whole; ok is false when it cannot.
	parse func(v string) (value any, ok bool)
}

// kinds are the settings that are not free text, by flag. A setting missing
// here (a path, an issuer) is taken as it is.
var kinds = map[string]kind{
	"addr":            hostPort(false),
	"debug-addr":      hostPort(true),
	"database-url":    databaseURL,
	"deletion-grace":  duration,
	"purge-interval":  duration,
	"cors-max-age":    duration,
	"jwks-url":        webURL,
	"smtp-url":        smtpURL,
	"smtp-from":       mailAddress,
	"body-limit":      size,
	"list-cache-size": size,
	"memory-limit":    size,
	"db-max-conns":    count(maxDBConns),
	"cache-size":      count(maxCacheSize),
	"rate-limit":      rate,
	"log-level":       level,

	"db-timeout":       durationUpTo(maxDBTimeout),
	"lookup-max-stale": durationUpTo(maxLookupStale),

	"anonymous-registration-rate":             rate,
	"anonymous-registration-rate-per-address": rate,
}

const (
	// maxDBConns bounds --db-max-conns: the pool counts in int32, and no
	// PostgreSQL server takes more connections than this from one replica.
	maxDBConns = 10_000
	// maxCacheSize bounds --cache-size: at about 2 KiB a client, 20 GiB.
	maxCacheSize = 10_000_000
	// maxRate bounds --rate-limit: its burst (twice the rate) is an int. The
	// benchmarks turn limiting off with a billion.
	maxRate = 1_000_000_000
	// maxDBTimeout bounds --db-timeout: a request's own timeout (30 s) ends it
	// sooner anyway.
	maxDBTimeout = 30 * time.Second
	// maxLookupStale bounds --lookup-max-stale, the time a disabled client may
	// still authenticate during an outage of the database.
	maxLookupStale = time.Hour
)

var duration = kind{"a positive Go duration such as 90s, 15m or 168h", func(v string) (any, bool) {
	d, err := time.ParseDuration(v)
	return d, err == nil && d > 0
}}

// durationUpTo is a positive Go duration of at most most.
func durationUpTo(most time.Duration) kind {
	return kind{"a positive Go duration such as 500ms, 5s or 1m, at most " + most.String(), func(v string) (any, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && d > 0 && d <= most
	}}
}

// size reads a number of bytes with go-humanize: a whole number, or with a
// unit, decimal (kB, MB, GB) or binary (KiB, MiB, GiB), in any case.
var size = kind{"a size such as 16MiB, 1MB or 1048576 (bytes, or with kB/MB/GB or KiB/MiB/GiB), above 0", func(v string) (any, bool) {
	n, err := humanize.ParseBytes(v)
	if err != nil || n == 0 || n > math.MaxInt64 || strings.TrimSpace(v) != v {
		return int64(0), false
	}
	return int64(n), true
}}

// count is a whole number from 1 to most.
func count(most int64) kind {
	return kind{fmt.Sprintf("a whole number from 1 to %d", most), func(v string) (any, bool) {
		n, err := strconv.ParseInt(v, 10, 64)
		return int(n), err == nil && n >= 1 && n <= most
	}}
}

var rate = kind{fmt.Sprintf("a number of requests per second from 0 (no limit) to %d", maxRate), func(v string) (any, bool) {
	f, err := strconv.ParseFloat(v, 64)
	// ParseFloat also reads NaN and Inf, which NaN's comparisons and the range refuse.
	return f, err == nil && f >= 0 && f <= maxRate
}}

var level = kind{"debug, info, warn or error", func(v string) (any, bool) {
	var l slog.Level
	return l, l.UnmarshalText([]byte(v)) == nil
}}

// hostPort is a listening address, host:port; optional ones may be empty.
func hostPort(optional bool) kind {
	want := "an address host:port such as 127.0.0.1:8080 or :8080"
	if optional {
		want += ", or empty"
	}
	return kind{want, func(v string) (any, bool) {
		if v == "" {
			return v, optional
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			return v, false
		}
		_, err = strconv.ParseUint(port, 10, 16)
		return v, err == nil
	}}
}

// urlOf reads an absolute URL of one of schemes with a host, or empty.
func urlOf(want string, schemes ...string) kind {
	return kind{want, func(v string) (any, bool) {
		if v == "" {
			return v, true
		}
		u, err := url.Parse(v)
		return v, err == nil && slices.Contains(schemes, u.Scheme) && u.Hostname() != ""
	}}
}

var (
	webURL  = urlOf("an http:// or https:// URL, or empty", "http", "https")
	smtpURL = urlOf("an SMTP URL smtp://host:port or smtps://user:pass@host:465, or empty", "smtp", "smtps")
)

var databaseURL = kind{"empty (SQLite in the data dir), postgres://user@host:5432/db, or sqlite:path/to/file.db", func(v string) (any, bool) {
	if v == "" {
		return v, true
	}
	if rest, ok := strings.CutPrefix(v, "sqlite:"); ok {
		return v, strings.TrimPrefix(rest, "//") != ""
	}
	u, err := url.Parse(v)
	return v, err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}}

var mailAddress = kind{"an e-mail address such as appreg@example.com", func(v string) (any, bool) {
	_, err := mail.ParseAddress(v)
	return v, err == nil
}}

// config is the settings of one command, read from its flags and environment.
type config struct {
	fs     *flag.FlagSet
	values map[string]*string
	// parsed holds each value of a kind, as its kind read it.
	parsed map[string]any
}

// bind registers the named settings on fs, each defaulting to its
// environment variable when set.
func bind(fs *flag.FlagSet, names ...string) *config {
	c := &config{fs: fs, values: map[string]*string{}, parsed: map[string]any{}}
	for _, s := range settings {
		if !slices.Contains(names, s.flag) {
			continue
		}
		def := s.def
		if v, ok := os.LookupEnv(s.env); ok {
			def = v
		}
		c.values[s.flag] = fs.String(s.flag, def, fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	return c
}

// parse reads args, then every bound setting of a kind, whole. It refuses
// every value it cannot read, each error naming the flag, its environment
// variable, the value and the form expected.
func (c *config) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	var errs []error
	for _, s := range settings {
		v, bound := c.values[s.flag]
		k, typed := kinds[s.flag]
		if !bound || !typed {
			continue
		}
		parsed, ok := k.parse(*v)
		if !ok {
			errs = append(errs, fmt.Errorf("--%s (env %s): %q is not %s", s.flag, s.env, redacted(*v), k.want))
			continue
		}
		c.parsed[s.flag] = parsed
	}
	return errors.Join(errs...)
}

// redacted hides the password of a URL, which an error must not show.
func redacted(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		return u.Redacted()
	}
	return v
}

func (c *config) str(name string) string { return *c.values[name] }

// The typed getters return what parse read; a name bound without parse, or
// read as another kind, is a programming error and panics.
func (c *config) duration(name string) time.Duration { return c.parsed[name].(time.Duration) }
func (c *config) size(name string) int64             { return c.parsed[name].(int64) }
func (c *config) count(name string) int              { return c.parsed[name].(int) }
func (c *config) rate(name string) float64           { return c.parsed[name].(float64) }
func (c *config) level(name string) slog.Level       { return c.parsed[name].(slog.Level) }

// databaseURL is the configured database, or the SQLite file in the data dir.
func (c *config) databaseURL() string {
	if u := c.str("database-url"); u != "" {
		return u
	}
	return "sqlite:" + filepath.Join(c.str("data-dir"), "appreg.db")
}

// writeConfigDoc prints the settings as the Markdown table of the README.
func writeConfigDoc(w io.Writer) {
	fmt.Fprintln(w, "| flag | environment | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "| `--%s` | `%s` | `%s` | %s |\n", s.flag, s.env, def, s.usage)
	}
}

// usageFor prints a command's help: what it does and its flags with defaults.
func usageFor(fs *flag.FlagSet, summary string) func() {
	return func() {
		w := tabwriter.NewWriter(fs.Output(), 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "%s\n\nFlags (each also read from its environment variable):\n", summary)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			usage, env, hasEnv := strings.Cut(f.Usage, " (env ")
			if hasEnv {
				env = "env " + strings.TrimSuffix(env, ")")
			}
			fmt.Fprintf(w, "  --%s\t%s\tdefault %s\t%s\n", f.Name, usage, def, env)
		})
		w.Flush()
	}
}
