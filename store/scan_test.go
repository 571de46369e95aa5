package store

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestApplicationColumnsAreTheModel keeps the hand-written scanner's column list equal to the
// Application model's columns, in the model's order: a field added to the model and not to
// the scanner would otherwise read back as its zero value without any error.
func TestApplicationColumnsAreTheModel(t *testing.T) {
	sch, err := schema.Parse(&Application{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	var model []string
	for _, f := range sch.Fields {
		if f.DBName != "" {
			model = append(model, f.DBName)
		}
	}
	if got := strings.Split(applicationColumns, ", "); !slices.Equal(got, model) {
		t.Fatalf("applicationColumns = %v\nthe model's columns = %v", got, model)
	}
}

// TestDecodeStringList checks the hand-split fast path against encoding/json on every shape a
// list column can hold, and that what the fast path refuses still decodes (or fails) as
// encoding/json decides.
func TestDecodeStringList(t *testing.T) {
	cases := []struct {
		name, raw string
		want      []string
		wantErr   bool
	}{
		{"empty", `[]`, []string{}, false},
		{"one", `["https://a.example.com/cb"]`, []string{"https://a.example.com/cb"}, false},
		{"several", `["a@example.com","b@example.com"]`, []string{"a@example.com", "b@example.com"}, false},
		{"empty string", `[""]`, []string{""}, false},
		{"non-ASCII", `["https://bücher.example/ü"]`, []string{"https://bücher.example/ü"}, false},
		{"escaped ampersand (Go's encoder)", `["https://a.example.com/cb?x=1\u0026y=2"]`, []string{"https://a.example.com/cb?x=1&y=2"}, false},
		{"escaped quote", `["a\"b"]`, []string{`a"b`}, false},
		{"whitespace", `[ "a" , "b" ]`, []string{"a", "b"}, false},
		{"null", `null`, nil, false},
		{"trailing comma", `["a",]`, nil, true},
		{"missing comma", `["a""b"]`, nil, true},
		{"unterminated", `["a]`, nil, true},
		{"number", `[1]`, nil, true},
		{"not an array", `"a"`, nil, true},
		{"invalid UTF-8", "[\"\xff\"]", []string{"\ufffd"}, false},
		{"empty input", ``, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := decodeStringList([]byte(tc.raw), &got)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			var std []string
			stdErr := json.Unmarshal([]byte(tc.raw), &std)
			if (stdErr != nil) != (err != nil) || (err == nil && !slices.Equal(got, std)) {
				t.Fatalf("differs from encoding/json: %q, %v vs %q, %v", got, err, std, stdErr)
			}
		})
	}
}

// FuzzDecodeStringList: whatever the bytes, the result is encoding/json's.
func FuzzDecodeStringList(f *testing.F) {
	for _, s := range []string{`[]`, `["a","b"]`, `["a\"b"]`, `[ "a" ]`, `null`, `["a",]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var got, std []string
		err := decodeStringList(raw, &got)
		stdErr := json.Unmarshal(raw, &std)
		if (err != nil) != (stdErr != nil) || (err == nil && !slices.Equal(got, std)) {
			t.Fatalf("%q: %q, %v; encoding/json: %q, %v", raw, got, err, std, stdErr)
		}
	})
}
