package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// usage is what one client process cost, from GNU time's -v report.
type usage struct {
	Wall   time.Duration // measured around the process by the driver
	User   float64       // seconds
	Sys    float64       // seconds
	MaxRSS int64         // KiB, of the largest process of the client's tree
}

// CPU is user plus system seconds.
func (u usage) CPU() float64 { return u.User + u.Sys }

// timeBin is GNU time; it reports CPU seconds and peak RSS of the child.
const timeBin = "/usr/bin/time"

// measure runs argv under `/usr/bin/time -v` with env, sending the client's
// output to logFile.
func measure(argv, env []string, dir, logFile string) (usage, error) {
	rep, err := os.CreateTemp("", "bench-time-*.txt")
	if err != nil {
		return usage{}, err
	}
	rep.Close()
	defer os.Remove(rep.Name())
	lf, err := os.Create(logFile)
	if err != nil {
		return usage{}, err
	}
	defer lf.Close()
	cmd := exec.Command(timeBin, append([]string{"-v", "-o", rep.Name(), "--"}, argv...)...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	b, err := os.ReadFile(rep.Name())
	if err != nil {
		return usage{}, err
	}
	u, perr := parseTimeV(b)
	u.Wall = wall
	if runErr != nil {
		return u, fmt.Errorf("%s: %w (output in %s)", argv[0], runErr, logFile)
	}
	return u, perr
}

// parseTimeV reads the fields the benchmark needs from GNU time's -v report.
func parseTimeV(b []byte) (usage, error) {
	var u usage
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "User time (seconds)":
			u.User, err = strconv.ParseFloat(v, 64)
			found++
		case "System time (seconds)":
			u.Sys, err = strconv.ParseFloat(v, 64)
			found++
		case "Maximum resident set size (kbytes)":
			u.MaxRSS, err = strconv.ParseInt(v, 10, 64)
			found++
		}
		if err != nil {
			return u, fmt.Errorf("time -v: %q: %w", k, err)
		}
	}
	if found != 3 {
		return u, fmt.Errorf("time -v report lacks user, system or RSS figures:\n%s", b)
	}
	return u, nil
}

// spread is the median and range of a sample.
type spread struct {
	Median, Min, Max float64
	N                int
}

// summarize returns the median (the mean of the middle two for an even count),
// minimum and maximum of xs. An empty sample gives N == 0.
func summarize(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// format renders "median (min–max)" with the given decimals; a single value
// has no range.
func (s spread) format(decimals int) string {
	if s.N == 0 {
		return "–"
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', decimals, 64) }
	if s.N == 1 || s.Min == s.Max {
		return f(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}
