package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/store"
)

// Options tune the Writer; zero fields take the defaults.
type Options struct {
	// QueueSize bounds the events waiting to be written (default 10000).
	QueueSize int
	// BatchSize is the most events one insert writes (default 200); a full
	// batch is written at once, a partial one every FlushEvery (500 ms).
	BatchSize  int
	FlushEvery time.Duration
	// WriteTimeout bounds one batch insert (default 5 s).
	WriteTimeout time.Duration
	Now          func() time.Time
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 500 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Writer is a core.Observer that stores login-type events in batches.
type Writer struct {
	store    *store.Store
	auditLog *slog.Logger // the JSON audit lines
	log      *slog.Logger // operational messages
	opts     Options
	// queue holds pointers: a buffer of QueueSize events would be 1.5 MiB
	// allocated at start (and scanned by every GC) to absorb a rare burst.
	queue   chan *store.AuditEvent
	dropped prometheus.Counter

	mu     sync.RWMutex // guards closed against sends after Close
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// NewWriter starts a Writer inserting into st. Events that cannot be stored
// are still emitted on auditLog. The dropped-events counter is registered
// on reg.
func NewWriter(st *store.Store, auditLog, log *slog.Logger, reg prometheus.Registerer, opts Options) (*Writer, error) {
	opts = opts.withDefaults()
	w := &Writer{
		store: st, auditLog: auditLog, log: log, opts: opts,
		queue: make(chan *store.AuditEvent, opts.QueueSize),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_audit_events_dropped_total",
			Help: "Login audit events not stored because the queue was full or the database write failed.",
		}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if reg != nil {
		if err := reg.Register(w.dropped); err != nil {
			return nil, fmt.Errorf("register audit metrics: %w", err)
		}
	}
	go w.run()
	return w, nil
}

// Observe implements core.Observer: it never blocks. A full queue drops the
// event and counts it.
func (w *Writer) Observe(ctx context.Context, e core.Event) {
	if !kept(e) {
		return // before ev, which the queue takes the address of, is allocated
	}
	ev := fromCore(ctx, e)
	ev.Time = w.opts.Now().UTC().Truncate(time.Microsecond)
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.dropped.Inc()
		return
	}
	select {
	case w.queue <- &ev:
	default:
		// No logging here: under a flood that would be I/O on the request
		// path. The counter is what to alert on.
		w.dropped.Inc()
	}
}

// run collects batches and writes them until Close, then drains the queue.
func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTicker(w.opts.FlushEvery)
	defer t.Stop()
	batch := make([]store.AuditEvent, 0, w.opts.BatchSize)
	flush := func() {
		if len(batch) > 0 {
			w.write(batch)
			batch = make([]store.AuditEvent, 0, w.opts.BatchSize)
		}
	}
	for {
		select {
		case e := <-w.queue:
			batch = append(batch, *e)
			if len(batch) == w.opts.BatchSize {
				flush()
			}
		case <-t.C:
			flush()
		case <-w.stop:
			// Close has made further sends impossible: what is queued is all.
			for {
				select {
				case e := <-w.queue:
					batch = append(batch, *e)
					if len(batch) == w.opts.BatchSize {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// write stores one batch; the store emits the committed events on the
// audit log (store.WithAuditSink), a failed batch is emitted here.
func (w *Writer) write(batch []store.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.WriteTimeout)
	defer cancel()
	if err := w.store.AppendAudit(ctx, batch...); err != nil {
		w.log.Warn("could not store audit events", "events", len(batch), "err", err)
		w.dropped.Add(float64(len(batch)))
		Emit(ctx, w.auditLog, batch...)
	}
}

// Close stops accepting events and writes what is queued, waiting at most
// until ctx ends. It may be called more than once.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return errors.Join(errors.New("audit writer: queued events not all written"), ctx.Err())
	}
}
