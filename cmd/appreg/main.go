package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxone/appreg/console"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/server/notify"
	"github.com/cxone/appreg/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		// --help printed the usage: not a failure.
	case err != nil:
		fmt.Fprintln(os.Stderr, "appreg:", err)
		os.Exit(2)
	}
}

const usage = `appreg: the application registration service.

Usage:
  appreg serve    [flags]   run the API and the purger
  appreg migrate  [flags]   apply database migrations and exit
  appreg purge    [flags]   delete the applications due for deletion, once, and exit
  appreg token    [flags]   print a development token (--tenant T [--sub S] [--role R]... [--ttl D])
  appreg config-doc         print the configuration table of the README
  appreg version            print the version

Run 'appreg COMMAND --help' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, stdout, stderr)
	case "purge":
		return purge(ctx, args, stdout, stderr)
	case "token":
		return token(args, stdout, stderr)
	case "config-doc":
		writeConfigDoc(stdout)
		return nil
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "appreg", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("appreg "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFor(fs, summary)
	return fs
}

// registrationRate is a registration limit as server.Config takes it: there zero
// means the default and a negative rate no limit; the flag's 0 means no limit.
func registrationRate(perSecond float64) float64 {
	if perSecond == 0 {
		return -1
	}
	return perSecond
}

// defaultGCPercent is serve's GOGC unless the environment sets one.
const defaultGCPercent = 400

var serveFlags = []string{"addr", "data-dir", "database-url", "deletion-grace", "purge-interval",
	"jwks-url", "jwks-file", "issuer", "audience", "console-client-id", "smtp-url", "smtp-from", "body-limit", "rate-limit", "db-max-conns", "db-timeout", "cache-size", "lookup-max-stale", "list-cache-size", "cors-max-age", "memory-limit", "log-level", "debug-addr",
	"anonymous-registration-rate", "anonymous-registration-rate-per-address"}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "appreg serve: run the App Registration API and its purger.", stderr)
	cfg := bind(fs, serveFlags...)
	if err := cfg.parse(args); err != nil {
		return err
	}
	setRuntimeLimits(cfg.size("memory-limit"))
	log, flushLog, stopLog := bufferedLog(stderr, cfg.level("log-level"))
	defer stopLog() // last: whatever is logged while serve winds down is written

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	st.SetMaxConns(cfg.count("db-max-conns"))
	st.SetOperationTimeout(cfg.duration("db-timeout"))

	verifier, devKey, err := newVerifier(ctx, cfg)
	if err != nil {
		return err
	}
	defer verifier.Close()
	if devKey != nil {
		log.Warn("DEVELOPMENT MODE: no JWKS configured; trusting the development signing key in the data dir. " +
			"Never run this in production: set APPREG_JWKS_URL or APPREG_JWKS_FILE.")
	}

	cache, stopCache, err := startLookupCache(ctx, st, cfg, log)
	if err != nil {
		return err
	}
	defer stopCache()

	metrics, err := server.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Store: st, Auth: verifier, Lookup: cache, ListCacheSize: cfg.size("list-cache-size"),
		DeletionGrace: cfg.duration("deletion-grace"), BodyLimit: cfg.size("body-limit"),
		CORSMaxAge: cfg.duration("cors-max-age"), RateLimit: cfg.rate("rate-limit"), Logger: log,
		AnonymousRegistrationRate:           registrationRate(cfg.rate("anonymous-registration-rate")),
		AnonymousRegistrationRatePerAddress: registrationRate(cfg.rate("anonymous-registration-rate-per-address")),
		Metrics:                             metrics, Console: consoleConfig(cfg, devKey != nil),
		Ready:      ready(st),
		SlowHashes: serveSlowHashes(),
	})
	if err != nil {
		return err
	}
	sender, err := newSender(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.str("addr"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpServer := newHTTPServer(srv.Handler(), log)

	// The purger and the notification dispatcher stop after the HTTP server has drained.
	stopBackground := startBackground(ctx, st, sender, cfg, metrics, log)
	defer stopBackground()

	// Loading the spec, the migrations and the caches leaves some 20 MiB of garbage that the
	// first collections would otherwise keep resident for minutes: start from what is live.
	debug.FreeOSMemory()
	announce(stdout, log, "http://"+ln.Addr().String(), st.Dialect(), devKey)
	flushLog() // the start-up lines now, not within the flush interval
	if a := cfg.str("debug-addr"); a != "" {
		stopDebug, err := serveDebug(a, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	return serveUntilDone(ctx, httpServer, ln, log)
}

// setRuntimeLimits sets the soft memory limit and GOGC, unless the environment sets them.
func setRuntimeLimits(memLimit int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		// The lookup cache at its bound holds about 100 MiB live, the list cache 16 MiB; a soft limit
		// makes the collector work harder before the process grows past it.
		debug.SetMemoryLimit(memLimit)
	}
	if os.Getenv("GOGC") == "" {
		// The live heap is small (tens of MiB) and every request allocates, so at the
		// default GOGC=100 the collector runs very often; the memory limit above, not
		// GOGC, is what bounds the heap. Measured on viewApplication: about +8% requests/s.
		debug.SetGCPercent(defaultGCPercent)
	}
}

// startLookupCache loads the lookup path's cache and starts it; stop flushes its batched
// lastUsedTime writes.
func startLookupCache(ctx context.Context, st *store.Store, cfg *config, log *slog.Logger) (cache *lookup.Cache, stop func(), err error) {
	cache = lookup.New(st, lookup.Config{Size: cfg.count("cache-size"), MaxStale: cfg.duration("lookup-max-stale"), Logger: log})
	if err := cache.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("lookup cache: %w", err)
	}
	return cache, func() {
		// Flush even when the signal context is done.
		flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cache.Stop(flushCtx); err != nil {
			log.Error("flushing lastUsedTime", slog.String("error", err.Error()))
		}
	}, nil
}

// announce logs where the service listens and, in development mode, prints how to call it
// and a link that opens the console signed in.
func announce(stdout io.Writer, log *slog.Logger, base, dialect string, devKey *auth.DevKey) {
	log.Info("appreg serving", slog.String("addr", base), slog.String("database", dialect), slog.String("version", version))
	if devKey == nil {
		return
	}
	printDevelopmentHint(stdout, base)
	if link, err := consoleLink(base, devKey); err != nil {
		log.Warn("no console link", slog.String("error", err.Error()))
	} else {
		fmt.Fprintf(stdout, "Or open the console as the administrator of tenant %s (valid %s):\n\n  %s\n\n", consoleTenant, consoleTokenTTL, link)
	}
}

// ready is /readyz's check: the database answers and its migrations are applied.
func ready(st *store.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return err
		}
		if pending, err := st.MigrationsPending(ctx); err != nil || pending {
			return errors.Join(err, errors.New("database migrations are not applied"))
		}
		return nil
	}
}

// newSender is the configured SMTP server, or the log when there is none.
func newSender(cfg *config, log *slog.Logger) (notify.Sender, error) {
	u := cfg.str("smtp-url")
	if u == "" {
		return notify.LogSender{Logger: log}, nil
	}
	sender, err := notify.NewSMTPSender(u)
	if err != nil {
		return nil, fmt.Errorf("--smtp-url (env APPREG_SMTP_URL): %w", err)
	}
	return sender, nil
}

// serveSlowHashes is the bound on imported secrets' slow hashes of `appreg serve`: the
// defaults, and a verification that waits at most lookup.DefaultMaxWait for its hash, then
// answers busy (a library user's server.New default has no such wait bound).
func serveSlowHashes() *lookup.SlowHashes {
	return lookup.NewSlowHashes(lookup.SlowHashConfig{MaxWait: lookup.DefaultMaxWait})
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		// openapi.yaml declares the 431 beyond it on every operation.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// startBackground runs the purger and the notification dispatcher, both safe on every
// replica, until the returned stop is called; stop waits for them.
func startBackground(ctx context.Context, st *store.Store, sender notify.Sender, cfg *config, metrics *server.Metrics, log *slog.Logger) (stop func()) {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() {
		(&server.Purger{Store: st, Interval: cfg.duration("purge-interval"), DeletionGrace: cfg.duration("deletion-grace"),
			Logger: log, Purged: metrics.Purged}).Run(bg)
	})
	background.Go(func() {
		(&notify.Dispatcher{Store: st, Sender: sender, From: cfg.str("smtp-from"), Logger: log,
			Sent: metrics.NotificationsSent, Failed: metrics.NotificationsFailed}).Run(bg)
	})
	return func() {
		cancel()
		background.Wait()
	}
}

func printDevelopmentHint(w io.Writer, base string) {
	fmt.Fprintf(w, `
