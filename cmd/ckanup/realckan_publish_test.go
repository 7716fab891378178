package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/ckantest"
)

// rawDataset reads package_show's dict as the site answers it.
func rawDataset(t *testing.T, site, id string) map[string]any {
	t.Helper()
	resp, err := http.Get(site + "/api/3/action/package_show?id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Result map[string]any `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env.Result
}

// TestSitePublish: publish into an existing dataset, on the simulator and on
// a real CKAN: the title, license and tags the descriptor sets are patched,
// the notes it does not mention stay; a local file (format "csv", which CKAN
// writes as "CSV") and a link are registered; a second run leaves the
// dataset's metadata_modified as it was and sends no bytes.
func TestSitePublish(t *testing.T) {
	ckantest.Each(t, func(t *testing.T, site *ckantest.Site) {
		s := newSiteEnv(t, site)
		dir := t.TempDir()
		f := makeFile(t, dir, "data/readings.csv", 2500)
		writeDescriptor(t, dir, map[string]any{
			"name": s.d.Name, "title": "Published by ckanup", "licenses": []any{map[string]any{"name": "odc-by"}},
			"keywords": []any{"air", "pm10"},
			"resources": []any{
				map[string]any{"name": "readings", "path": "data/readings.csv", "format": "csv", "description": "Readings"},
				map[string]any{"name": "method", "path": "https://example.org/method.pdf", "format": "pdf"},
			},
		})
		r := s.publish(dir, "-v")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		d := rawDataset(t, site.URL, s.d.ID)
		var tags []string
		for _, tg := range d["tags"].([]any) {
			tags = append(tags, tg.(map[string]any)["name"].(string))
		}
		slices.Sort(tags)
		if d["title"] != "Published by ckanup" || d["license_id"] != "odc-by" || !slices.Equal(tags, []string{"air", "pm10"}) ||
			!strings.HasPrefix(d["notes"].(string), "Made by a ckanup test") {
			t.Errorf("dataset: title %v license %v tags %v notes %v", d["title"], d["license_id"], tags, d["notes"])
		}
		names := map[string]map[string]any{}
		for _, res := range d["resources"].([]any) {
			m := res.(map[string]any)
			names[m["name"].(string)] = m
		}
		if rd := names["readings"]; rd == nil || rd["hash"] != "sha256:"+fileSHA256(t, f) || rd["description"] != "Readings" {
			t.Errorf("readings: %v", rd)
		}
		if m := names["method"]; m == nil || m["url"] != "https://example.org/method.pdf" {
			t.Errorf("method: %v", m)
		}

		modified := d["metadata_modified"]
		s.resetCounts()
		r = s.publish(dir, "-v")
		if r.code != 0 || strings.Contains(r.stdout, "updated") || strings.Contains(r.stdout, "created") {
			t.Errorf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if got := rawDataset(t, site.URL, s.d.ID)["metadata_modified"]; got != modified {
			t.Errorf("second run changed the dataset: metadata_modified %v → %v\n%s", modified, got, r.stdout)
		}
		if n := s.s3Writes(); n != 0 {
			t.Errorf("second run: %d S3 writes", n)
		}

		// A dataset that does not exist yet is created in --org.
		name := s.d.Name + "-new"
		t.Cleanup(func() {
			_ = s.client.PackageDelete(context.Background(), name)
			if site.AdminToken != "" {
				admin := ckantest.ClientFor(t, site.URL, site.AdminToken)
				_ = admin.PackageDelete(context.Background(), name)
				req, _ := http.NewRequest(http.MethodPost, site.URL+"/api/3/action/dataset_purge", strings.NewReader(`{"id": "`+name+`"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", site.AdminToken)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
		other := t.TempDir()
		writeDescriptor(t, other, map[string]any{"name": name, "description": "New from a descriptor",
			"resources": []any{map[string]any{"path": "https://example.org/a.csv"}}})
		if r := s.publish(other, "--org", ckantest.Org); r.code != 0 || !strings.Contains(r.stdout, "created  dataset "+name) {
			t.Fatalf("create: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if d := rawDataset(t, site.URL, name); d["notes"] != "New from a descriptor" || len(d["resources"].([]any)) != 1 {
			t.Errorf("created dataset: %v", d)
		}
	})
}
