// Package gen holds the code that oapi-codegen generates from openapi.yaml:
// models, the strict echo server interface, the embedded spec and a Go client.
// Nothing here is edited by hand; `make generate` rewrites it.
package gen

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config oapi-codegen.yaml ../openapi.yaml
