package closeemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ShutdownTimeout bounds how long ListenAndServe and Serve wait for in-flight
// requests once their context is done.
const ShutdownTimeout = 5 * time.Second

// ListenAndServe listens on addr (e.g. "127.0.0.1:8080") and serves s until
// ctx is done, then shuts down gracefully. It blocks. It returns nil after a
// clean shutdown, or the listen/serve error. A nil logger logs nothing.
func ListenAndServe(ctx context.Context, addr string, s *Server, logger *zap.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("closeemu: listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, s, logger)
}

// Serve is ListenAndServe on an existing listener (which it closes), so
// callers can bind ":0" and learn the port first. It blocks until ctx is done.
//
// Request contexts derive from ctx, so injected Latency ends as soon as
// shutdown starts instead of holding it up. Each request is logged at debug
// level with method, path and status only: bodies hold personal data.
func Serve(ctx context.Context, ln net.Listener, s *Server, logger *zap.Logger) error {
	if logger == nil {
		logger = zap.NewNop()
	}
	// net/http's Shutdown waits up to 5 s for connections that were opened
	// but never sent a request (keep-alive pools dial ahead); they carry no
	// work, so they are closed at once when shutdown starts.
	var (
		mu     sync.Mutex
		unused = map[net.Conn]struct{}{}
	)
	srv := &http.Server{
		Handler:           logRequests(s, logger),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          zap.NewStdLog(logger.Named("http")),
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if st == http.StateNew {
				unused[c] = struct{}{}
			} else {
				delete(unused, c)
			}
		},
	}
	logger.Info("close emulator listening", zap.String("addr", ln.Addr().String()))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("closeemu: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(shutdownCtx) }()
	mu.Lock()
	for c := range unused {
		_ = c.Close()
	}
	mu.Unlock()
	err := <-shutdown
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("closeemu: shutdown: %w", err)
	}
	logger.Info("close emulator stopped")
	return nil
}

// statusWriter remembers the status for the request log. Unwrap keeps
// http.ResponseController (and so connection hijacking) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func logRequests(next http.Handler, logger *zap.Logger) http.Handler {
	if !logger.Core().Enabled(zap.DebugLevel) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		logger.Debug("request",
			zap.String("method", r.Method),
			zap.String("path", r.URL.Path),
			zap.Int("status", sw.status), // 0: dropped or abandoned, no response
			zap.Duration("took", time.Since(start)))
	})
}
