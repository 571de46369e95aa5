// Command mixedload drives every operation of a running appreg, from
// several tenants at once, for a bounded time, and reports what it did and
// any 5xx. It exits non-zero when an answer is a 5xx.
//
//	go run ./scripts/mixedload -url http://127.0.0.1:18080 -data-dir DIR -appreg bin/appreg -duration 60s
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18080", "appreg to drive")
	dataDir := flag.String("data-dir", "./data", "appreg's data dir, for development tokens")
	bin := flag.String("appreg", "bin/appreg", "the appreg binary, for `appreg token`")
	duration := flag.Duration("duration", 60*time.Second, "how long")
	workers := flag.Int("workers", 16, "concurrent clients")
	tenants := flag.Int("tenants", 8, "tenants")
	flag.Parse()

	token := func(tenant string, roles ...string) string {
		args := []string{"token", "--data-dir", *dataDir, "--tenant", tenant}
		for _, r := range roles {
			args = append(args, "--role", r)
		}
		out, err := exec.Command(*bin, args...).Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "mixedload: token:", err)
			os.Exit(2)
		}
		return strings.TrimSpace(string(out))
	}
	tokens := make([]string, *tenants)
	for i := range tokens {
		tokens[i] = token(fmt.Sprintf("mixed-%d", i))
	}
	lookupTok := token("platform", "appreg.lookup")

	var mu sync.Mutex
	counts := map[string]map[int]int{}
	fivexx := 0
	record := func(op string, status int) {
		mu.Lock()
		defer mu.Unlock()
		if counts[op] == nil {
			counts[op] = map[int]int{}
		}
		counts[op][status]++
		if status >= 500 {
			fivexx++
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(op, method, path, tok string, body any) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, *base+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			record(op+" (transport error)", 0)
			return 0, nil
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		record(op, resp.StatusCode)
		return resp.StatusCode, out
	}

	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			tenant := w % *tenants
			tok := tokens[tenant]
			var mine []string
			secrets := map[string]string{}
			for time.Now().Before(deadline) {
				if len(mine) == 0 || r.IntN(10) == 0 {
					st, a := call("create", "POST", "/applications", tok, map[string]any{
						"name": fmt.Sprintf("mixed %d", r.Int()), "contacts": []string{"ops@example.com"},
						"type": "confidential", "redirects": []string{"https://mixed.example.com/cb"},
						"origins": []string{fmt.Sprintf("https://m%d.example.com", tenant)}})
					if st == 201 {
						id := a["id"].(string)
						mine = append(mine, id)
						secrets[id], _ = a["secret"].(string)
					}
					continue
				}
				id := mine[r.IntN(len(mine))]
				switch r.IntN(12) {
				case 0, 1:
					call("view", "GET", "/applications/"+id, tok, nil)
				case 2:
					call("list", "GET", "/applications?limit=20", tok, nil)
				case 3:
					call("patch", "PATCH", "/applications/"+id, tok, map[string]any{"description": fmt.Sprint(r.Int())})
				case 4:
					call("disable", "POST", "/applications/"+id+"-disable", tok, nil)
				case 5:
					call("enable", "POST", "/applications/"+id+"-enable", tok, nil)
				case 6:
					if st, a := call("rotate", "POST", "/applications/"+id+"/secrets", tok, map[string]any{"previousSecretExpiresIn": 0}); st == 201 {
						secrets[id], _ = a["secret"].(string)
					}
				case 7:
					call("events", "GET", "/applications/"+id+"/events?limit=10", tok, nil)
				case 8:
					call("lookup", "GET", fmt.Sprintf("/internal/clients/%s?tenantId=mixed-%d", id, tenant), lookupTok, nil)
				case 9:
					call("verify", "POST", "/internal/clients/"+id+"/verify", lookupTok, map[string]any{"secret": secrets[id], "tenantId": fmt.Sprintf("mixed-%d", tenant)})
				case 10:
					call("cors", "GET", fmt.Sprintf("/internal/cors?origin=https%%3A%%2F%%2Fm%d.example.com&tenantId=mixed-%d", tenant, tenant), lookupTok, nil)
				case 11:
					if r.IntN(4) == 0 {
						call("delete", "DELETE", "/applications/"+id, tok, nil)
						call("cancel", "POST", "/applications/"+id+"-enable", tok, nil)
					}
				}
			}
		}(w)
	}
	wg.Wait()

	ops := make([]string, 0, len(counts))
	total := 0
	for op, byStatus := range counts {
		ops = append(ops, op)
		for _, n := range byStatus {
			total += n
		}
	}
	sort.Strings(ops)
	fmt.Printf("| operation | requests | answers by status |\n|---|---:|---|\n")
	for _, op := range ops {
		n, parts := 0, []string{}
		for st, c := range counts[op] {
			n += c
			parts = append(parts, fmt.Sprintf("%d×%d", c, st))
		}
		sort.Strings(parts)
		fmt.Printf("| %s | %d | %s |\n", op, n, strings.Join(parts, ", "))
	}
	fmt.Printf("\nmixed load: %d requests in %s from %d clients in %d tenants (%.0f/s), %d answered 5xx\n",
		total, *duration, *workers, *tenants, float64(total)/duration.Seconds(), fivexx)
	if fivexx > 0 {
		os.Exit(1)
	}
}
