// Command bare-echo is the benchmark's ceiling (scripts/bench): an echo server
// whose route GET /bare answers a small fixed JSON document and does nothing
// else. appreg's operations are measured against it on the same machine, in the
// same run.
//
// GET /internal/clients/:id is a diagnostic beside it (the bench's bare-lookup
// row): a fixed answer with the bytes of a lookup's (the headers appreg sets on
// every answer, a seeded confidential client's policy), to the very requests the
// lookup load sends (bearer token included). It shows how much of a lookup's
// distance from /bare is the size of what goes over the wire, which no handler
// can remove.
//
// With -debug-addr it also serves net/http/pprof there (scripts/bench's BENCH_PROFILE), so that
// a lookup's profile can be read against the bare handler's, load for load.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bare-echo:", err)
		}
		os.Exit(1)
	}
}

// result has the shape of appreg's CORS answer.
type result struct {
	Allowed bool `json:"allowed"`
}

// lookupAnswer is a seeded confidential client's policy (scripts/seed), as appreg answers it.
var lookupAnswer = []byte(`{"allowedForTenant":true,"authMethod":"client_secret_basic","effectiveTenancy":"single",` +
	`"grantTypes":["authorization_code","refresh_token","client_credentials"],"id":"47fd10d4-4eb5-418c-802a-abe7c738b7ba",` +
	`"isEnabled":true,"locked":false,"logouts":["https://app-9560.bench-tenant-00956.example.com/signed-out"],` +
	`"origins":["https://app-9560.bench-tenant-00956.example.com","https://admin-9560.bench-tenant-00956.example.com:8443"],` +
	`"pkceRequired":false,"redirects":["https://app-9560.bench-tenant-00956.example.com/callback/0",` +
	`"https://app-9560.bench-tenant-00956.example.com/callback/1"],"scope":"openid profile email",` +
	`"tenantId":"bench-tenant-00956","tokenEndpointOnly":false,"type":"confidential"}`)

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare-echo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18081", "address to listen on")
	debugAddr := fs.String("debug-addr", "", "address to serve net/http/pprof on (none if empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/bare", func(c echo.Context) error {
		return c.JSON(http.StatusOK, result{Allowed: true})
	})
	var ids atomic.Uint64
	e.GET("/internal/clients/:id", func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderXRequestID, "r4x9q2m7k1p3z8w5-"+strconv.FormatUint(ids.Add(1), 10))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		return c.JSONBlob(http.StatusOK, lookupAnswer)
	})

	if *debugAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		debug := &http.Server{Addr: *debugAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = debug.ListenAndServe() }()
		defer debug.Close()
	}

	srv := &http.Server{Addr: *addr, Handler: e, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
