package meshsim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// loopServer serves a handler on a free loopback port. Unlike httptest.Server it reports a
// failure to listen instead of panicking, and close waits for every handler to return.
type loopServer struct {
	addr     string // host:port
	srv      *http.Server
	served   chan struct{}
	handlers sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

func startLoopServer(h http.Handler) (*loopServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s := &loopServer{addr: ln.Addr().String(), served: make(chan struct{})}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			s.handlers.Add(1)
			s.mu.Unlock()
			defer s.handlers.Done()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns when closed; requests to a failed listener fail and say so
	}()
	return s, nil
}

// URL is the server's base URL.
func (s *loopServer) URL() string { return "http://" + s.addr }

// close stops accepting, closes every connection (handlers see their request's context
// cancelled) and waits for the handlers to return.
func (s *loopServer) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.srv.Close()
	<-s.served
	s.handlers.Wait()
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
