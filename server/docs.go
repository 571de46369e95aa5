package server

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"
)

// docsFS holds Swagger UI (swagger-ui-dist, see scripts/fetch-swagger-ui)
// and its page: embedded, so /docs works with no request leaving the machine.
//
//go:embed docs/index.html docs/init.js docs/swagger-ui-bundle.js docs/swagger-ui.css
var docsFS embed.FS

// registerDocs serves Swagger UI at /docs.
func (s *Server) registerDocs(e *echo.Echo) {
	sub, _ := fs.Sub(docsFS, "docs")
	files := http.StripPrefix("/docs/", http.FileServer(http.FS(sub)))
	e.GET("/docs", func(c echo.Context) error {
		return c.Redirect(http.StatusFound, "/docs/")
	})
	e.GET("/docs/*", func(c echo.Context) error {
		h := c.Response().Header()
		// The API's no-store would make browsers refetch 2 MB on every visit.
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}
