package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
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
	{"body-limit", "APPREG_BODY_LIMIT", "1048576", "largest request body accepted, in bytes"},
	{"db-max-conns", "APPREG_DB_MAX_CONNS", strconv.Itoa(store.DefaultPostgresConns), "PostgreSQL connections each replica opens at most (and keeps open); replicas x this must stay below the server's max_connections"},
	{"cache-size", "APPREG_CACHE_SIZE", "50000", "clients (and origins) the lookup cache keeps in memory"},
	{"list-cache-size", "APPREG_LIST_CACHE_SIZE", strconv.Itoa(lookup.DefaultAnswersSize>>20) + "MiB", "memory for applications encoded as listApplication answers them, so that a listing encodes only those changed since (bytes, or with KiB/MiB/GiB)"},
	{"rate-limit", "APPREG_RATE_LIMIT", "50", "management API requests per second per tenant (bursts of twice that); 0 turns limiting off"},
	{"cors-max-age", "APPREG_CORS_MAX_AGE", "1s", "how long the gateway may keep a CORS answer (Cache-Control max-age)"},
	{"memory-limit", "APPREG_MEMORY_LIMIT", "200MiB", "soft memory limit for the Go runtime (bytes, or with KiB/MiB/GiB); GOMEMLIMIT wins when set"},
	{"log-level", "APPREG_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"debug-addr", "APPREG_DEBUG_ADDR", "", "address of the profiling listener (Go's /debug/pprof), e.g. 127.0.0.1:6060; empty: none. Never expose it beyond the host"},
}

// config is the parsed settings of one command.
type config struct {
	values map[string]*string
	// err is the first value that did not parse; the typed getters record
	// it and return zero, so a command reads all it needs, then checks once.
	err error
}

// fail records the first parse error.
func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// bind registers the named settings on fs, each defaulting to its
// environment variable when set.
func bind(fs *flag.FlagSet, names ...string) *config {
	c := &config{values: map[string]*string{}}
	for _, s := range settings {
		if !contains(names, s.flag) {
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

func (c *config) str(name string) string { return *c.values[name] }

func (c *config) duration(name string) time.Duration {
	d, err := time.ParseDuration(c.str(name))
	if err != nil || d <= 0 {
		c.fail(fmt.Errorf("--%s: %q is not a positive Go duration such as 90s, 15m or 168h", name, c.str(name)))
		return 0
	}
	return d
}

func (c *config) float(name string) float64 {
	var f float64
	if _, err := fmt.Sscan(c.str(name), &f); err != nil || f < 0 {
		c.fail(fmt.Errorf("--%s: %q is not a number of requests per second (0 for no limit)", name, c.str(name)))
		return 0
	}
	return f
}

func (c *config) positive(name string) int64 {
	var n int64
	if _, err := fmt.Sscan(c.str(name), &n); err != nil || n <= 0 {
		c.fail(fmt.Errorf("--%s: %q is not a positive whole number", name, c.str(name)))
		return 0
	}
	return n
}

// bytes reads a size such as 200MiB, 1GiB or 1048576.
func (c *config) bytes(name string) int64 {
	v := strings.TrimSpace(c.str(name))
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			v, mult = n, m
			break
		}
	}
	// ParseInt, not fmt.Sscan, which read "200MB" as 200 bytes and stopped at the unit.
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		c.fail(fmt.Errorf("--%s: %q is not a size such as 200MiB", name, c.str(name)))
		return 0
	}
	return n * mult
}

// databaseURL is the configured database, or the SQLite file in the data dir.
func (c *config) databaseURL() string {
	if u := c.str("database-url"); u != "" {
		return u
	}
	return "sqlite:" + filepath.Join(c.str("data-dir"), "appreg.db")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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
