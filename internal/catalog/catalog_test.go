package catalog

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/datapackage"
	"github.com/ckanup/ckanup/internal/publish"
)

// fakeCKAN holds one dataset and records the write calls.
type fakeCKAN struct {
	d     *ckan.Dataset
	calls []string
}

func (f *fakeCKAN) SiteURL() string { return "https://ckan.example.org" }
func (f *fakeCKAN) PackageShow(_ context.Context, id string) (*ckan.Dataset, error) {
	if f.d == nil || f.d.Name != id {
		return nil, &ckan.APIError{Status: 404, Type: ckan.TypeNotFound}
	}
	return f.d, nil
}
func (f *fakeCKAN) PackageCreate(_ context.Context, fields map[string]any) (*ckan.Dataset, error) {
	f.calls = append(f.calls, "package_create "+keys(fields))
	f.d = &ckan.Dataset{ID: "new-id", Name: fields["name"].(string)}
	return f.d, nil
}
func (f *fakeCKAN) PackagePatch(_ context.Context, fields map[string]any) (*ckan.Dataset, error) {
	f.calls = append(f.calls, "package_patch "+keys(fields))
	return f.d, nil
}
func (f *fakeCKAN) ResourceCreate(_ context.Context, fields map[string]any) (*ckan.Resource, error) {
	f.calls = append(f.calls, "resource_create "+keys(fields))
	return &ckan.Resource{}, nil
}
func (f *fakeCKAN) ResourcePatch(_ context.Context, fields map[string]any) (*ckan.Resource, error) {
	f.calls = append(f.calls, "resource_patch "+keys(fields))
	return &ckan.Resource{}, nil
}
func (f *fakeCKAN) ResourceShow(_ context.Context, id string) (*ckan.Resource, error) {
	f.calls = append(f.calls, "resource_show "+id)
	return nil, &ckan.APIError{Status: 404, Type: ckan.TypeNotFound, Message: "Not found"}
}
func (f *fakeCKAN) ResourceDelete(_ context.Context, id string) error {
	f.calls = append(f.calls, "resource_delete "+id)
	return nil
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func pkg(t *testing.T, descriptor string, files map[string]string) *datapackage.Package {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := datapackage.Parse(filepath.Join(dir, "datapackage.json"), []byte(descriptor))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func size(n int64) *int64 { return &n }

// TestPlanComparesOnlyFieldsTheDescriptorSets: metadata the descriptor does not
// mention is not compared; tags compare as sets; a format differing only in
// case (CKAN's clean_format) is no change; a file with the resource's size and
// sha256 is skipped; an unlisted resource is kept, or deleted with Prune.
func TestPlanComparesOnlyFieldsTheDescriptorSets(t *testing.T) {
	p := pkg(t, `{"name": "ds", "title": "T", "keywords": ["b", "a"],
		"resources": [{"name": "f", "path": "f.csv", "format": "csv"}, {"name": "l", "path": "https://x.org/l", "description": "new"}]}`,
		map[string]string{"f.csv": "hello"})
	f := &fakeCKAN{d: &ckan.Dataset{ID: "id", Name: "ds", Title: "T", Notes: "keep me", LicenseID: "odc-by", Tags: []string{"a", "b"},
		Resources: []ckan.Resource{
			{ID: "r1", Name: "f", Format: "CSV", Mimetype: "text/csv", Size: size(5), Hash: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
			{ID: "r2", Name: "l", URL: "https://x.org/l", Description: "old"},
			{ID: "r3", Name: "gone", URL: "https://x.org/gone"},
		}}}
	plan, err := PlanDataset(context.Background(), f, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := plan.Resources[0]; !r.Content || r.sha256 != "" {
		t.Errorf("without HashFiles the flow decides: %+v", r)
	}
	plan, err = PlanDataset(context.Background(), f, p, Options{HashFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Action != Unchanged || len(plan.Changes) != 0 {
		t.Errorf("dataset: %s %v", plan.Action, plan.Changes)
	}
	if r := plan.Resources[0]; r.Action != Skip || r.Content {
		t.Errorf("file: %s %v", r.Action, r.Changes)
	}
	if r := plan.Resources[1]; r.Action != Update || len(r.Changes) != 1 || r.Changes[0].Field != "description" || r.Changes[0].Old != "old" {
		t.Errorf("link: %s %v", r.Action, r.Changes)
	}
	if len(plan.Unlisted) != 1 || plan.Unlisted[0].Action != Keep {
		t.Errorf("unlisted: %+v", plan.Unlisted)
	}
	if _, err := Apply(context.Background(), f, plan, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"resource_patch description,id"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %v, want %v", f.calls, want)
	}

	f.calls = nil
	plan, _ = PlanDataset(context.Background(), f, p, Options{Prune: true, HashFiles: true})
	if plan.Unlisted[0].Action != Delete {
		t.Errorf("with prune: %+v", plan.Unlisted[0])
	}
	if _, err := Apply(context.Background(), f, plan, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.calls, "resource_delete r3") {
		t.Errorf("calls %v", f.calls)
	}
}

// TestPlanCreateAndUpdate: a missing dataset needs an organization and is
// created with every field the descriptor sets; a changed title and tags are
// patched alone, old → new.
func TestPlanCreateAndUpdate(t *testing.T) {
	p := pkg(t, `{"name": "ds", "title": "New", "description": "D", "licenses": [{"name": "CC0-1.0"}], "keywords": ["x"],
		"resources": [{"path": "https://x.org/a"}]}`, nil)
	f := &fakeCKAN{}
	if _, err := PlanDataset(context.Background(), f, p, Options{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("no org: %v", err)
	}
	plan, err := PlanDataset(context.Background(), f, p, Options{Org: "org"})
	if err != nil || plan.Action != Create || len(plan.Changes) != 4 || plan.Resources[0].Action != Create {
		t.Fatalf("create plan: %+v, %v", plan, err)
	}
	if _, err := Apply(context.Background(), f, plan, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// The new link resource's id is checked free before resource_create.
	id := publish.DerivedResourceID(f.SiteURL(), f.d.ID, plan.Resources[0].Name)
	want := []string{"package_create license_id,name,notes,owner_org,tags,title", "resource_show " + id, "resource_create id,name,package_id,url,url_type"}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls %v, want %v", f.calls, want)
	}

	f.d = &ckan.Dataset{ID: "id", Name: "ds", Title: "Old", Notes: "D", LicenseID: "CC0-1.0", Tags: []string{"y"},
		Resources: []ckan.Resource{{ID: "r", Name: "a", URL: "https://x.org/a"}}}
	f.calls = nil
	plan, err = PlanDataset(context.Background(), f, p, Options{})
	if err != nil || plan.Action != Update || len(plan.Changes) != 2 {
		t.Fatalf("update plan: %+v, %v", plan, err)
	}
	if c := plan.Changes[0]; c.Field != "title" || c.Old != "Old" || c.New != "New" {
		t.Errorf("title change %+v", c)
	}
	if c := plan.Changes[1]; c.Field != "tags" || !slices.Equal(c.Old.([]string), []string{"y"}) {
		t.Errorf("tags change %+v", c)
	}
	if _, err := Apply(context.Background(), f, plan, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"package_patch id,tags,title"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %v, want %v", f.calls, want)
	}
}
