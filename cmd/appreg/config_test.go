package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
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
		{[]string{"serve", "--list-cache-size", "16MBs"}, "size such as"},
		{[]string{"serve", "--memory-limit", "200MiBs"}, "size such as"},
		{[]string{"serve", "--body-limit", "1MBs"}, "size such as"},
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

// numeric are the kinds whose every setting is tested with a good value, a
// unit it does not take, a negative, zero and an overflow.
var numeric = map[string]bool{"deletion-grace": true, "purge-interval": true, "cors-max-age": true,
	"body-limit": true, "list-cache-size": true, "memory-limit": true, "db-max-conns": true,
	"cache-size": true, "rate-limit": true, "db-timeout": true, "lookup-max-stale": true,
	"anonymous-registration-rate": true, "anonymous-registration-rate-per-address": true}

// settingCases read one value of one setting. want is what the getter of
// its kind returns; nil means the value is refused at start.
var settingCases = []struct {
	flag, name, value string
	want              any
}{
	{"deletion-grace", "good", "72h", 72 * time.Hour},
	{"deletion-grace", "unit", "7d", nil},
	{"deletion-grace", "no unit", "168", nil},
	{"deletion-grace", "negative", "-1h", nil},
	{"deletion-grace", "zero", "0s", nil},
	{"deletion-grace", "overflow", "9999999999h", nil},
	{"deletion-grace", "trailing", "1h soon", nil},
	{"purge-interval", "good", "90s", 90 * time.Second},
	{"purge-interval", "unit", "1 minute", nil},
	{"purge-interval", "negative", "-1m", nil},
	{"purge-interval", "zero", "0", nil},
	{"purge-interval", "overflow", "99999999999999999999ns", nil},
	{"cors-max-age", "good", "1m", time.Minute},
	{"cors-max-age", "unit", "1w", nil},
	{"cors-max-age", "negative", "-1s", nil},
	{"cors-max-age", "zero", "0s", nil},
	{"cors-max-age", "overflow", "3000000h", nil},
	{"db-timeout", "good", "2s", 2 * time.Second},
	{"db-timeout", "good fraction", "1.5s", 1500 * time.Millisecond},
	{"db-timeout", "most", "30s", 30 * time.Second},
	{"db-timeout", "above most", "31s", nil},
	{"db-timeout", "unit", "3sec", nil},
	{"db-timeout", "no unit", "3", nil},
	{"db-timeout", "negative", "-3s", nil},
	{"db-timeout", "zero", "0s", nil},
	{"db-timeout", "overflow", "9999999999h", nil},
	{"lookup-max-stale", "good", "30s", 30 * time.Second},
	{"lookup-max-stale", "most", "1h", time.Hour},
	{"lookup-max-stale", "above most", "61m", nil},
	{"lookup-max-stale", "unit", "10 seconds", nil},
	{"lookup-max-stale", "negative", "-10s", nil},
	{"lookup-max-stale", "zero", "0", nil},
	{"lookup-max-stale", "overflow", "99999999999999999999ns", nil},
	{"lookup-max-stale", "trailing", "10s later", nil},

	{"body-limit", "good", "1048576", int64(1 << 20)},
	{"body-limit", "good binary unit", "2MiB", int64(2 << 20)},
	{"body-limit", "good decimal unit", "1MB", int64(1_000_000)},
	{"body-limit", "good lower case", "64kib", int64(64 << 10)},
	{"body-limit", "unit", "1MiBs", nil},
	{"body-limit", "not a size unit", "1h", nil},
	{"body-limit", "negative", "-1", nil},
	{"body-limit", "zero", "0", nil},
	{"body-limit", "zero with unit", "0MiB", nil},
	{"body-limit", "overflow", "9999999999GiB", nil},
	{"body-limit", "overflow of uint64", "99999999999999999999999", nil},
	{"body-limit", "blank", " 1MiB", nil},
	{"list-cache-size", "good", "16MiB", int64(16 << 20)},
	{"list-cache-size", "unit", "16 megabytes", nil},
	{"list-cache-size", "negative", "-16MiB", nil},
	{"list-cache-size", "zero", "0", nil},
	{"list-cache-size", "overflow", "16EiB", nil},
	{"memory-limit", "good", "1GiB", int64(1 << 30)},
	{"memory-limit", "good decimal", "200MB", int64(200_000_000)},
	{"memory-limit", "unit", "200MiB/s", nil},
	{"memory-limit", "negative", "-200MiB", nil},
	{"memory-limit", "zero", "0GiB", nil},
	{"memory-limit", "overflow", "9223372036854775808", nil},
	{"memory-limit", "large", "4EiB", int64(1 << 62)},

	{"db-max-conns", "good", "40", 40},
	{"db-max-conns", "unit", "40k", nil},
	{"db-max-conns", "fraction", "2.5", nil},
	{"db-max-conns", "negative", "-1", nil},
	{"db-max-conns", "zero", "0", nil},
	{"db-max-conns", "overflow", "4294967297", nil},
	{"db-max-conns", "above most", "10001", nil},
	{"db-max-conns", "most", "10000", 10_000},
	{"cache-size", "good", "100000", 100_000},
	{"cache-size", "unit", "50k", nil},
	{"cache-size", "negative", "-50000", nil},
	{"cache-size", "zero", "0", nil},
	{"cache-size", "overflow", "99999999999999999999", nil},
	{"cache-size", "digits then text", "50000 entries", nil},
	{"rate-limit", "good", "12.5", 12.5},
	{"rate-limit", "zero: no limit", "0", 0.0},
	{"rate-limit", "unit", "50/s", nil},
	{"rate-limit", "negative", "-1", nil},
	{"rate-limit", "zero", "-0.0001", nil},
	{"rate-limit", "overflow", "1e400", nil},
	{"rate-limit", "above most", "1000000001", nil},
	{"rate-limit", "most", "1e9", 1e9},
	{"rate-limit", "not a number", "NaN", nil},
	{"rate-limit", "infinite", "Inf", nil},
	{"anonymous-registration-rate", "good", "2", 2.0},
	{"anonymous-registration-rate", "zero: no limit", "0", 0.0},
	{"anonymous-registration-rate", "unit", "1/s", nil},
	{"anonymous-registration-rate", "negative", "-1", nil},
	{"anonymous-registration-rate", "zero", "-0.5", nil},
	{"anonymous-registration-rate", "overflow", "1e400", nil},
	{"anonymous-registration-rate", "not a number", "NaN", nil},
	{"anonymous-registration-rate-per-address", "good", "0.05", 0.05},
	{"anonymous-registration-rate-per-address", "zero: no limit", "0", 0.0},
	{"anonymous-registration-rate-per-address", "unit", "0.1rps", nil},
	{"anonymous-registration-rate-per-address", "negative", "-0.1", nil},
	{"anonymous-registration-rate-per-address", "zero", "-0", 0.0},
	{"anonymous-registration-rate-per-address", "overflow", "2e9", nil},

	{"log-level", "good", "warn", slog.LevelWarn},
	{"log-level", "bad", "verbose", nil},
	{"addr", "good", "127.0.0.1:0", "127.0.0.1:0"},
	{"addr", "good any host", ":8080", ":8080"},
	{"addr", "bad", "8080", nil},
	{"addr", "empty", "", nil},
	{"addr", "port overflow", "127.0.0.1:65536", nil},
	{"debug-addr", "good", "127.0.0.1:6060", "127.0.0.1:6060"},
	{"debug-addr", "empty: none", "", ""},
	{"debug-addr", "bad", "localhost", nil},
	{"database-url", "good", "postgres://postgres@127.0.0.1:5432/appreg", "postgres://postgres@127.0.0.1:5432/appreg"},
	{"database-url", "good sqlite", "sqlite:/tmp/x.db", "sqlite:/tmp/x.db"},
	{"database-url", "empty: SQLite in the data dir", "", ""},
	{"database-url", "bad", "mysql://root@db/appreg", nil},
	{"jwks-url", "good", "https://issuer.example.com/jwks", "https://issuer.example.com/jwks"},
	{"jwks-url", "bad", "issuer.example.com/jwks", nil},
	{"smtp-url", "good", "smtp://127.0.0.1:25", "smtp://127.0.0.1:25"},
	{"smtp-url", "bad", "mail.example.com:25", nil},
	{"smtp-url", "no host", "smtp://:25", nil},
	{"smtp-from", "good", "appreg@example.com", "appreg@example.com"},
	{"smtp-from", "bad", "appreg", nil},
}

