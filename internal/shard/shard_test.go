package shard

import (
	"fmt"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{"0/1", Shard{0, 1}, false},
		{"3/4", Shard{3, 4}, false},
		{" 1 / 2 ", Shard{1, 2}, false},
		{"4/4", Shard{}, true},
		{"-1/4", Shard{}, true},
		{"0/0", Shard{}, true},
		{"1", Shard{}, true},
		{"a/2", Shard{}, true},
		{"1/b", Shard{}, true},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("Parse(%q) = %v, %v", c.in, got, err)
		}
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name      string
		flag      string
		countFlag int
		env       map[string]string
		want      Shard
		from      string
		wantErr   bool
	}{
		{"nothing", "", 0, nil, All, "", false},
		{"flag", "1/3", 0, map[string]string{EnvIndex: "2", EnvCount: "5"}, Shard{1, 3}, "--shard", false},
		{"env shard", "", 0, map[string]string{EnvShard: "2/3", EnvIndex: "0", EnvCount: "5"}, Shard{2, 3}, EnvShard, false},
		{"indexed job", "", 0, map[string]string{EnvIndex: "2", EnvCount: "5"}, Shard{2, 5}, EnvIndex, false},
		{"indexed job, count flag", "", 4, map[string]string{EnvIndex: "3", EnvCount: "2"}, Shard{3, 4}, EnvIndex, false},
		{"index without count", "", 0, map[string]string{EnvIndex: "2"}, Shard{}, "", true},
		{"index beyond count", "", 0, map[string]string{EnvIndex: "5", EnvCount: "5"}, Shard{}, EnvIndex, true},
		{"count without index", "", 3, nil, Shard{}, "", true},
		{"bad flag", "x", 0, nil, Shard{}, "--shard", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, from, err := Resolve(c.flag, c.countFlag, func(k string) string { return c.env[k] })
			if (err != nil) != c.wantErr || got != c.want || from != c.from {
				t.Errorf("got %v from %q, %v", got, from, err)
			}
		})
	}
}

// TestOwnsPartitions: every name has exactly one owner among N shards, the
// owner is the FNV-1a value mod N (fixed values, so a change of hash that
// would move datasets between machines fails here), and the split is not
// lopsided.
func TestOwnsPartitions(t *testing.T) {
	fixed := []struct {
		name  string
		count int
		want  int
	}{
		// FNV-1a 32 of "a" is 0xe40c292c = 3826002220.
		{"a", 7, 3826002220 % 7},
		{"a", 1, 0},
		// FNV-1a 32 of "" is the offset basis 0x811c9dc5 = 2166136261.
		{"", 10, 2166136261 % 10},
	}
	for _, f := range fixed {
		if got := Of(f.name, f.count); got != f.want {
			t.Errorf("Of(%q, %d) = %d, want %d", f.name, f.count, got, f.want)
		}
	}
	for _, n := range []int{1, 2, 3, 8} {
		per := make([]int, n)
		for d := range 400 {
			name := fmt.Sprintf("dataset-%03d", d)
			owners := 0
			for i := range n {
				if (Shard{i, n}).Owns(name) {
					owners++
					per[i]++
				}
			}
			if owners != 1 {
				t.Fatalf("%s has %d owners among %d shards", name, owners, n)
			}
		}
		for i, c := range per {
			if c < 400/n/2 {
				t.Errorf("%d shards: shard %d owns only %d of 400", n, i, c)
			}
		}
	}
}
