package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/catalog"
)

// writeDescriptor writes dir/datapackage.json from a Go value.
func writeDescriptor(t *testing.T, dir string, d map[string]any) string {
	t.Helper()
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "datapackage.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCalls counts the calls that change CKAN.
func (e *testEnv) writeCalls() int {
	n := 0
	for _, c := range e.ckan.Calls() {
		switch c.Action {
		case "package_create", "package_patch", "package_update", "package_revise", "resource_create", "resource_patch", "resource_update", "resource_delete":
			n++
		}
	}
	return n
}

// s3Writes counts the S3 requests that store or change data.
func (e *testEnv) s3Writes() int {
	return e.counted("PutObject") + e.counted("UploadPart") + e.counted("CreateMultipartUpload") +
		e.counted("CompleteMultipartUpload") + e.counted("AbortMultipartUpload")
}

func (e *testEnv) publish(args ...string) runResult {
	e.t.Helper()
	return e.run(context.Background(), "", append([]string{"publish", "--retries", "3", "--retry-max-time", "20s"}, args...)...)
}

func airQuality(title string, resources ...any) map[string]any {
	return map[string]any{
		"name": "air-quality", "title": title, "description": "Hourly readings",
		"licenses": []any{map[string]any{"name": "CC-BY-4.0"}}, "keywords": []any{"pm10", "air"},
		"x-extra":   "kept",
		"resources": resources,
	}
}

// TestPublishCreatesThenChangesNothing: a data package becomes a dataset in
// --org with its metadata, files (one multipart) and a link; a second run
// sends nothing to CKAN or S3; --plan then shows a changed title, a changed
// file and a resource dropped from the descriptor, changing nothing; --prune
// applies it; --write-back fills bytes and hash.
func TestPublishCreatesThenChangesNothing(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	dir := t.TempDir()
	small := makeFile(t, dir, "data/readings.csv", 3000)
	big := makeFile(t, dir, "data/archive.zip", 11<<20)
	readings := map[string]any{"name": "readings", "path": "data/readings.csv", "description": "Readings", "format": "csv", "mediatype": "text/csv"}
	archive := map[string]any{"name": "archive", "path": "data/archive.zip"}
	stations := map[string]any{"name": "stations", "path": "https://example.org/stations.geojson", "format": "GeoJSON"}
	desc := writeDescriptor(t, dir, airQuality("Air quality", readings, archive, stations))

	r := e.publish(dir, "--org", "acceptance-org", "-o", "json")
	if r.code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, `"type":"dataset","dataset":"air-quality"`) || !strings.Contains(r.stdout, `"status":"created"`) {
		t.Errorf("first run output:\n%s", r.stdout)
	}
	// The last record sums the files up: two uploaded (the link is no file).
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var sum summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" || sum.Created != 2 || sum.Failed != 0 || sum.BytesSent != 3000+11<<20 || sum.Datasets["created"] != 1 || sum.datasets() != 1 {
		t.Errorf("last record %s: %+v %v", lines[len(lines)-1], sum, err)
	}
	show := e.packageShow("air-quality")
	if show["title"] != "Air quality" || show["notes"] != "Hourly readings" || show["license_id"] != "CC-BY-4.0" || show["num_tags"] != 2.0 {
		t.Errorf("dataset: %v", show)
	}
	if got := e.ckan.SortedResourceNames("air-quality"); !slices.Equal(got, []string{"archive", "readings", "stations"}) {
		t.Fatalf("resources %v", got)
	}
	rr := e.checkRegistered("air-quality", "readings", small)
	if rr["description"] != "Readings" || rr["format"] != "csv" || rr["mimetype"] != "text/csv" || !strings.HasSuffix(rr["s3_key"].(string), "/readings.csv") {
		t.Errorf("readings: %v", rr)
	}
	ra := e.checkRegistered("air-quality", "archive", big)
	if ra["format"] != "ZIP" || e.counted("UploadPart") != 3 {
		t.Errorf("archive: %v, %d parts", ra, e.counted("UploadPart"))
	}
	for _, res := range e.ckan.Resources("air-quality") {
		if res["name"] == "stations" && (res["url"] != "https://example.org/stations.geojson" || res["format"] != "GeoJSON") {
			t.Errorf("link: %v", res)
		}
	}

	// Second run: nothing sent.
	writes, s3 := e.writeCalls(), e.s3Writes()
	r = e.publish(dir, "--org", "acceptance-org")
	if r.code != 0 || e.writeCalls() != writes || e.s3Writes() != s3 {
		t.Fatalf("second run: exit %d, %d CKAN writes, %d S3 writes\n%s%s", r.code, e.writeCalls()-writes, e.s3Writes()-s3, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "unchanged dataset air-quality") || strings.Count(r.stdout, "skipped") != 3 {
		t.Errorf("second run output:\n%s", r.stdout)
	}

	// The plan: new title, readings changed, stations dropped.
	if err := os.WriteFile(small, []byte("changed,content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeDescriptor(t, dir, airQuality("Air quality v2", readings, archive))
	r = e.publish(dir, "--plan")
	t.Logf("plan:\n%s", r.stdout)
	if r.code != 0 || e.writeCalls() != writes || e.s3Writes() != s3 {
		t.Fatalf("plan: exit %d, wrote %d/%d\n%s%s", r.code, e.writeCalls()-writes, e.s3Writes()-s3, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"update dataset air-quality", `title: "Air quality" → "Air quality v2"`,
		"update  resource readings", "size: 3000 → 16", "skip    resource archive",
		"keep    resource stations: not in the descriptor (deleted with --prune)",
		"datasets: 0 to create, 1 to update, 0 unchanged; resources: 0 to create, 1 to update, 1 unchanged; not in the descriptors: 0 to delete, 1 kept.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.publish(dir, "--plan", "--prune", "-o", "json")
	var plan catalog.Plan
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || r.code != 0 {
		t.Fatalf("JSON plan: %v, exit %d\n%s", err, r.code, r.stdout)
	}
	if plan.Action != "update" || len(plan.Changes) != 1 || plan.Changes[0].Field != "title" ||
		len(plan.Unlisted) != 1 || plan.Unlisted[0].Action != "delete" || plan.Resources[0].Action != "update" || plan.Resources[1].Action != "skip" {
		t.Errorf("JSON plan: %+v", plan)
	}
	if e.writeCalls() != writes {
		t.Fatal("--plan wrote to CKAN")
	}

	r = e.publish(dir, "--prune", "--write-back")
	t.Logf("prune:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := e.ckan.SortedResourceNames("air-quality"); !slices.Equal(got, []string{"archive", "readings"}) {
		t.Errorf("after prune: %v", got)
	}
	e.checkRegistered("air-quality", "readings", small)
	if e.packageShow("air-quality")["title"] != "Air quality v2" {
		t.Error("title not updated")
	}
	b, _ := os.ReadFile(desc)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	res := back["resources"].([]any)
	if res[0].(map[string]any)["hash"] != "sha256:"+fileSHA256(t, small) || res[0].(map[string]any)["bytes"] != 16.0 ||
		res[1].(map[string]any)["hash"] != "sha256:"+fileSHA256(t, big) || back["x-extra"] != "kept" {
		t.Errorf("written back: %s", b)
	}
	// The written-back descriptor publishes as is: nothing to do.
	writes = e.writeCalls()
	if r := e.publish(dir); r.code != 0 || e.writeCalls() != writes {
		t.Errorf("after write-back: exit %d, %d writes\n%s", r.code, e.writeCalls()-writes, r.stderr)
	}

	// A new description alone: one resource_patch, no bytes sent.
	archive["description"] = "Raw archive"
	writeDescriptor(t, dir, airQuality("Air quality v2", readings, archive))
	s3 = e.s3Writes()
	patches := e.ckan.CountCalls("resource_patch", 200)
	if r := e.publish(dir); r.code != 0 || e.s3Writes() != s3 || e.ckan.CountCalls("resource_patch", 200) != patches+1 {
		t.Errorf("description only: exit %d, %d S3 writes, %d patches\n%s%s", r.code, e.s3Writes()-s3,
			e.ckan.CountCalls("resource_patch", 200)-patches, r.stdout, r.stderr)
	}
	for _, res := range e.ckan.Resources("air-quality") {
		if res["name"] == "archive" && res["description"] != "Raw archive" {
			t.Errorf("archive: %v", res)
		}
	}
}

// packageShow reads a dataset dict through the simulator's API.
func (e *testEnv) packageShow(name string) map[string]any {
	e.t.Helper()
	var env struct {
		Result map[string]any `json:"result"`
	}
	resp, err := http.Get(e.ckanURL + "/api/3/action/package_show?id=" + name)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		e.t.Fatal(err)
	}
	return env.Result
}

// TestPublishKeepsFieldsNotInDescriptor: a descriptor with only a title
// updates the title of an existing dataset and leaves its notes and license.
func TestPublishKeepsFieldsNotInDescriptor(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	dir := t.TempDir()
	makeFile(t, dir, "a.csv", 10)
	writeDescriptor(t, dir, map[string]any{"name": "acceptance-dataset", "title": "Renamed",
		"resources": []any{map[string]any{"path": "a.csv"}}})
	r := e.publish(dir)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	d := e.packageShow("acceptance-dataset")
	if d["title"] != "Renamed" || d["notes"] != "Target dataset for the uploader acceptance tests" || d["license_id"] != "cc-by" {
		t.Errorf("dataset: %v", d)
	}
	if n := e.ckan.CountCalls("package_patch", 200); n != 1 {
		t.Errorf("%d package_patch calls", n)
	}
}

// TestPublishBadDescriptors: errors name the file and the field; a missing
// dataset without --org and a dataset the user may not edit are refused
// before anything is written.
func TestPublishBadDescriptors(t *testing.T) {
	e := newTestEnv(t, "", "", "", "ckanup-test")
	cases := []struct {
		name string
		desc map[string]any
		args []string
		code int
		want string
	}{
		{"bad name", map[string]any{"name": "Air Quality", "resources": []any{map[string]any{"path": "a.csv"}}}, nil, exitUsage, "datapackage.json: name: "},
		{"bad path", map[string]any{"name": "ab", "resources": []any{map[string]any{"path": "../a.csv"}}}, nil, exitUsage, "datapackage.json: resources[0].path: "},
		{"missing file", map[string]any{"name": "acceptance-dataset", "resources": []any{map[string]any{"path": "nope.csv"}}}, nil, exitNotFound, "resources[0].path: "},
		{"missing file, plan", map[string]any{"name": "acceptance-dataset", "resources": []any{map[string]any{"path": "nope.csv"}}}, []string{"--plan"}, exitNotFound, "nope.csv does not exist"},
		{"unknown org", map[string]any{"name": "brand-new", "resources": []any{map[string]any{"path": "https://x.org/a"}}}, []string{"--org", "no-such-org", "--plan"}, exitNotFound, `no organization "no-such-org"`},
		{"org without rights", map[string]any{"name": "brand-new", "resources": []any{map[string]any{"path": "https://x.org/a"}}}, []string{"--org", "other-org"}, exitNotFound, "may create datasets in: "},
		{"no org", map[string]any{"name": "brand-new", "resources": []any{map[string]any{"path": "https://x.org/a"}}}, nil, exitUsage, "--org"},
		{"not editable", map[string]any{"name": "other-dataset", "resources": []any{map[string]any{"path": "https://x.org/a"}}}, nil, exitAuth, "not allowed to edit"},
		{"shard without count", map[string]any{"name": "ab", "resources": []any{map[string]any{"path": "https://x.org/a"}}}, []string{"--shard", "3"}, exitUsage, "I/N"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeDescriptor(t, dir, c.desc)
			r := e.publish(append([]string{p}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s", r.code, c.code, c.want, r.stderr)
			}
			if strings.Contains(c.want, "datapackage.json") && !strings.Contains(r.stderr, p) {
				t.Errorf("stderr does not name %s:\n%s", p, r.stderr)
			}
		})
	}
	if e.writeCalls() != 0 {
		t.Errorf("%d CKAN writes", e.writeCalls())
	}
	// A data package that does not exist is not found, like a missing file.
	if r := e.publish(filepath.Join(t.TempDir(), "nodir")); r.code != exitNotFound {
		t.Errorf("missing data package: exit %d\n%s", r.code, r.stderr)
	}

	// One data package publishes, the other may not be edited: partial, the
	// other's error said once.
	good, bad := t.TempDir(), t.TempDir()
	writeDescriptor(t, good, map[string]any{"name": "acceptance-dataset", "resources": []any{map[string]any{"path": "https://x.org/a"}}})
	writeDescriptor(t, bad, map[string]any{"name": "other-dataset", "resources": []any{map[string]any{"path": "https://x.org/a"}}})
	r := e.publish(good, bad)
	if r.code != exitPartial || strings.Count(r.stderr, "not allowed to edit") != 1 || !strings.Contains(r.stdout, "created  link resource a") {
		t.Errorf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The summary counts the data package that failed before its dataset was touched.
	if !strings.Contains(r.stderr, "2 data package(s): 0 created, 0 updated, 1 unchanged, 1 failed") {
		t.Errorf("summary line missing or wrong:\n%s", r.stderr)
	}
}
