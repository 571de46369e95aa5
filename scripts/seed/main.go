// Command seed fills a migrated appreg database on PostgreSQL with realistic
// applications for the benchmark (scripts/bench), fast: rows go straight into
// the schema with COPY, several connections at once, bypassing the service.
//
//	go run ./scripts/seed -database-url postgres://... -tenants 10000 -per-tenant 10 -out DIR
//
// Every confidential and backend application gets one secret,
// "bench-secret-<id>", hashed with the service's issued-secret scheme, so the
// benchmark can verify it. The files written to -out feed the wrk scripts:
//
//	ids.txt          a random sample of applications: id tenant type secret ("-" for none)
//	origins.txt      the origins of the sampled applications: origin tenant
//	tenants.txt      every tenant, one a line
//	tenant-apps.txt  every application of a few random tenants: tenant id
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cxone/appreg/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "seed:", err)
		}
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	databaseURL string
	tenants     int
	perTenant   int
	batch       int
	workers     int
	sample      int
	viewTenants int
	seed        uint64
	out         string
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.StringVar(&o.databaseURL, "database-url", os.Getenv("APPREG_DATABASE_URL"), "PostgreSQL URL of the database to fill (env APPREG_DATABASE_URL)")
	fs.IntVar(&o.tenants, "tenants", 10000, "number of tenants")
	fs.IntVar(&o.perTenant, "per-tenant", 10, "applications per tenant")
	fs.IntVar(&o.batch, "batch", 20000, "applications per COPY transaction")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "concurrent database connections")
	fs.IntVar(&o.sample, "sample", 10000, "applications written to ids.txt")
	fs.IntVar(&o.viewTenants, "view-tenants", 20, "tenants whose every application is written to tenant-apps.txt")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same data")
	fs.StringVar(&o.out, "out", "", "directory for the files of the wrk scripts (none when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(o.databaseURL, "postgres://") && !strings.HasPrefix(o.databaseURL, "postgresql://") {
		return errors.New("-database-url must be a postgres:// URL")
	}
	if o.tenants < 1 || o.perTenant < 1 || o.batch < 1 || o.workers < 1 || o.sample < 0 || o.viewTenants < 0 {
		return errors.New("-tenants, -per-tenant, -batch and -workers must be positive")
	}

	// The schema is the service's own: migrate through the store first.
	st, err := store.Open(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return err
	}
	st.Close()

	g := newGenerator(o)
	start := time.Now()
	if err := g.insert(ctx); err != nil {
		return err
	}
	inserted := time.Since(start)
	if err := analyze(ctx, o.databaseURL); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: %d applications (%d secrets, %d origins) in %d tenants: inserted in %s, vacuumed and analyzed in %s\n",
		g.total, g.secrets, g.origins, o.tenants, inserted.Round(time.Millisecond), (time.Since(start) - inserted).Round(time.Millisecond))
	if o.out == "" {
		return nil
	}
	return g.writeFiles(o.out)
}

// generator makes the rows of application number 0 to total-1. Application i
// belongs to tenant i / perTenant and its content depends only on the seed and
// i, so workers can make their ranges independently.
type generator struct {
	o     options
	total int
	base  time.Time

	sampled     map[int]bool // application numbers written to ids.txt
	viewTenants map[int]bool // tenants written to tenant-apps.txt

	mu         sync.Mutex
	samples    map[int]*app
	tenantApps map[int][]string // tenant number → ids
	secrets    int
	origins    int
	done       int // applications committed
}

func newGenerator(o options) *generator {
	g := &generator{
		o:           o,
		total:       o.tenants * o.perTenant,
		base:        time.Now().UTC().Truncate(time.Microsecond),
		sampled:     map[int]bool{},
		viewTenants: map[int]bool{},
		samples:     map[int]*app{},
		tenantApps:  map[int][]string{},
	}
	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	for _, i := range rng.Perm(g.total)[:min(o.sample, g.total)] {
		g.sampled[i] = true
	}
	for _, t := range rng.Perm(o.tenants)[:min(o.viewTenants, o.tenants)] {
		g.viewTenants[t] = true
	}
	return g
}

// app is one generated application and its optional secret.
type app struct {
	row    store.Application
	secret string // "" for public applications
}

func tenantName(t int) string { return fmt.Sprintf("bench-tenant-%05d", t) }

