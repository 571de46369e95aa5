package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cxone/appreg/gen"
)

func ptr[T any](v T) *T { return &v }

// confidentialBody is a valid create body for a confidential application.
func confidentialBody() gen.CreateApplicationJSONRequestBody {
	return gen.CreateApplicationJSONRequestBody{
		Name:      "Agent desktop",
		Contacts:  []string{"it-admins@example.com"},
		Type:      gen.Confidential,
		Redirects: ptr([]string{"https://desktop.example.com/callback"}),
		Origins:   ptr([]string{"https://Desktop.Example.com:443"}),
	}
}

func TestLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")

		created, err := c.CreateApplicationWithResponse(ctx, nil, confidentialBody())
		if err != nil {
			t.Fatal(err)
		}
		if created.StatusCode() != http.StatusCreated {
			t.Fatalf("create: %d %s", created.StatusCode(), created.Body)
		}
		app := created.JSON201
		if app.Secret == nil || len(*app.Secret) < 43 {
			t.Fatalf("create: want a 256-bit secret, got %v", app.Secret)
		}
		if app.Tenancy != gen.Single || app.EffectiveTenancy != gen.Single || app.TenancyApproval != nil {
			t.Errorf("tenancy: got %s/%s/%v, want single/single/absent", app.Tenancy, app.EffectiveTenancy, app.TenancyApproval)
		}
		if app.AuthMethod == nil || *app.AuthMethod != gen.ClientSecretBasic {
			t.Errorf("authMethod: got %v, want client_secret_basic", app.AuthMethod)
		}
		if got := app.Origins; len(got) != 1 || got[0] != "https://desktop.example.com" {
			t.Errorf("origins: got %v, want normalised https://desktop.example.com", got)
		}
		if !app.IsEnabled || app.IsLocked || app.CreatedBy != "user@acme" || app.TenantID != "acme" {
			t.Errorf("unexpected state: %+v", app)
		}
		id := app.ID

		view, err := c.ViewApplicationWithResponse(ctx, id)
		if err != nil || view.StatusCode() != http.StatusOK {
			t.Fatalf("view: %v %d %s", err, view.StatusCode(), view.Body)
		}
		if string(view.Body) == "" || view.JSON200.ID != id {
			t.Fatalf("view: %s", view.Body)
		}
		if containsSecret(view.Body, *app.Secret) {
			t.Fatal("view answered the secret")
		}

		// Suffix form and alias form both work.
		for _, path := range []string{"/applications/" + id + "-disable", "/applications/" + id + "/disable"} {
			resp, body := e.do(http.MethodPost, path, e.token("acme", "user@acme"), "", nil)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
			}
		}
		view, _ = c.ViewApplicationWithResponse(ctx, id)
		if view.JSON200.IsEnabled {
			t.Fatal("still enabled after -disable")
		}
		en, err := c.EnableApplicationWithResponse(ctx, id, nil)
		if err != nil || en.StatusCode() != http.StatusNoContent {
			t.Fatalf("enable: %v %d %s", err, en.StatusCode(), en.Body)
		}

		// Delete: disabled, locked, scheduled; PATCH and disable refuse.
		del, err := c.DeleteApplicationWithResponse(ctx, id, nil)
		if err != nil || del.StatusCode() != http.StatusOK {
			t.Fatalf("delete: %v %d %s", err, del.StatusCode(), del.Body)
		}
		d := del.JSON200
		if d.IsEnabled || !d.IsLocked || d.ScheduledDeletionTime == nil || !d.ScheduledDeletionTime.Equal(e.Clock.Now().Add(e.Grace)) {
			t.Fatalf("delete: got %+v", d)
		}
		patch, _ := c.PatchApplicationWithResponse(ctx, id, nil, gen.PatchApplicationJSONRequestBody{Name: ptr("x")})
		if patch.StatusCode() != http.StatusConflict || patch.JSON409.Error != "application_locked" {
			t.Fatalf("patch on locked: %d %s", patch.StatusCode(), patch.Body)
		}
		dis, _ := c.DisableApplicationWithResponse(ctx, id, nil)
		if dis.StatusCode() != http.StatusConflict {
			t.Fatalf("disable on locked: %d %s", dis.StatusCode(), dis.Body)
		}

		// Cancel, then delete again and let the purger take it.
		en, _ = c.EnableApplicationWithResponse(ctx, id, nil)
		if en.StatusCode() != http.StatusNoContent {
			t.Fatalf("cancel: %d %s", en.StatusCode(), en.Body)
		}
		view, _ = c.ViewApplicationWithResponse(ctx, id)
		if !view.JSON200.IsEnabled || view.JSON200.IsLocked || view.JSON200.ScheduledDeletionTime != nil {
			t.Fatalf("after cancel: %+v", view.JSON200)
		}
		if del, _ = c.DeleteApplicationWithResponse(ctx, id, nil); del.StatusCode() != http.StatusOK {
			t.Fatalf("delete again: %d", del.StatusCode())
		}
		e.Clock.Advance(e.Grace)
		view, _ = c.ViewApplicationWithResponse(ctx, id)
		if view.StatusCode() != http.StatusNotFound {
			t.Fatalf("after the scheduled time, view: %d, want 404", view.StatusCode())
		}
		en, _ = c.EnableApplicationWithResponse(ctx, id, nil)
		if en.StatusCode() != http.StatusNotFound {
			t.Fatalf("after the scheduled time, enable: %d, want 404", en.StatusCode())
		}
	})
}

func containsSecret(body []byte, secret string) bool {
	return secret != "" && len(body) > 0 && strings.Contains(string(body), secret)
}
