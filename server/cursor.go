package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/cxone/appreg/store"
)

// cursorJSON is the content of an opaque list cursor: the keyset position of the last
// application of the previous page and, for a filtered listing, the fingerprint of its
// filters (absent otherwise, so an unfiltered listing's cursors are as they always were).
type cursorJSON struct {
	T time.Time `json:"t"`
	I string    `json:"i"`
	F string    `json:"f,omitempty"`
}

// errCursorFilters is a well-formed cursor issued for other filters than the request's.
var errCursorFilters = errors.New("cursor issued for other filters")

func encodeCursor(c store.Cursor) string { return encodeCursorFor(c, "") }

// encodeCursorFor is the cursor of position c in a listing whose filters have fingerprint
// ("" for none, see filtersFingerprint).
func encodeCursorFor(c store.Cursor, fingerprint string) string {
	b, _ := json.Marshal(cursorJSON{T: c.CreatedTime.UTC(), I: c.ID, F: fingerprint})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*store.Cursor, error) { return decodeCursorFor(s, "") }

// decodeCursorFor decodes a cursor of a listing whose filters have fingerprint; a cursor
// issued with other filters is errCursorFilters. A page after a cursor of other filters would
// start at a position the filtered listing never had: rows would be skipped or repeated
// without anything telling the client.
func decodeCursorFor(s, fingerprint string) (*store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c cursorJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c.I == "" || c.T.IsZero() || len(c.I) > 128 {
		return nil, errors.New("incomplete cursor")
	}
	if c.F != fingerprint {
		return nil, errCursorFilters
	}
	return &store.Cursor{CreatedTime: c.T.UTC(), ID: c.I}, nil
}

// filtersFingerprint identifies the console's filters of q (type, state, search): "" when
// there are none, otherwise 96 bits of a SHA-256 of them, so the cursor stays short whatever
// the search.
func filtersFingerprint(q store.ListQuery) string {
	if !q.Filtered() {
		return ""
	}
	b, _ := json.Marshal([]string{q.Type, q.State, q.Search})
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}