// make is application number i.
func (g *generator) make(i int) *app {
	rng := rand.New(rand.NewPCG(g.o.seed, uint64(i)+1))
	t := i / g.o.perTenant
	tenant := tenantName(t)
	id := uuid.Must(uuid.NewRandomFromReader(rngReader{rng})).String()
	created := g.base.Add(-time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Microsecond)

	a := store.Application{
		ID:               id,
		TenantID:         tenant,
		Name:             fmt.Sprintf("Bench app %d", i),
		Description:      "Seeded for the benchmark.",
		Contacts:         []string{fmt.Sprintf("owner-%d@%s.example.com", i, tenant)},
		Tenancy:          "single",
		Redirects:        []string{},
		Origins:          []string{},
		Logouts:          []string{},
		Enabled:          true,
		CreatedBy:        "seed@example.com",
		CreatedTime:      created,
		LastModifiedBy:   "seed@example.com",
		LastModifiedTime: created,
		Version:          1,
	}
	if rng.IntN(2) == 0 {
		a.Contacts = append(a.Contacts, "it-admins@"+tenant+".example.com")
	}
	switch r := rng.IntN(10); {
	case r < 6:
		a.Type = "confidential"
	case r < 8:
		a.Type = "public"
	default:
		a.Type = "backend"
	}
	host := fmt.Sprintf("app-%d.%s.example.com", i, tenant)
	if a.Type == "backend" {
		a.AuthMethod = "client_secret_basic"
		a.Scope = "api.read api.write"
	} else {
		for k := range 1 + rng.IntN(3) {
			a.Redirects = append(a.Redirects, fmt.Sprintf("https://%s/callback/%d", host, k))
		}
		a.Origins = append(a.Origins, "https://"+host)
		if rng.IntN(2) == 0 {
			a.Origins = append(a.Origins, fmt.Sprintf("https://admin-%d.%s.example.com:8443", i, tenant))
		}
		a.Logouts = append(a.Logouts, "https://"+host+"/signed-out")
		a.Scope = "openid profile email"
		if a.Type == "confidential" {
			a.AuthMethod = "client_secret_basic"
			if rng.IntN(4) == 0 {
				a.AuthMethod = "client_secret_post"
			}
		}
	}
	// One application in twenty asked for every tenant: most approved, some pending.
	if rng.IntN(20) == 0 {
		a.Tenancy = "all"
		a.TenancyApproval = "pending"
		if rng.IntN(4) != 0 {
			decided := created.Add(time.Hour)
			a.TenancyApproval = "approved"
			a.TenancyDecidedBy = "operator@example.com"
			a.TenancyDecidedTime = &decided
			a.TenancyComment = "Approved for the benchmark."
		}
	}
	out := &app{row: a}
	if a.Type != "public" {
		out.secret = "bench-secret-" + id
	}
	return out
}

// rngReader feeds uuid.NewRandomFromReader from a seeded generator.
type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

// hashIssuedSecret is the service's scheme for the secrets it issues
// (server/secrets.go): one SHA-256 of a 256-bit random secret.
func hashIssuedSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256$" + base64.RawStdEncoding.EncodeToString(sum[:])
}

var (
	applicationColumns = []string{
		"id", "tenant_id", "name", "description", "contacts", "type", "tenancy",
		"tenancy_approval", "tenancy_decided_by", "tenancy_decided_time", "tenancy_comment",
		"redirects", "origins", "logouts", "auth_method", "jwks_endpoint", "scope", "enabled",
		"created_by", "created_time", "last_modified_by", "last_modified_time", "version",
	}
	secretColumns = []string{"id", "application_id", "hash", "hint", "created_time"}
	originColumns = []string{"application_id", "origin"}
)

