package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// notRunnable lists the documented commands that cannot run here (without a
// trailing comment), each with the reason. Every other command of the README's code blocks and of every --help
// example is run, so a new example is tested unless it is added here.
var notRunnable = map[string]string{
	"make test": "runs the whole test suite, this test included",
	"go install github.com/ckanup/ckanup/cmd/ckanup@latest":                                       "needs the published module from the network",
	"ckanup login --ckan-url https://data.example.org":                                            "needs a real portal and a terminal to type the token",
	`echo "$TOKEN" | ckanup login --ckan-url https://data.example.org --token-stdin --profile ci`: "needs a real portal and its token",
	"export CKANUP_BUCKET=my-portal-bucket AWS_REGION=eu-west-1":                                  "points at a real AWS bucket",
	regenerateReference: "writes docs/reference into the repository; TestReferenceDocsUpToDate checks the same output",
	"pg_dump mydb | gzip | ckanup upload - --name mydb.sql.gz --dataset my-dataset": "needs a PostgreSQL database",
}

// notCommands recognise the README code blocks that are not shell commands,
// by how their first line starts.
var notCommands = []struct{ prefix, reason string }{
	{"[key-prefix/]", "the key template"},
	{"{", "an example of JSON output"},
	{"ckanup: ", "an example of what ckanup prints"},
}

func isNotCommand(first string) bool {
	for _, n := range notCommands {
		if strings.HasPrefix(first, n.prefix) {
			return true
		}
	}
	return false
}

// exampleFiles are the user's files that the examples name; the test makes them
// in each example's working directory.
var exampleFiles = map[string]string{
	"big.csv":                       "id,station\n1,ST001\n2,ST002\n",
	"data/a.csv":                    "a,b\n1,2\n",
	"data/sub/b.json":               `{"b": 1}` + "\n",
	"exports/x.parquet":             "PAR1 not really\n",
	"exports/2026/counts.parquet":   "PAR1 not really\n",
	"air-quality/data/readings.csv": "station,hour,pm10\nST001,0,12\n",
	"air-quality/datapackage.json": `{"name": "air-quality", "title": "Air quality", "licenses": [{"name": "CC-BY-4.0"}],
  "resources": [{"name": "readings", "path": "data/readings.csv"},
    {"name": "methodology", "path": "https://example.org/air/methodology.pdf"}]}` + "\n",
}

// dataPackageFiles replace exports/ for the examples of publish, whose
// exports/* are data package directories.
var dataPackageFiles = map[string]string{
	"data/air-quality/datapackage.json": `{"name": "air-quality", "title": "Air quality", "resources": [{"path": "readings.csv"}]}`,
	"data/air-quality/readings.csv":     "station,pm10\nA,12\n",
	"exports/traffic/datapackage.json":  `{"name": "traffic-counts", "resources": [{"path": "counts.csv"}]}`,
	"exports/traffic/counts.csv":        "station,vehicles\nA,120\n",
	"exports/bikes/datapackage.json":    `{"name": "bike-counts", "resources": [{"name": "counts", "path": "counts.csv"}]}`,
	"exports/bikes/counts.csv":          "station,bikes\nB,7\n",
}

// fixturesFor returns the files made for one script.
func fixturesFor(s docScript) map[string]string {
	files := map[string]string{}
	for k, v := range exampleFiles {
		files[k] = v
	}
	if strings.Contains(strings.Join(s.lines, "\n"), "ckanup publish") {
		for k := range files {
			if strings.HasPrefix(k, "exports/") {
				delete(files, k)
			}
		}
		for k, v := range dataPackageFiles {
			files[k] = v
		}
	}
	return files
}

// scriptHeader stops at the first failure and, at exit, stops the sandbox the
// script started; startSandbox begins every script that starts none itself.
const scriptHeader = `set -eo pipefail
trap 'if [ -n "${CKANUP_SANDBOX_PID:-}" ]; then kill "$CKANUP_SANDBOX_PID" 2>/dev/null || true; fi' EXIT
`
const startSandbox = `eval "$(ckanup sandbox --background)"
`

type docScript struct {
	name   string
	lines  []string
	inRepo bool // runs in the repository's root (it names ./cmd/ckanup)
}

