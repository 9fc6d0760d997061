package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
)

// h2Attacker is a raw HTTP/2 client connection (h2c, prior knowledge) that
// ignores the server's limits: it opens streams as fast as it can write.
type h2Attacker struct {
	t      testing.TB
	conn   net.Conn
	wmu    sync.Mutex // the framer's writes and the hpack encoder
	fr     *http2.Framer
	hbuf   bytes.Buffer
	enc    *hpack.Encoder
	nextID uint32

	settings   chan http2.Setting       // the server's MAX_CONCURRENT_STREAMS, when sent
	refused    atomic.Int64             // RST_STREAM REFUSED_STREAM received
	resets     map[uint32]http2.ErrCode // RST_STREAM received, by stream
	answered   map[uint32]bool          // response HEADERS received, by stream
	resetsMu   sync.Mutex
	goAway     atomic.Bool
	readerDone chan struct{}
}

func dialH2(t testing.TB, addr string) *h2Attacker {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a := &h2Attacker{t: t, conn: conn, nextID: 1, settings: make(chan http2.Setting, 1),
		resets: make(map[uint32]http2.ErrCode), answered: make(map[uint32]bool), readerDone: make(chan struct{})}
	a.fr = http2.NewFramer(conn, conn)
	a.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	a.enc = hpack.NewEncoder(&a.hbuf)
	// Every write is bounded: a server that stops reading ends the flood.
	conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := a.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go a.read()
	t.Cleanup(func() { a.close() })
	return a
}

func (a *h2Attacker) close() {
	a.conn.Close()
	<-a.readerDone
}

// read consumes the server's frames, acknowledges its SETTINGS and PINGs,
// and notes refusals and GOAWAY.
func (a *h2Attacker) read() {
	defer close(a.readerDone)
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			if s, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				select {
				case a.settings <- http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: s}:
				default:
				}
			}
			a.write(func() error { return a.fr.WriteSettingsAck() })
		case *http2.PingFrame:
			if !f.IsAck() {
				a.write(func() error { return a.fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			a.resetsMu.Lock()
			a.answered[f.StreamID] = true
			a.resetsMu.Unlock()
		case *http2.RSTStreamFrame:
			if f.ErrCode == http2.ErrCodeRefusedStream {
				a.refused.Add(1)
			}
			a.resetsMu.Lock()
			a.resets[f.StreamID] = f.ErrCode
			a.resetsMu.Unlock()
		case *http2.GoAwayFrame:
			a.goAway.Store(true)
		}
	}
}

func (a *h2Attacker) write(fn func() error) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	return fn()
}

// headers encodes the request headers of a gRPC call, plus extra.
func (a *h2Attacker) headers(path string, extra ...hpack.HeaderField) []byte {
	a.hbuf.Reset()
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: path},
		{Name: ":authority", Value: "gatehouse"},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	}, extra...) {
		a.enc.WriteField(f)
	}
	return bytes.Clone(a.hbuf.Bytes())
}

// open starts a stream with HEADERS only (no message, no END_STREAM), so
// that its handler waits for the request; with reset it cancels the stream
// right away (rapid reset). It returns the stream id.
func (a *h2Attacker) open(reset bool) (uint32, error) {
	var id uint32
	err := a.write(func() error {
		id = a.nextID
		a.nextID += 2
		block := a.headers("/gatehouse.v1.AuthService/ValidateToken")
		if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true}); err != nil {
			return err
		}
		if reset {
			return a.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		return nil
	})
	return id, err
}

// goroutineSampler records the highest goroutine count seen until stopped.
type goroutineSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func sampleGoroutines() *goroutineSampler {
	s := &goroutineSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if n := int64(runtime.NumGoroutine()); n > s.peak.Load() {
				s.peak.Store(n)
			}
			select {
			case <-s.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *goroutineSampler) Stop() int {
	close(s.stop)
	<-s.done
	return int(s.peak.Load())
}

// validator checks a token over its own connection in a loop and counts
// the answers, so that a test sees whether other clients are served.
type validator struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
	stop       chan struct{}
	done       chan struct{}
}

