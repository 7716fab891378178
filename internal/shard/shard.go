// Package shard splits work by dataset among N machines with a stable hash,
// so that no two machines ever write one dataset.
//
// Shard I of N owns the datasets whose name hashes (32-bit FNV-1a) to I modulo
// N. The hash depends only on the name, so every machine, every run and every
// version of ckanup agrees on the owner.
package shard

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one of Count shards; Count 0 or 1 means the whole work.
type Shard struct {
	Index, Count int
}

// All is the shard owning every dataset.
var All = Shard{Index: 0, Count: 1}

// Environment variables read by FromEnv. Kubernetes sets JOB_COMPLETION_INDEX in
// the pods of an Indexed Job; it has no variable for the completion count, so
// the manifest passes spec.completions as CKANUP_SHARD_COUNT.
const (
	EnvIndex = "JOB_COMPLETION_INDEX"
	EnvCount = "CKANUP_SHARD_COUNT"
	// EnvShard ("I/N") is ckanup's own, for CI matrices.
	EnvShard = "CKANUP_SHARD"
)

// Parse reads "I/N" (0 ≤ I < N).
func Parse(s string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: write I/N, e.g. 0/4 for the first of four", s)
	}
	return New(i, n)
}

// New checks an index and count given as text.
func New(index, count string) (Shard, error) {
	i, err := strconv.Atoi(strings.TrimSpace(index))
	if err != nil {
		return Shard{}, fmt.Errorf("shard index %q is not a whole number", index)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil {
		return Shard{}, fmt.Errorf("shard count %q is not a whole number", count)
	}
	if n < 1 {
		return Shard{}, fmt.Errorf("shard count %d: must be at least 1", n)
	}
	if i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard index %d: must be from 0 to %d for %d shards", i, n-1, n)
	}
	return Shard{Index: i, Count: n}, nil
}

// ErrNoCount is returned when an index is set without a count.
var ErrNoCount = errors.New("the shard count is unknown: set CKANUP_SHARD_COUNT (in a Kubernetes Indexed Job, to spec.completions) or --shard-count")

// Resolve decides the shard from, in order: flag ("I/N", --shard); then
// CKANUP_SHARD; then JOB_COMPLETION_INDEX with countFlag (--shard-count, 0:
// unset) or CKANUP_SHARD_COUNT. Nothing set means All. It reports where the
// shard came from ("" for All).
func Resolve(flag string, countFlag int, getenv func(string) string) (Shard, string, error) {
	switch {
	case flag != "":
		s, err := Parse(flag)
		return s, "--shard", err
	case getenv(EnvShard) != "":
		s, err := Parse(getenv(EnvShard))
		return s, EnvShard, err
	}
	idx := getenv(EnvIndex)
	if idx == "" {
		if countFlag > 1 {
			return Shard{}, "", errors.New("--shard-count needs an index: --shard I/N or JOB_COMPLETION_INDEX")
		}
		return All, "", nil
	}
	count := getenv(EnvCount)
	if countFlag > 0 {
		count = strconv.Itoa(countFlag)
	}
	if count == "" {
		return Shard{}, "", fmt.Errorf("%s is %s but %w", EnvIndex, idx, ErrNoCount)
	}
	s, err := New(idx, count)
	return s, EnvIndex, err
}

// Of returns the shard index of a dataset name among count shards.
func Of(name string, count int) int {
	if count <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % uint32(count))
}

// Owns reports whether this shard publishes the dataset name.
func (s Shard) Owns(name string) bool { return Of(name, s.Count) == s.Index }

// String is "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }
