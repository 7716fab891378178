package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ckanup/ckanup/internal/shard"
)

// shardPackages writes n data packages under root, each with two local
// files (one multipart) and a link, and returns their directories.
func shardPackages(t *testing.T, root string, n int) []string {
	t.Helper()
	var dirs []string
	for i := range n {
		name := fmt.Sprintf("survey-%02d", i)
		dir := filepath.Join(root, name)
		makeFile(t, dir, "data/counts.csv", int64(1000+i))
		size := int64(1 << 10)
		if i%4 == 0 {
			size = 6 << 20 // two parts
		}
		makeFile(t, dir, "data/raw.bin", size)
		writeDescriptor(t, dir, map[string]any{
			"name": name, "title": "Survey " + name, "description": "Counts of " + name,
			"licenses": []any{map[string]any{"name": "ODC-BY-1.0"}}, "keywords": []any{"survey", name},
			"resources": []any{
				map[string]any{"name": "counts", "path": "data/counts.csv", "description": "Counts"},
				map[string]any{"path": "data/raw.bin", "format": "BIN"},
				map[string]any{"name": "method", "path": "https://example.org/" + name + "/method.pdf"},
			},
		})
		dirs = append(dirs, dir)
	}
	return dirs
}

// endState is what CKAN and S3 hold for the datasets, without the ids and
// hosts that differ between two sites.
func (e *testEnv) endState(names []string) map[string]any {
	e.t.Helper()
	state := map[string]any{}
	for _, name := range names {
		d := e.packageShow(name)
		if d == nil {
			state[name] = nil
			continue
		}
		var res []string
		for _, r := range e.ckan.Resources(name) {
			key, _ := r["s3_key"].(string)
			if key != "" {
				b := e.object(key)
				if sha256Hex(b) != strings.TrimPrefix(fmt.Sprint(r["hash"]), "sha256:") {
					e.t.Errorf("%s/%v: object %s does not match the hash", name, r["name"], key)
				}
				key = key[strings.LastIndex(key, "/")+1:]
			} else {
				key = fmt.Sprint(r["url"])
			}
			res = append(res, fmt.Sprintf("%v|%v|%v|%v|%v|%v|%s", r["name"], r["size"], r["hash"], r["format"], r["mimetype"], r["description"], key))
		}
		sort.Strings(res)
		state[name] = map[string]any{"title": d["title"], "notes": d["notes"], "license_id": d["license_id"],
			"num_tags": d["num_tags"], "org": d["organization"].(map[string]any)["name"], "resources": res}
	}
	return state
}

// TestShardsPublishEachDatasetOnce runs N publish processes at once, shard i of
// N each with its own CKAN user, against one CKAN and one S3 store: every
// dataset is created exactly once, every call naming a dataset comes from the
// shard owning it, and the end state is that of a single run.
func TestShardsPublishEachDatasetOnce(t *testing.T) {
	const shards, datasets = 3, 10
	e := newTestEnv(t, "", "", "", "ckanup-test")
	members := map[string]string{}
	for i := range shards {
		members[fmt.Sprintf("shard%d", i)] = "editor"
	}
	tokens := map[string]string{}
	for name := range members {
		tokens[name] = e.ckan.AddUser(name, false).Token
	}
	e.ckan.AddOrg("survey-org", "Survey Org", members)
	dirs := shardPackages(t, t.TempDir(), datasets)
	bin := ckanupBinary(t)

	var wg sync.WaitGroup
	outs := make([]string, shards)
	codes := make([]int, shards)
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"publish", "--org", "survey-org", "--retries", "3"}, dirs...)
			cmd := exec.Command(bin, args...)
			env := os.Environ()
			for k, v := range e.vars {
				env = append(env, k+"="+v)
			}
			// As in a Kubernetes Indexed Job: the index from the pod, the count from the manifest.
			env = append(env, "CKAN_API_TOKEN="+tokens[fmt.Sprintf("shard%d", i)],
				fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i), fmt.Sprintf("CKANUP_SHARD_COUNT=%d", shards))
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			outs[i] = string(out)
			if err != nil {
				codes[i] = cmd.ProcessState.ExitCode()
			}
		}()
	}
	wg.Wait()
	for i := range shards {
		if codes[i] != 0 {
			t.Fatalf("shard %d: exit %d\n%s", i, codes[i], outs[i])
		}
		if !strings.Contains(outs[i], fmt.Sprintf("shard %d/%d (from JOB_COMPLETION_INDEX)", i, shards)) {
			t.Errorf("shard %d does not say which shard it is:\n%s", i, outs[i])
		}
	}

	names := make([]string, datasets)
	for i := range names {
		names[i] = fmt.Sprintf("survey-%02d", i)
	}
	touched := map[string]map[string]bool{}
	for _, c := range e.ckan.Calls() {
		if c.Dataset == "" {
			continue
		}
		if touched[c.Dataset] == nil {
			touched[c.Dataset] = map[string]bool{}
		}
		touched[c.Dataset][c.User] = true
	}
	owners := map[int]int{}
	for _, name := range names {
		want := fmt.Sprintf("shard%d", shard.Of(name, shards))
		if !reflect.DeepEqual(touched[name], map[string]bool{want: true}) {
			t.Errorf("%s touched by %v, want only %s", name, touched[name], want)
		}
		owners[shard.Of(name, shards)]++
	}
	if len(owners) < 2 {
		t.Errorf("the test's datasets all fall in one shard: %v", owners)
	}
	creates := map[string]int{}
	for _, c := range e.ckan.Calls() {
		if c.Action == "package_create" && c.Status == 200 {
			creates[c.Dataset]++
		}
	}
	for _, name := range names {
		if creates[name] != 1 {
			t.Errorf("%s created %d times", name, creates[name])
		}
		if got := e.ckan.SortedResourceNames(name); !slices.Equal(got, []string{"counts", "method", "raw.bin"}) {
			t.Errorf("%s has resources %v", name, got)
		}
	}
	sharded := e.endState(names)

	single := newTestEnv(t, "", "", "", "ckanup-test")
	single.ckan.AddOrg("survey-org", "Survey Org", map[string]string{"uploader": "editor"})
	if r := single.publish(append(dirs, "--org", "survey-org")...); r.code != 0 {
		t.Fatalf("single run: exit %d\n%s", r.code, r.stderr)
	}
	if one := single.endState(names); !reflect.DeepEqual(one, sharded) {
		t.Errorf("sharded end state differs from a single run's:\nsharded %v\nsingle  %v", sharded, one)
	}
}
