package console

import (
	"embed"
	"io/fs"
)

// build is the console as `make console` builds it: index.html and its hashed
// assets. `all:` keeps names that start with _ or . (SvelteKit writes _app/).
//
//go:embed all:build
var build embed.FS

// Files is the built console, rooted at its index.html.
func Files() fs.FS {
	sub, err := fs.Sub(build, "build")
	if err != nil {
		panic(err) // "build" is a valid path: fs.Sub fails only on invalid ones
	}
	return sub
}
