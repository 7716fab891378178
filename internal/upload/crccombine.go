package upload

// Combining CRC32Cs: the CRC of a concatenation A‖B is the CRC of A carried
// over len(B) zero bytes, xor the CRC of B. Carrying a CRC over n zero bytes
// is a linear map over GF(2), a 32×32 bit matrix, built by repeated squaring
// of the one-bit map. This is zlib's crc32_combine (Mark Adler), with the
// matrix for a length kept so that a file of equal parts builds it once.

// castagnoliReversed is the CRC-32C polynomial in the bit order Go's
// hash/crc32 uses (crc32.Castagnoli).
const castagnoliReversed = 0x82f63b78

// crcShift carries a CRC over a fixed number of zero bytes.
type crcShift [32]uint32

// apply returns the CRC crc carried over the shift's zero bytes.
func (m *crcShift) apply(crc uint32) uint32 {
	var sum uint32
	for i := 0; crc != 0; i, crc = i+1, crc>>1 {
		if crc&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

// times returns the map m after n (m∘n; these maps commute).
func (m *crcShift) times(n *crcShift) crcShift {
	var out crcShift
	for i := range n {
		out[i] = m.apply(n[i])
	}
	return out
}

// newCRCShift returns the map that carries a CRC of polynomial poly (reversed
// bit order) over size zero bytes (size ≥ 0).
func newCRCShift(poly uint32, size int64) *crcShift {
	var one crcShift // one zero bit
	one[0] = poly
	for i := 1; i < 32; i++ {
		one[i] = 1 << (i - 1)
	}
	two := one.times(&one)
	four := two.times(&two)
	step := four.times(&four) // one zero byte
	var out crcShift
	for i := range out {
		out[i] = 1 << i // identity
	}
	for n := size; n > 0; n >>= 1 {
		if n&1 != 0 {
			out = step.times(&out)
		}
		step = step.times(&step)
	}
	return &out
}

// crc32cCombine returns the CRC32C of A‖B from crcA = CRC32C(A),
// crcB = CRC32C(B) and len(B).
func crc32cCombine(crcA, crcB uint32, lenB int64) uint32 {
	return newCRCShift(castagnoliReversed, lenB).apply(crcA) ^ crcB
}
