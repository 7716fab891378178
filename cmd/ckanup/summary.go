package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/publish"
	"github.com/ckanup/ckanup/internal/upload"
)

// summary is the end of a run: how many files ended how, the bytes sent, the
// time and the throughput. In text mode it is the last status line on stderr
// (stdout holds one result line per file); with --output json it is the last
// NDJSON record on stdout, {"type": "summary", …}, after the per-file records.
type summary struct {
	Type        string `json:"type"` // "summary"
	Files       int    `json:"files"`
	Created     int    `json:"created"`
	Updated     int    `json:"updated"`
	Skipped     int    `json:"skipped"`
	Failed      int    `json:"failed"`
	Planned     int    `json:"planned,omitempty"`
	Interrupted bool   `json:"interrupted"` // the run was cancelled (Ctrl-C, SIGTERM)
	// InterruptedFiles counts the files the cancellation stopped (status
	// "interrupted"); they are not in Failed.
	InterruptedFiles int     `json:"interrupted_files"`
	BytesSent        int64   `json:"bytes_sent"`
	Duration         float64 `json:"duration_s"`
	// BytesPerSecond is BytesSent over Duration.
	BytesPerSecond float64 `json:"bytes_per_s"`
	// Datasets counts the data packages of `publish` by outcome (created,
	// updated, unchanged, failed, interrupted); absent for `upload`.
	Datasets map[string]int `json:"datasets,omitempty"`
	// Concurrency is, with --concurrency auto, the requests in flight the
	// pool got to at the end of the run; absent otherwise.
	Concurrency int `json:"concurrency,omitempty"`

	start time.Time
	took  time.Duration
}

// newSummary starts a summary at start (the run's clock).
func newSummary(start time.Time) *summary {
	return &summary{Type: "summary", start: start}
}

// add counts one file's record by its status: created, updated, skipped,
// failed, interrupted or planned.
func (s *summary) add(status string) {
	s.Files++
	switch status {
	case progressCreated:
		s.Created++
	case progressUpdated:
		s.Updated++
	case progressSkipped:
		s.Skipped++
	case "planned":
		s.Planned++
	case progressInterrupted:
		s.InterruptedFiles++
	default:
		s.Failed++
	}
}

// addDataset counts one data package's outcome.
func (s *summary) addDataset(status string) {
	if s.Datasets == nil {
		s.Datasets = map[string]int{}
	}
	s.Datasets[status]++
}

// datasets is the number of data packages counted.
func (s *summary) datasets() int {
	n := 0
	for _, v := range s.Datasets {
		n += v
	}
	return n
}

// end closes the summary at now, with the bytes S3 acknowledged (the
// display's bytesSent) and whether the run was interrupted.
func (s *summary) end(now time.Time, bytesSent int64, interrupted bool) {
	s.took = now.Sub(s.start)
	s.BytesSent, s.Interrupted = bytesSent, interrupted
	s.Duration = s.took.Seconds()
	if s.Duration > 0 {
		s.BytesPerSecond = float64(bytesSent) / s.Duration
	}
}

// text is the summary as one line, e.g.
// "4 files: 2 created, 1 updated, 1 skipped, 0 failed; 12.0 MiB sent in 3.2s (3.7 MiB/s)",
// with ", N interrupted" after the failed count when the cancellation stopped files.
func (s *summary) text() string {
	var b strings.Builder
	if s.Interrupted {
		b.WriteString("interrupted: ")
	}
	if s.Datasets != nil {
		fmt.Fprintf(&b, "%d data package(s): %d created, %d updated, %d unchanged, %d failed", s.datasets(),
			s.Datasets["created"], s.Datasets["updated"], s.Datasets["unchanged"], s.Datasets[publish.StatusFailed])
		if n := s.Datasets[publish.StatusInterrupted]; n > 0 {
			fmt.Fprintf(&b, ", %d interrupted", n)
		}
		b.WriteString("; ")
	}
	fmt.Fprintf(&b, "%d file(s): ", s.Files)
	if s.Planned > 0 {
		fmt.Fprintf(&b, "%d planned", s.Planned)
	} else {
		fmt.Fprintf(&b, "%d created, %d updated, %d skipped, %d failed", s.Created, s.Updated, s.Skipped, s.Failed)
		if s.InterruptedFiles > 0 {
			fmt.Fprintf(&b, ", %d interrupted", s.InterruptedFiles)
		}
	}
	fmt.Fprintf(&b, "; %s sent in %s", upload.FormatSize(s.BytesSent), s.took.Round(100*time.Millisecond))
	if s.BytesSent > 0 {
		fmt.Fprintf(&b, " (%s)", formatRate(s.BytesSent, s.took))
	}
	return b.String()
}

// print writes the summary: the last NDJSON record on stdout with output
// "json"; else a line on stderr, with the other status lines (stdout keeps
// one line per file), unless quiet.
func (s *summary) print(stdout, stderr io.Writer, output string, quiet bool) error {
	if output == "json" {
		return json.NewEncoder(stdout).Encode(s)
	}
	if quiet {
		return nil
	}
	_, err := fmt.Fprintln(stderr, "ckanup: "+s.text())
	return err
}

// endStatus is the display's end state for a record's status: a failure
// caused by cancellation is "interrupted".
func endStatus(ctx context.Context, status string) string {
	if status == progressFailed && ctx.Err() != nil {
		return progressInterrupted
	}
	return status
}

// plannedBytes is the size of the planned files, or -1 when one is unknown
// (standard input).
func plannedBytes(files []inputFile) int64 {
	var n int64
	for _, f := range files {
		if f.Size < 0 {
			return -1
		}
		n += f.Size
	}
	return n
}

// printPlanSummary ends a dry run's NDJSON with a summary record counting the
// planned files (text mode's first line already says how many).
func printPlanSummary(stdout io.Writer, output string, files int, now time.Time) error {
	if output != "json" {
		return nil
	}
	s := newSummary(now)
	for range files {
		s.add("planned")
	}
	s.end(now, 0, false)
	return s.print(stdout, io.Discard, output, true)
}
