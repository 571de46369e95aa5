package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigTableIsGenerated keeps the README's configuration table
// and `appreg serve --help` from drifting: both come from settings.
func TestREADMEConfigTableIsGenerated(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(readme), "<!-- config:begin -->\n")
	table, _, ok2 := strings.Cut(rest, "<!-- config:end -->")
	if !ok1 || !ok2 {
		t.Fatal("README.md has no <!-- config:begin --> … <!-- config:end --> block")
	}
	var want bytes.Buffer
	writeConfigDoc(&want)
	if table != want.String() {
		t.Fatalf("README's configuration table is stale; replace it with the output of `appreg config-doc`:\n%s", want.String())
	}
}

func TestServeHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "help") {
		t.Fatalf("serve --help: %v", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "--"+s.flag) || !strings.Contains(out.String(), s.env) {
			t.Errorf("serve --help lacks --%s / %s", s.flag, s.env)
		}
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"token"}, "--tenant is required"},
		{[]string{"token", "--tenant", "t", "--data-dir", t.TempDir()}, "appreg serve"},
		{[]string{"serve", "--deletion-grace", "soon"}, "Go duration"},
		{[]string{"serve", "--rate-limit", "-1"}, "requests per second"},
		{[]string{"serve", "--memory-limit", "lots"}, "size"},
		{[]string{"serve", "--list-cache-size", "0"}, "--list-cache-size"},
		{[]string{"serve", "--list-cache-size", "16MB"}, "size such as"},
		{[]string{"serve", "--memory-limit", "200MB"}, "size such as"},
		{[]string{"serve", "--memory-limit", "9999999999GiB"}, "size such as"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
