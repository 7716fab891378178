package main

import (
	"io"
	"net"
	"sync"
	"time"
)

// delayProxy forwards TCP connections to a target and holds every chunk of
// bytes for a fixed delay in each direction, so a round trip through it takes
// 2 × delay longer. It buffers what is in flight instead of throttling, like a
// long fat pipe: bandwidth is not limited, latency is added. (The benchmark
// machine's kernel has no netem, hence a proxy.)
type delayProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
}

// startDelayProxy listens on 127.0.0.1 and forwards to target.
func startDelayProxy(target string, delay time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, delay: delay}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listen address.
func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting; connections in flight end with their peers.
func (p *delayProxy) Close() error {
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *delayProxy) handle(client net.Conn) {
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); delayCopy(upstream, client, p.delay) }()
	go func() { defer wg.Done(); delayCopy(client, upstream, p.delay) }()
	wg.Wait()
	client.Close()
	upstream.Close()
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

type chunk struct {
	buf *[]byte
	n   int
	due time.Time
}

// delayCopy copies src to dst, writing each chunk delay after it was read. The
// reader never waits for the writer (up to the queue's capacity), so the delay
// adds latency without capping throughput. At src's end it half-closes dst.
func delayCopy(dst, src net.Conn, delay time.Duration) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			b := chunkPool.Get().(*[]byte)
			n, err := src.Read(*b)
			if n > 0 {
				q <- chunk{buf: b, n: n, due: time.Now().Add(delay)}
			} else {
				chunkPool.Put(b)
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range q {
		if !failed {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write((*c.buf)[:c.n]); err != nil {
				failed = true
				// Unblock the reader: the other side is gone.
				src.Close()
			}
		}
		chunkPool.Put(c.buf)
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && !failed {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
}

var _ io.Closer = (*delayProxy)(nil)