// insert copies every application in batches, o.workers connections at once.
func (g *generator) insert(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan int)
	errs := make(chan error, g.o.workers)
	var wg sync.WaitGroup
	for range g.o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, g.o.databaseURL)
			if err != nil {
				errs <- fmt.Errorf("connect: %w", err)
				cancel()
				return
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, "SET synchronous_commit = off"); err != nil {
				errs <- err
				cancel()
				return
			}
			for first := range batches {
				if err := g.copyBatch(ctx, conn, first, min(first+g.o.batch, g.total)); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	for first := 0; first < g.total && ctx.Err() == nil; first += g.o.batch {
		select {
		case batches <- first:
		case <-ctx.Done():
		}
	}
	close(batches)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// copyBatch inserts applications [first, last) with their secrets and origins
// in one transaction.
func (g *generator) copyBatch(ctx context.Context, conn *pgx.Conn, first, last int) error {
	apps := make([][]any, 0, last-first)
	var secrets, origins [][]any
	for i := first; i < last; i++ {
		a := g.make(i)
		r := &a.row
		contacts, redirects, originsJSON, logouts := jsonList(r.Contacts), jsonList(r.Redirects), jsonList(r.Origins), jsonList(r.Logouts)
		apps = append(apps, []any{
			r.ID, r.TenantID, r.Name, r.Description, contacts, r.Type, r.Tenancy,
			r.TenancyApproval, r.TenancyDecidedBy, r.TenancyDecidedTime, r.TenancyComment,
			redirects, originsJSON, logouts, r.AuthMethod, r.JWKSEndpoint, r.Scope, r.Enabled,
			r.CreatedBy, r.CreatedTime, r.LastModifiedBy, r.LastModifiedTime, r.Version,
		})
		if a.secret != "" {
			secrets = append(secrets, []any{
				uuid.NewSHA1(uuid.NameSpaceOID, []byte(r.ID)).String(), r.ID,
				hashIssuedSecret(a.secret), a.secret[len(a.secret)-4:], r.CreatedTime,
			})
		}
		for _, o := range r.Origins {
			origins = append(origins, []any{r.ID, o})
		}
		g.note(i, a)
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // after Commit it is a no-op
	for _, c := range []struct {
		table   string
		columns []string
		rows    [][]any
	}{
		{"applications", applicationColumns, apps},
		{"application_secrets", secretColumns, secrets},
		{"application_origins", originColumns, origins},
	} {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.columns, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("copy %d rows into %s: %w", len(c.rows), c.table, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.secrets += len(secrets)
	g.origins += len(origins)
	before := g.done
	g.done += last - first
	if step := max(g.total/10, 1); g.done/step != before/step {
		fmt.Fprintf(os.Stderr, "seed: %d of %d applications\n", g.done, g.total)
	}
	return nil
}

// note keeps what the output files need of application i.
func (g *generator) note(i int, a *app) {
	t := i / g.o.perTenant
	if !g.sampled[i] && !g.viewTenants[t] {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sampled[i] {
		g.samples[i] = a
	}
	if g.viewTenants[t] {
		g.tenantApps[t] = append(g.tenantApps[t], a.row.ID)
	}
}

// jsonList is a list column as the store writes it: a JSON array.
func jsonList(l []string) string {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // []string always marshals
	}
	return string(b)
}

// analyze gives the planner statistics and the visibility map of the new rows,
// as a database in service would have, before the benchmark measures it.
func analyze(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) applications, application_secrets, application_origins"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	return nil
}

// writeFiles writes the wrk scripts' inputs into dir.
func (g *generator) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	idx := make([]int, 0, len(g.samples))
	for i := range g.samples {
		idx = append(idx, i)
	}
	sort.Ints(idx)

	return errors.Join(
		writeLines(filepath.Join(dir, "ids.txt"), func(w *bufio.Writer) {
			for _, i := range idx {
				a := g.samples[i]
				secret := a.secret
				if secret == "" {
					secret = "-"
				}
				fmt.Fprintf(w, "%s %s %s %s\n", a.row.ID, a.row.TenantID, a.row.Type, secret)
			}
		}),
		writeLines(filepath.Join(dir, "origins.txt"), func(w *bufio.Writer) {
			for _, i := range idx {
				a := g.samples[i]
				for _, o := range a.row.Origins {
					fmt.Fprintf(w, "%s %s\n", o, a.row.TenantID)
				}
			}
		}),
		writeLines(filepath.Join(dir, "tenants.txt"), func(w *bufio.Writer) {
			for t := range g.o.tenants {
				fmt.Fprintln(w, tenantName(t))
			}
		}),
		writeLines(filepath.Join(dir, "tenant-apps.txt"), func(w *bufio.Writer) {
			tenants := make([]int, 0, len(g.tenantApps))
			for t := range g.tenantApps {
				tenants = append(tenants, t)
			}
			sort.Ints(tenants)
			for _, t := range tenants {
				for _, id := range g.tenantApps[t] {
					fmt.Fprintf(w, "%s %s\n", tenantName(t), id)
				}
			}
		}),
	)
}

func writeLines(path string, fill func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
