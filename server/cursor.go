package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/cxone/appreg/store"
)

// cursorJSON is the content of an opaque list cursor: the keyset position of
// the last application of the previous page.
type cursorJSON struct {
	T time.Time `json:"t"`
	I string    `json:"i"`
}

func encodeCursor(c store.Cursor) string {
	b, _ := json.Marshal(cursorJSON{T: c.CreatedTime.UTC(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*store.Cursor, error) {
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
	return &store.Cursor{CreatedTime: c.T.UTC(), ID: c.I}, nil
}
