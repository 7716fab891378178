package upload

import "testing"

// Files smaller than 1 MiB are read through the small buffers; larger ones,
// and streams of unknown size, through 1 MiB ones.
func TestReadBufBySize(t *testing.T) {
	for size, want := range map[int64]int{0: smallReadBuf, 4096: smallReadBuf, largeReadBuf - 1: smallReadBuf,
		largeReadBuf: largeReadBuf, 5 << 20: largeReadBuf, -1: largeReadBuf} {
		buf, release := readBuf(size)
		if len(buf) != want {
			t.Errorf("readBuf(%d): %d bytes, want %d", size, len(buf), want)
		}
		release()
	}
}
