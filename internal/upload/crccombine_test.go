package upload

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// The combined CRC32C of any split of the bytes equals the CRC32C of all of
// them, for empty, one-byte, odd and equal parts, as FullCRC relies on.
func TestCRC32CCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300_001)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	want := crc32.Checksum(data, castagnoli)
	for _, sizes := range [][]int{
		{300_001},
		{0, 300_001},
		{300_001, 0},
		{1, 300_000},
		{100_000, 100_000, 100_000, 1},
		{65_536, 65_536, 65_536, 65_536, 37_857},
		{7, 70_000, 3, 229_991},
	} {
		s := &fileSums{}
		off := 0
		var combined uint32
		for i, n := range sizes {
			part := data[off : off+n]
			c := crc32.Checksum(part, castagnoli)
			s.parts, s.sizes = append(s.parts, c), append(s.sizes, int64(n))
			if i == 0 {
				combined = c
			} else {
				combined = crc32cCombine(combined, c, int64(n))
			}
			off += n
		}
		if combined != want {
			t.Errorf("parts %v: crc32cCombine gives %08x, want %08x", sizes, combined, want)
		}
		if got := s.FullCRC(); got != crcBase64(want) {
			t.Errorf("parts %v: FullCRC %s, want %s", sizes, got, crcBase64(want))
		}
	}
}