appreg is ready at %[1]s (development mode, SQLite unless APPREG_DATABASE_URL is set).
Get a token and call it:

  TOKEN=$(go run ./cmd/appreg token --tenant demo --sub you@example.com)
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s/applications

`, base)
}

// serveUntilDone serves on ln until ctx is done, then drains the in-flight requests.
func serveUntilDone(ctx context.Context, httpServer *http.Server, ln net.Listener, log *slog.Logger) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "appreg migrate: apply the database migrations and exit.", stderr)
	cfg := bind(fs, "data-dir", "database-url")
	if err := cfg.parse(args); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "migrations applied (%s)\n", st.Dialect())
	return nil
}

func purge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("purge", "appreg purge: delete the applications due for deletion, once, and exit.", stderr)
	cfg := bind(fs, "data-dir", "database-url", "deletion-grace", "log-level")
	if err := cfg.parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.level("log-level"))
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := (&server.Purger{Store: st, DeletionGrace: cfg.duration("deletion-grace"), Logger: log}).RunOnce(ctx)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	fmt.Fprintf(stdout, "purged %d application(s)\n", n)
	return nil
}

// roleFlags collects repeated --role flags.
type roleFlags []string

func (r *roleFlags) String() string     { return strings.Join(*r, ",") }
func (r *roleFlags) Set(v string) error { *r = append(*r, v); return nil }

func token(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", "appreg token: print a token signed with the development key of the data dir.", stderr)
	cfg := bind(fs, "data-dir")
	tenant := fs.String("tenant", "", "the tenantId claim (required)")
	sub := fs.String("sub", "developer@example.com", "the sub claim: who acts")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	var roles roleFlags
	fs.Var(&roles, "role", "a role to grant (repeatable): appreg.admin, appreg.lookup")
	if err := cfg.parse(args); err != nil {
		return err
	}
	if *tenant == "" {
		return errors.New("--tenant is required")
	}
	if *ttl <= 0 || *ttl > 30*24*time.Hour {
		return errors.New("--ttl must be between 1s and 720h")
	}
	key, err := auth.LoadDevKey(cfg.str("data-dir"))
	if err != nil {
		return err
	}
	tok, err := key.Mint(auth.Claims{TenantID: *tenant, Subject: *sub, Roles: roles}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// The console link of development mode signs in as the administrator of this tenant.
const (
	consoleTenant   = "demo"
	consoleSubject  = "admin@demo.example.com"
	consoleTokenTTL = 12 * time.Hour
)

// consoleLink is the console's address with a development token in its
// fragment, which browsers never send to a server; the console reads it and
// removes it from the address bar at once.
func consoleLink(base string, key *auth.DevKey) (string, error) {
	tok, err := key.Mint(auth.Claims{TenantID: consoleTenant, Subject: consoleSubject}, consoleTokenTTL)
	if err != nil {
		return "", err
	}
	return base + "/console/#token=" + tok, nil
}

// consoleConfig is how the console signs in: development tokens with the
// development key, OpenID Connect when a console client is configured, a
// pasted token otherwise.
func consoleConfig(cfg *config, development bool) server.ConsoleConfig {
	c := server.ConsoleConfig{Files: console.Files(), Mode: server.ConsoleToken}
	switch {
	case development:
		c.Mode = server.ConsoleDevelopment
	case cfg.str("console-client-id") != "":
		c.Mode, c.Issuer, c.ClientID = server.ConsoleOIDC, cfg.str("issuer"), cfg.str("console-client-id")
	}
	return c
}

// openStore connects to the configured database and applies pending migrations.
func openStore(ctx context.Context, cfg *config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.databaseURL())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return st, nil
}

// newVerifier trusts the configured JWKS, or, with none, the development key
// of the data dir (created on first use), which it also returns.
func newVerifier(ctx context.Context, cfg *config) (*auth.Verifier, *auth.DevKey, error) {
	ac := auth.Config{
		JWKSURL:  cfg.str("jwks-url"),
		JWKSFile: cfg.str("jwks-file"),
		Issuer:   cfg.str("issuer"),
		Audience: cfg.str("audience"),
	}
	var devKey *auth.DevKey
	if ac.JWKSURL == "" && ac.JWKSFile == "" {
		k, err := auth.LoadOrCreateDevKey(cfg.str("data-dir"))
		if err != nil {
			return nil, nil, fmt.Errorf("development key: %w", err)
		}
		devKey = k
		ac.JWKS = k.JWKS()
		if ac.Issuer == "" {
			ac.Issuer = k.Issuer()
		}
	}
	v, err := auth.NewVerifier(ctx, ac)
	if err != nil {
		return nil, nil, fmt.Errorf("token verifier: %w", err)
	}
	return v, devKey, nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
