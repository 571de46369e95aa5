package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"
)

// operations holds the spec as the operational endpoints serve it.
type operations struct {
	specJSON []byte
	specYAML []byte
}

// registerOps adds the operational endpoints: health, readiness, metrics,
// the spec and its documentation. They are outside the API contract and
// need no token.
func (s *Server) registerOps(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metrics.handler())
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/json", s.ops.specJSON)
	})
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", s.ops.specYAML)
	})
	s.registerDocs(e)
}

// loadServedSpec renders the spec as served to SDK generators and Swagger UI:
// with one relative server, so "Try it out" calls the host that served it.
func (o *operations) loadServedSpec(spec *openapi3.T) error {
	served := *spec
	served.Servers = openapi3.Servers{{URL: "/", Description: "This service"}}
	j, err := json.Marshal(&served)
	if err != nil {
		return fmt.Errorf("marshal spec: %w", err)
	}
	var generic any
	if err := json.Unmarshal(j, &generic); err != nil {
		return err
	}
	y, err := yaml.Marshal(generic)
	if err != nil {
		return fmt.Errorf("marshal spec as YAML: %w", err)
	}
	o.specJSON, o.specYAML = j, y
	return nil
}

// readyz answers 200 when the database answers and its migrations are
// applied, 503 in the error shape otherwise.
func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "error", err.Error())
			return notReady{}
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// notReady is a failed readiness check.
type notReady struct{}

func (notReady) Error() string { return "not ready" }
