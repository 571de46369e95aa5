package server

import (
	"strconv"
	"strings"

	"github.com/cxone/appreg/store"
)

// etagOf is the application's entity tag: its version, which every write
// bumps. It is a strong validator: equal tags mean an identical application.
func etagOf(a *store.Application) *string {
	t := `"` + strconv.FormatInt(a.Version, 10) + `"`
	return &t
}

// etagMatches applies If-Match (RFC 9110 13.1.1): "*" or a list of entity
// tags, compared strongly, so weak tags (W/"...") never match.
func etagMatches(header string, a *store.Application) bool {
	current := *etagOf(a)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || tag == current {
			return true
		}
	}
	return false
}
