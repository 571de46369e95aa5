package server

import "github.com/labstack/echo/v4"

// operations holds what the operational endpoints (health, metrics, docs)
// keep between requests.
type operations struct{}

// observe records each request for the metrics.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc { return next }

// registerOps adds the operational endpoints: health, readiness, metrics,
// the spec and its documentation. They are outside the API contract and
// need no token.
func (s *Server) registerOps(e *echo.Echo) {}