// TestDocumentedCommandsRun runs every command of the README's code blocks and
// every Example of every command, with bash, against a sandbox, as a person
// would paste them (each block or Example as one script, stopping at the first
// failure).
func TestDocumentedCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs ckanup; skipped with -short")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command(goBin, "build", "-o", filepath.Join(bin, "ckanup"), "./cmd/ckanup")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	goEnv := func(k string) string {
		out, err := exec.Command(goBin, "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		return strings.TrimSpace(string(out))
	}
	home := t.TempDir()
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + filepath.Dir(goBin) + string(os.PathListSeparator) + "/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"LANG=C.UTF-8",
		// go install/run build into the test's bin with the caller's caches.
		"GOBIN=" + bin, "GOCACHE=" + goEnv("GOCACHE"), "GOMODCACHE=" + goEnv("GOMODCACHE"),
		"GOPATH=" + goEnv("GOPATH"), "GOPROXY=" + goEnv("GOPROXY"), "GOTOOLCHAIN=local",
	}

	scripts := readmeScripts(t, filepath.Join(root, "README.md"))
	scripts = append(scripts, helpScripts(newRootCmd(DefaultDeps(), nil))...)
	if len(scripts) < 5 {
		t.Fatalf("found only %d documented scripts; is the extraction broken?", len(scripts))
	}
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) {
			var body strings.Builder
			body.WriteString(scriptHeader)
			run := 0
			startsSandbox := false
			for _, l := range s.lines {
				if reason, ok := notRunnable[commandKey(l)]; ok {
					t.Logf("not run: %s (%s)", l, reason)
					continue
				}
				if strings.Contains(l, "ckanup sandbox") {
					startsSandbox = true
				}
				body.WriteString(l + "\n")
				run++
			}
			if run == 0 {
				t.Skip("no runnable command")
			}
			script := body.String()
			if !startsSandbox && !s.inRepo {
				script = scriptHeader + startSandbox + strings.TrimPrefix(script, scriptHeader)
			}
			dir := t.TempDir()
			if s.inRepo {
				dir = root
			} else {
				for name, content := range fixturesFor(s) {
					p := filepath.Join(dir, filepath.FromSlash(name))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			// Each script has a TMPDIR of its own, which must be empty once
			// the sandbox it started has stopped.
			tmp := t.TempDir()
			cmd := exec.CommandContext(ctx, bash, "-c", script)
			cmd.Dir = dir
			cmd.Env = append(env[:len(env):len(env)], "TMPDIR="+tmp)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\nscript:\n%s\noutput:\n%s", err, script, out)
			}
			t.Logf("output:\n%s", out)
			if left := waitForEmpty(t, tmp, 30*time.Second); len(left) != 0 {
				t.Errorf("left in TMPDIR after the script: %v", left)
			}
		})
	}
}

var fence = regexp.MustCompile("^```")

// readmeScripts returns the README's code blocks (indented or fenced), one
// script each, skipping the blocks listed in notCommands.
func readmeScripts(t *testing.T, path string) []docScript {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docScript
	var cur []string
	inFence, fenceShell := false, false
	prevBlank := true
	flush := func() {
		if len(cur) == 0 {
			return
		}
		block := joinContinuations(cur)
		cur = nil
		if isNotCommand(block[0]) {
			return
		}
		s := docScript{name: "README:" + strings.TrimSpace(firstWords(block[0])), lines: block}
		for _, l := range block {
			if strings.Contains(l, "./cmd/ckanup") {
				s.inRepo = true
			}
		}
		out = append(out, s)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case fence.MatchString(line):
			if inFence {
				if fenceShell {
					flush()
				}
				cur = nil
				inFence = false
			} else {
				lang := strings.TrimSpace(strings.TrimPrefix(line, "```"))
				inFence, fenceShell = true, lang == "" || lang == "sh" || lang == "bash" || lang == "shell"
			}
		case inFence:
			if fenceShell && strings.TrimSpace(line) != "" {
				cur = append(cur, line)
			}
		case strings.HasPrefix(line, "    ") && (prevBlank || len(cur) > 0):
			cur = append(cur, strings.TrimPrefix(line, "    "))
		case strings.TrimSpace(line) == "":
			// A blank line may sit inside an indented block; it ends it when
			// the next line is not indented.
		default:
			flush()
		}
		prevBlank = strings.TrimSpace(line) == ""
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// helpScripts returns each command's Example as one script.
func helpScripts(c *cobra.Command) []docScript {
	var out []docScript
	if c.Example != "" {
		var lines []string
		for _, l := range strings.Split(c.Example, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		s := docScript{name: "help:" + c.CommandPath(), lines: joinContinuations(lines)}
		s.inRepo = strings.Contains(c.Example, "./cmd/ckanup")
		out = append(out, s)
	}
	for _, sub := range c.Commands() {
		out = append(out, helpScripts(sub)...)
	}
	return out
}

// joinContinuations joins lines ending in a backslash with the next.
func joinContinuations(lines []string) []string {
	var out []string
	acc := ""
	for _, l := range lines {
		if strings.HasSuffix(l, `\`) {
			acc += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		out = append(out, acc+l)
		acc = ""
	}
	if acc != "" {
		out = append(out, acc)
	}
	return out
}

var trailingComment = regexp.MustCompile(`\s+#\s.*$`)

// commandKey is a command line without its trailing comment.
func commandKey(l string) string {
	return strings.TrimSpace(trailingComment.ReplaceAllString(l, ""))
}

func firstWords(s string) string {
	f := strings.Fields(s)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}
