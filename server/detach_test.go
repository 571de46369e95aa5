package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestDetachFromClient pins what handlers see when their client hangs up: a context that
// is not cancelled (its database work finishes, and the driver keeps its connection), with
// a deadline, while clientGone still tells that the client went away (answered as 499).
func TestDetachFromClient(t *testing.T) {
	e := echo.New()
	clientCtx, hangUp := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/applications", nil).WithContext(clientCtx)
	c := e.NewContext(req, httptest.NewRecorder())

	var seen context.Context
	err := detachFromClient(func(c echo.Context) error {
		hangUp()
		seen = c.Request().Context()
		if err := seen.Err(); err != nil {
			t.Errorf("the handler's context ended with its client: %v", err)
		}
		if _, ok := seen.Deadline(); !ok {
			t.Error("the handler's context has no deadline")
		}
		if !clientGone(c) {
			t.Error("clientGone = false after the client hung up")
		}
		return nil
	})(c)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Err() == nil {
		t.Error("the handler's context outlives the request")
	}
}
