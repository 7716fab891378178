package datapackage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Fill is what a run learnt about one local resource: its size in bytes and
// its SHA-256 as lowercase hex.
type Fill struct {
	Bytes  int64
	SHA256 string
}

// WriteBack sets bytes and hash ("sha256:<hex>", the specification's
// {algorithm}:{hash} form) of the resources at the given indexes in the
// descriptor file, keeping every other field, the order of the keys and the
// indentation. It reports whether the file changed; a file already holding
// these values is left alone. The file is replaced atomically.
func WriteBack(file string, fills map[int]Fill) (bool, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	root, err := readNode(dec)
	if err != nil {
		return false, fmt.Errorf("%s: %w", file, err)
	}
	res := root.get("resources")
	if root.kind != '{' || res == nil || res.kind != '[' {
		return false, &FieldError{file, "resources", "must be a list"}
	}
	changed := false
	for i, f := range fills {
		if i < 0 || i >= len(res.items) || res.items[i].kind != '{' {
			return false, &FieldError{file, fmt.Sprintf("resources[%d]", i), "no such resource object"}
		}
		r := res.items[i]
		changed = r.set("bytes", json.Number(fmt.Sprint(f.Bytes))) || changed
		changed = r.set("hash", "sha256:"+f.SHA256) || changed
	}
	if !changed {
		return false, nil
	}
	var out bytes.Buffer
	root.write(&out, indentOf(raw), 0)
	out.WriteByte('\n')
	fi, err := os.Stat(file)
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".datapackage-*.json")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), file)
}

// indentOf returns the indentation of the descriptor's first indented line
// (two spaces when there is none).
func indentOf(raw []byte) string {
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		if t := strings.TrimLeft(line, " \t"); t != line && t != "" {
			return line[:len(line)-len(t)]
		}
	}
	return "  "
}

// node is a JSON value that keeps its object keys in order.
type node struct {
	kind  byte // '{', '[' or 0 for a scalar
	keys  []string
	items []*node // object values (parallel to keys) or array items
	value any     // scalar: string, json.Number, bool or nil
}

func readNode(dec *json.Decoder) (*node, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		n := &node{kind: '{'}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readNode(dec)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, kt.(string))
			n.items = append(n.items, v)
		}
		_, err := dec.Token()
		return n, err
	case json.Delim('['):
		n := &node{kind: '['}
		for dec.More() {
			v, err := readNode(dec)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		_, err := dec.Token()
		return n, err
	}
	return &node{value: t}, nil
}

func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.items[i]
		}
	}
	return nil
}

// set gives key the scalar v, in place when the key exists, else at the end;
// it reports whether anything changed.
func (n *node) set(key string, v any) bool {
	if old := n.get(key); old != nil {
		if old.kind == 0 && fmt.Sprint(old.value) == fmt.Sprint(v) {
			return false
		}
		*old = node{value: v}
		return true
	}
	n.keys = append(n.keys, key)
	n.items = append(n.items, &node{value: v})
	return true
}

func (n *node) write(w io.Writer, indent string, depth int) {
	pad := func(d int) string { return "\n" + strings.Repeat(indent, d) }
	switch n.kind {
	case '{', '[':
		open, end := "{", "}"
		if n.kind == '[' {
			open, end = "[", "]"
		}
		if len(n.items) == 0 {
			fmt.Fprint(w, open+end)
			return
		}
		fmt.Fprint(w, open)
		for i, it := range n.items {
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			fmt.Fprint(w, pad(depth+1))
			if n.kind == '{' {
				k, _ := marshal(n.keys[i])
				fmt.Fprintf(w, "%s: ", k)
			}
			it.write(w, indent, depth+1)
		}
		fmt.Fprint(w, pad(depth)+end)
	default:
		b, _ := marshal(n.value)
		_, _ = w.Write(b)
	}
}

// marshal encodes a scalar without escaping <, > and & (kept as written).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