// TestEverySettingIsReadWhole reads each value as a flag and as its
// environment variable: a good one gives its value, any other is refused
// with an error that names the flag, the variable, the value and the form.
func TestEverySettingIsReadWhole(t *testing.T) {
	for _, tc := range settingCases {
		env := settingEnv(t, tc.flag)
		for _, from := range []string{"flag", "env"} {
			t.Run(tc.flag+"/"+tc.name+"/"+from, func(t *testing.T) {
				fs := flag.NewFlagSet("test", flag.ContinueOnError)
				fs.SetOutput(io.Discard)
				var args []string
				if from == "env" {
					t.Setenv(env, tc.value)
				} else {
					args = []string{"--" + tc.flag + "=" + tc.value}
				}
				cfg := bind(fs, serveFlags...)
				err := cfg.parse(args)
				if tc.want == nil {
					if err == nil {
						t.Fatalf("%q accepted as %v", tc.value, cfg.parsed[tc.flag])
					}
					for _, part := range []string{"--" + tc.flag, env, strconv.Quote(tc.value), kinds[tc.flag].want} {
						if !strings.Contains(err.Error(), part) {
							t.Errorf("error %q does not say %s", err, part)
						}
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := typed(cfg, tc.flag); got != tc.want {
					t.Errorf("%q read as %#v, want %#v", tc.value, got, tc.want)
				}
			})
		}
	}
}

// TestEverySettingHasItsCases keeps settingCases whole: every setting of a
// kind has a good and a refused value, and each numeric one a unit it does
// not take, a negative, zero and an overflow. The defaults all parse.
func TestEverySettingHasItsCases(t *testing.T) {
	names := map[string]map[string]bool{}
	for _, tc := range settingCases {
		if names[tc.flag] == nil {
			names[tc.flag] = map[string]bool{}
		}
		names[tc.flag][tc.name] = true
	}
	for flag := range kinds {
		settingEnv(t, flag)
		want := []string{"good"}
		if numeric[flag] {
			want = append(want, "unit", "negative", "zero", "overflow")
		}
		for _, name := range want {
			if !names[flag][name] {
				t.Errorf("--%s has no %q case", flag, name)
			}
		}
		if !numeric[flag] && !names[flag]["bad"] {
			t.Errorf("--%s has no \"bad\" case", flag)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	if err := bind(fs, serveFlags...).parse(nil); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}

// TestEveryBadValueIsNamed: each refused value is in the one error, so a
// start refused for one setting does not hide the next.
func TestEveryBadValueIsNamed(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--body-limit", "1MBs", "--rate-limit", "fast", "--smtp-url", "smtp://appreg:hunter2@"}, &out, &out)
	if err == nil {
		t.Fatal("serve started")
	}
	for _, part := range []string{"--body-limit (env APPREG_BODY_LIMIT)", "--rate-limit (env APPREG_RATE_LIMIT)", "--smtp-url (env APPREG_SMTP_URL)"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %s", err, part)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the SMTP password", err)
	}
}

func settingEnv(t *testing.T, flag string) string {
	t.Helper()
	for _, s := range settings {
		if s.flag == flag {
			return s.env
		}
	}
	t.Fatalf("no setting --%s", flag)
	return ""
}

// typed is the value of name as serve reads it.
func typed(cfg *config, name string) any {
	switch v := cfg.parsed[name].(type) {
	case int:
		return cfg.count(name)
	case int64:
		return cfg.size(name)
	case time.Duration:
		return cfg.duration(name)
	case float64:
		return cfg.rate(name)
	case slog.Level:
		return cfg.level(name)
	default:
		return v
	}
}

// TestRegistrationRateZeroIsNoLimit: the flags' 0 turns a registration limit off, which
// server.Config says with a negative rate (its zero is the default).
func TestRegistrationRateZeroIsNoLimit(t *testing.T) {
	for _, tc := range []struct{ flag, want float64 }{{0, -1}, {0.1, 0.1}, {2, 2}} {
		if got := registrationRate(tc.flag); got != tc.want {
			t.Errorf("registrationRate(%v) = %v, want %v", tc.flag, got, tc.want)
		}
	}
}
