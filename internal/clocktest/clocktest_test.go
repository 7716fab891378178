package clocktest

import (
	"testing"
	"time"
)

// TestAfterFiresOnAdvance: a timer fires once the clock reaches its deadline,
// not before; WaitArmed sees that it was asked for.
func TestAfterFiresOnAdvance(t *testing.T) {
	c := New(time.Unix(1000, 0))
	ch := c.After(5 * time.Second)
	c.WaitArmed(t, time.Unix(1005, 0))
	c.Advance(4 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired before its deadline")
	default:
	}
	c.Advance(time.Second)
	select {
	case got := <-ch:
		if !got.Equal(time.Unix(1005, 0)) || !c.Now().Equal(got) {
			t.Errorf("fired at %v, clock at %v", got, c.Now())
		}
	default:
		t.Fatal("did not fire at its deadline")
	}
	if got := <-c.After(0); !got.Equal(c.Now()) {
		t.Errorf("After(0) gave %v", got)
	}
}
