// Command bare-echo is the benchmark's ceiling (scripts/bench): an echo server
// with one route, GET /bare, answering a small fixed JSON document and doing
// nothing else. appreg's operations are measured against it on the same
// machine, in the same run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
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

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare-echo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18081", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/bare", func(c echo.Context) error {
		return c.JSON(http.StatusOK, result{Allowed: true})
	})

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
