package upload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewPlan(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		size, partSize int64
		wantPart       int64
		wantParts      int
		multipart      bool
	}{
		{0, 0, 5 * mib, 1, false},
		{1, 0, 5 * mib, 1, false},
		{5*mib - 1, 0, 5 * mib, 1, false},
		{5 * mib, 0, 5 * mib, 1, true},
		{5*mib + 1, 0, 5 * mib, 2, true},
		{10000 * 5 * mib, 0, 5 * mib, 10000, true},
		{10000*5*mib + 1, 0, 6 * mib, 8334, true},
		{50 * gib, 0, 6 * mib, 8534, true},
		{1 << 40, 0, 105 * mib, 9987, true},
		{5 << 40, 0, 525 * mib, 9987, true},
		{100 * mib, 8 * mib, 8 * mib, 13, true},
	}
	for _, tc := range cases {
		p, err := NewPlan(tc.size, tc.partSize)
		if err != nil {
			t.Fatalf("NewPlan(%d, %d): %v", tc.size, tc.partSize, err)
		}
		if p.PartSize != tc.wantPart || p.Parts != tc.wantParts || p.Multipart != tc.multipart {
			t.Errorf("NewPlan(%d, %d) = %+v, want part %d × %d, multipart %v", tc.size, tc.partSize, p, tc.wantPart, tc.wantParts, tc.multipart)
		}
		if p.Parts > MaxParts || p.PartSize > MaxPartSize {
			t.Errorf("NewPlan(%d) exceeds S3 limits: %+v", tc.size, p)
		}
		if p.Multipart {
			var total int64
			for n := 1; n <= p.Parts; n++ {
				off, l := p.PartBounds(n)
				if off != total || l <= 0 || l > p.PartSize {
					t.Fatalf("part %d: off %d len %d", n, off, l)
				}
				total += l
			}
			if total != tc.size {
				t.Errorf("parts cover %d bytes, want %d", total, tc.size)
			}
		}
	}
}

func TestNewPlanRejects(t *testing.T) {
	for _, tc := range []struct {
		size, part int64
		msg        string
	}{
		{1, 4 * mib, "below the S3 minimum"},
		{1, 6 << 30, "above the S3 maximum"},
		{6 << 40, 0, "at most"},
		{-1, 0, "negative"},
	} {
		if _, err := NewPlan(tc.size, tc.part); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("NewPlan(%d, %d) = %v, want %q", tc.size, tc.part, err, tc.msg)
		}
	}
}

// A sparse file larger than 48.8 GiB is planned without writing its bytes.
func TestPlanSparseFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const size = 60 << 30
	if err := f.Truncate(size); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	src, err := openSource(p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.f.Close()
	plan, err := New(newFakeS3(), Options{}).Plan(src.size)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Parts > MaxParts || plan.PartSize <= DefaultPartSize || plan.PartSize%mib != 0 {
		t.Errorf("plan %+v", plan)
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"5MiB": 5 * mib, "8 MiB": 8 * mib, "5mib": 5 * mib, "1048576": mib, "1GiB": 1 << 30, "1.5GiB": 3 << 29,
		"100MB": 100e6, "64K": 64 << 10, "2g": 2 << 30, "1TiB": 1 << 40, "0": 0, "10B": 10,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "5XB", "-5MiB", "1.5", "abc", "5 M i B", "1e3MiB", "99999999999TiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"5MiB", "8 MiB", "1.5GiB", "100MB", "0", "", "x", "1e9", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}
