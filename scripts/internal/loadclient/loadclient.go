// Package loadclient is what the load scripts (scripts/mixedload, scripts/registerload) share:
// development tokens from the appreg binary, and JSON calls.
package loadclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
)

// Token is a development token of appreg for tenant with roles, from `appreg token`.
func Token(bin, dataDir, tenant string, roles ...string) (string, error) {
	args := []string{"token", "--data-dir", dataDir, "--tenant", tenant}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "", fmt.Errorf("appreg token: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Call sends method base+path with the bearer token tok (none when "") and body as JSON
// (none when nil), and returns the status, the answer decoded as a JSON object (nil when it
// is not one) and the answer's header; err is a transport error.
func Call(c *http.Client, base, method, path, tok string, body any) (status int, out map[string]any, h http.Header, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header, nil
}
