package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// freeAddr is a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs the binary and waits until it answers.
func startServe(t *testing.T, bin string, env []string, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "APPREG_ADDR="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("appreg serve did not come up")
	return nil
}

// TestSIGKILLUnderCreateLoadLosesNothing kills the service with SIGKILL in
// the middle of a create load; after a restart every application it answered
// 201 for exists, whole (its secret, its origins).
func TestSIGKILLUnderCreateLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	found := false
	for _, d := range storetest.Dialects(t) {
		found = found || d == store.DialectPostgres
	}
	if !found {
		t.Skip("PostgreSQL not reachable: skipping")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "appreg")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dbURL := storetest.PostgresURL(t)
	env := []string{"APPREG_DATABASE_URL=" + dbURL, "APPREG_DATA_DIR=" + filepath.Join(dir, "data"),
		"APPREG_RATE_LIMIT=0", "APPREG_LOG_LEVEL=error"}
	addr := freeAddr(t)
	cmd := startServe(t, bin, env, addr)
	tok, err := exec.Command(bin, "token", "--data-dir", filepath.Join(dir, "data"), "--tenant", "acme").Output()
	if err != nil {
		t.Fatal(err)
	}
	token := string(bytes.TrimSpace(tok))

	var mu sync.Mutex
	var created []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"name":"k%d-%d","contacts":["a@example.com"],"type":"confidential","redirects":["https://a.example.com/cb"],"origins":["https://o%d.example.com"]}`, w, i, i)
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/applications", bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					continue // the process is gone: no answer, no promise
				}
				var app struct{ ID string }
				if resp.StatusCode == http.StatusCreated && json.NewDecoder(resp.Body).Decode(&app) == nil {
					mu.Lock()
					created = append(created, app.ID)
					mu.Unlock()
				}
				resp.Body.Close()
			}
		}(w)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(created) == 0 {
		t.Fatal("no application was created before the kill")
	}

	cmd = startServe(t, bin, env, addr)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range created {
		app, err := st.GetApplication(context.Background(), "acme", id, time.Now())
		if err != nil {
			t.Fatalf("application %s answered 201 before the kill is gone: %v", id, err)
		}
		secrets, err := st.ListSecrets(context.Background(), id)
		if err != nil || len(secrets) != 1 || len(app.Origins) != 1 {
			t.Fatalf("application %s is half-written: %d secrets, origins %v, %v", id, len(secrets), app.Origins, err)
		}
	}
	t.Logf("%d applications answered 201 before SIGKILL, all present and whole after restart", len(created))
}

// TestHeaderLimit: a request with a 100 KiB header is refused by the server
// appreg serve configures (431), never a 5xx.
func TestHeaderLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "appreg")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := startServe(t, bin, []string{"APPREG_DATA_DIR=" + filepath.Join(dir, "data"), "APPREG_LOG_LEVEL=error"}, addr)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/applications", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 100 KiB header: %d, want 431", resp.StatusCode)
	}
}
