package storetest

import (
	"net"
	"sync"
	"time"
)

// FaultProxy forwards a loopback port to a database server and can cut every connection and
// refuse new ones (Cut), as a database that went down would, or pause: stop forwarding bytes
// either way, new connections accepted and hanging (Pause), as a network that stopped
// delivering would. The fault tests of server and the mixed load of scripts/bench-mixed use it.
type FaultProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
	open         chan struct{} // closed while forwarding; Pause replaces it
}

// NewFaultProxy listens on listen ("127.0.0.1:0" for any port) and forwards to target.
func NewFaultProxy(listen, target string) (*FaultProxy, error) {
	p := &FaultProxy{target: target, open: make(chan struct{})}
	close(p.open)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

// Addr is the address the proxy listens on, the same after Restore.
func (p *FaultProxy) Addr() string { return p.addr }

func (p *FaultProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
}

// pipe copies src to dst while the proxy forwards, until either fails.
func (p *FaultProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			open := p.open
			p.mu.Unlock()
			<-open
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Pause stops forwarding: every byte sent either way waits for Resume.
func (p *FaultProxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already paused
	}
}

// Resume forwards again what Pause held, and what follows.
func (p *FaultProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// Cut closes the listener and every connection (and ends a pause).
func (p *FaultProxy) Cut() {
	p.Resume()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore listens again on the same address, retrying for up to 5 s while the port is
// still held.
func (p *FaultProxy) Restore() error {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
