package ckansim

import "testing"

// TestPackageCreatePatchResourceDelete: an editor creates a dataset in their
// organization (not in another, not twice), package_patch changes only the
// fields sent, resource_delete removes one resource, and the call log names
// the dataset of each call.
func TestPackageCreatePatchResourceDelete(t *testing.T) {
	e := newSim(t)
	tok := e.w.Editor.Token
	st, _ := e.post(t, "package_create", tok, map[string]any{"name": "new-ds", "owner_org": "other-org"})
	if st != 403 {
		t.Errorf("create in another organization: %d", st)
	}
	st, env := e.post(t, "package_create", tok, map[string]any{"name": "new-ds", "owner_org": "acceptance-org",
		"title": "New", "notes": "n", "license_id": "CC-BY-4.0", "tags": []any{map[string]any{"name": "air"}}})
	if st != 200 {
		t.Fatalf("create: %d %v", st, env)
	}
	if st, _ := e.post(t, "package_create", tok, map[string]any{"name": "new-ds", "owner_org": "acceptance-org"}); st != 409 {
		t.Errorf("second create: %d", st)
	}
	if st, _ := e.post(t, "package_patch", tok, map[string]any{"id": "new-ds", "title": "Newer"}); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	_, env = e.post(t, "package_show", tok, map[string]any{"id": "new-ds"})
	d := env["result"].(map[string]any)
	if d["title"] != "Newer" || d["notes"] != "n" || d["license_id"] != "CC-BY-4.0" || d["num_tags"] != 1.0 {
		t.Errorf("after patch: %v", d)
	}
	_, env = e.post(t, "resource_create", tok, map[string]any{"package_id": "new-ds", "name": "a", "url": "http://x/a"})
	id := env["result"].(map[string]any)["id"].(string)
	e.post(t, "resource_create", tok, map[string]any{"package_id": "new-ds", "name": "b", "url": "http://x/b"})
	if st, _ := e.post(t, "resource_delete", e.w.Member.Token, map[string]any{"id": id}); st != 403 {
		t.Errorf("delete by a member: %d", st)
	}
	if st, _ := e.post(t, "resource_delete", tok, map[string]any{"id": id}); st != 200 {
		t.Errorf("delete: %d", st)
	}
	if rs := e.s.Resources("new-ds"); len(rs) != 1 || rs[0]["name"] != "b" || rs[0]["position"] != 0 {
		t.Errorf("resources after delete: %v", rs)
	}
	for _, c := range e.s.Calls() {
		if c.Action != "package_create" && c.Dataset != "new-ds" {
			t.Errorf("%s: dataset %q", c.Action, c.Dataset)
		}
	}
}

// TestCallLogNamesRevisedDataset: package_revise names its dataset in match.
func TestCallLogNamesRevisedDataset(t *testing.T) {
	e := newSim(t)
	e.post(t, "package_revise", e.w.Editor.Token, map[string]any{"match": map[string]any{"name": "acceptance-dataset"},
		"update__resources__extend": []any{map[string]any{"name": "x", "url": "http://x/x"}}})
	calls := e.s.Calls()
	if c := calls[len(calls)-1]; c.Action != "package_revise" || c.Dataset != "acceptance-dataset" {
		t.Errorf("call %+v", c)
	}
}