func startValidator(ts *testServer, token string) *validator {
	v := &validator{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for {
			select {
			case <-v.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: token})
			cancel()
			if err == nil && res.GetPrincipal().GetSubject() != "" {
				v.ok.Add(1)
			} else {
				v.failed.Add(1)
				v.lastErr.Store(errors.Join(err, errors.New("no subject")))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return v
}

func (v *validator) Stop() (ok, failed int64) {
	close(v.stop)
	<-v.done
	return v.ok.Load(), v.failed.Load()
}

// waitGoroutines waits until the goroutine count is back near base.
func waitGoroutines(t *testing.T, base int, what string) {
	t.Helper()
	eventually(t, 10*time.Second, what, func() error {
		if n := runtime.NumGoroutine(); n > base+50 {
			return fmt.Errorf("%d goroutines, %d before", n, base)
		}
		return nil
	})
}

const (
	floodStreams    = 20000 // HEADERS-only streams on one connection
	rapidResets     = 20000 // HEADERS+RST_STREAM pairs on one connection
	floodMaxStreams = 256   // the default per-connection limit
)

// One connection opening 20,000 streams (HEADERS only, each handler waiting
// for a request that never comes) must not get 20,000 handlers: the server
// advertises MAX_CONCURRENT_STREAMS, refuses the streams beyond it, and
// another client's ValidateToken calls keep being answered. Then the same
// with HEADERS+RST_STREAM pairs (rapid reset). Goroutines and heap return
// to where they were when the flooding connections close.
func TestGRPCStreamFlood(t *testing.T) {
	ts := startServer(t, "")
	token := ts.adminToken(t)
	addr := ts.conn.Target()

	runtime.GC()
	base := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	t.Run("headers only", func(t *testing.T) {
		v := startValidator(ts, token)
		peak := sampleGoroutines()
		a := dialH2(t, addr)
		start := time.Now()
		sent := 0
		for ; sent < floodStreams; sent++ {
			if _, err := a.open(false); err != nil {
				t.Logf("server stopped reading after %d streams: %v", sent, err)
				break
			}
		}
		// Let the server catch up with what was written.
		time.Sleep(500 * time.Millisecond)
		maxG := peak.Stop()
		ok, failed := v.Stop()
		t.Logf("%d streams in %s; goroutines %d -> peak %d; refused %d; other client %d ok, %d failed",
			sent, time.Since(start).Round(time.Millisecond), base, maxG, a.refused.Load(), ok, failed)

		select {
		case s := <-a.settings:
			if s.Val != floodMaxStreams {
				t.Errorf("server advertises MAX_CONCURRENT_STREAMS %d, want %d", s.Val, floodMaxStreams)
			}
		default:
			t.Errorf("server does not advertise MAX_CONCURRENT_STREAMS")
		}
		if maxG-base > 4*floodMaxStreams {
			t.Errorf("goroutines grew by %d for one connection (limit %d streams)", maxG-base, floodMaxStreams)
		}
		if a.refused.Load() == 0 && !a.goAway.Load() && sent == floodStreams {
			t.Errorf("no stream refused, no GOAWAY, and all %d streams were read", sent)
		}
		if failed > 0 || ok == 0 {
			t.Errorf("other client during the flood: %d ok, %d failed (%v)", ok, failed, v.lastErr.Load())
		}
		a.close()
		waitGoroutines(t, base, "goroutines after the flooding connection closed")
	})

	t.Run("rapid reset", func(t *testing.T) {
		v := startValidator(ts, token)
		peak := sampleGoroutines()
		a := dialH2(t, addr)
		start := time.Now()
		sent := 0
		for ; sent < rapidResets; sent++ {
			if _, err := a.open(true); err != nil {
				t.Logf("server stopped reading after %d streams: %v", sent, err)
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
		maxG := peak.Stop()
		ok, failed := v.Stop()
		t.Logf("%d HEADERS+RST_STREAM in %s; goroutines %d -> peak %d; refused %d; goaway %v; other client %d ok, %d failed",
			sent, time.Since(start).Round(time.Millisecond), base, maxG, a.refused.Load(), a.goAway.Load(), ok, failed)
		if maxG-base > 4*floodMaxStreams {
			t.Errorf("goroutines grew by %d for one connection (limit %d streams)", maxG-base, floodMaxStreams)
		}
		if failed > 0 || ok == 0 {
			t.Errorf("other client during the flood: %d ok, %d failed (%v)", ok, failed, v.lastErr.Load())
		}
		a.close()
		waitGoroutines(t, base, "goroutines after the flooding connection closed")
	})

	// The heap holds nothing of the floods once their connections closed.
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("heap in use: %d MiB before, %d MiB after", before.HeapInuse>>20, after.HeapInuse>>20)
	if after.HeapInuse > before.HeapInuse+64<<20 {
		t.Errorf("heap in use grew from %d MiB to %d MiB", before.HeapInuse>>20, after.HeapInuse>>20)
	}
	// And the server still answers on a new connection.
	if _, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: token}); err != nil {
		t.Errorf("ValidateToken after the floods: %v", err)
	}
}

// A call whose headers are larger than the header list limit (64 KiB) is
// refused before it reaches a handler: far over the limit, the connection
// is closed (x/net's framer stops reading CONTINUATION frames); a call under
// the limit is served.
func TestGRPCHeaderListLimit(t *testing.T) {
	ts := startServer(t, "")
	a := dialH2(t, ts.conn.Target())
	send := func(size int) (uint32, error) {
		var id uint32
		err := a.write(func() error {
			id = a.nextID
			a.nextID += 2
			// Many 1 KiB headers: each within the limit, the list not.
			var pad []hpack.HeaderField
			for i := range size >> 10 {
				pad = append(pad, hpack.HeaderField{Name: fmt.Sprintf("x-pad-%d", i), Value: strings.Repeat("a", 1<<10)})
			}
			block := a.headers("/grpc.health.v1.Health/Check", pad...)
			// The first 16 KiB in HEADERS, the rest in CONTINUATION frames.
			const chunk = 16 << 10
			first := block[:min(chunk, len(block))]
			rest := block[len(first):]
			if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(rest) == 0}); err != nil {
				return err
			}
			for len(rest) > 0 {
				n := min(chunk, len(rest))
				if err := a.fr.WriteContinuation(id, n == len(rest), rest[:n]); err != nil {
					return err
				}
				rest = rest[n:]
			}
			// An empty HealthCheckRequest, then END_STREAM.
			return a.fr.WriteData(id, true, []byte{0, 0, 0, 0, 0})
		})
		return id, err
	}
	small, err := send(1 << 10)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "call with 1 KiB of headers answered", func() error {
		a.resetsMu.Lock()
		defer a.resetsMu.Unlock()
		if !a.answered[small] {
			return fmt.Errorf("no answer; reset: %v", a.resets[small])
		}
		return nil
	})
	// A write error means the server closed the connection while the
	// headers were still being sent.
	big, err := send(200 << 10)
	if err != nil {
		t.Logf("sending 200 KiB of headers: %v", err)
	}
	eventually(t, 5*time.Second, "call with 200 KiB of headers refused", func() error {
		a.resetsMu.Lock()
		defer a.resetsMu.Unlock()
		if a.answered[big] {
			return errors.New("answered")
		}
		if _, reset := a.resets[big]; reset {
			return nil
		}
		select {
		case <-a.readerDone:
			return nil
		default:
			return errors.New("neither reset nor connection closed")
		}
	})
	a.resetsMu.Lock()
	answered := a.answered[big]
	a.resetsMu.Unlock()
	if answered {
		t.Errorf("the call with 200 KiB of headers was answered")
	}
}

// Each listener caps its open connections: with the cap taken by silent
// connections, a new client waits (in the accept queue) instead of being
// served, and is served as soon as one of them closes.
func TestListenerConnectionCap(t *testing.T) {
	const limit = 8
	ts := startServer(t, "", func(c *server.Config) { c.MaxConnections = limit })
	addr := strings.TrimPrefix(ts.baseURL, "http://")
	var idle []net.Conn
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err == nil {
		t.Fatalf("connection %d of a listener capped at %d was served: %q", limit+1, limit, line)
	}
	idle[0].Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("after a slot freed: %q, %v", line, err)
	}
}

// The HTTP listener speaks HTTP/1.1 only: an HTTP/2 (h2c) client preface
// gets an HTTP/1.1 error, not an HTTP/2 connection with its own limits.
func TestHTTPListenerIsHTTP1Only(t *testing.T) {
	ts := startServer(t, "")
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 ") {
		t.Fatalf("answer to the h2c preface: %q, %v", line, err)
	}
}
