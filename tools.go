//go:build tools

// Package tools pins the tools that `make generate` and `make lint` run, so
// that each runs the version recorded in go.mod.
package tools

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
