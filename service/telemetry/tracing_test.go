package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse/gatehouse/service/telemetry"
)

// otelEnv is every variable NewTracing, its exporters or the SDK reads that a
// case may set; each case starts with all of them empty.
var otelEnv = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
}

// received is what a loopback OTLP receiver got: service names and span
// names of every exported span.
type received struct {
	services []string
	spans    []string
}

func (r *received) add(req *coltracepb.ExportTraceServiceRequest) {
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.services = append(r.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
			}
		}
	}
}

// httpReceiver is an OTLP/HTTP (protobuf) receiver on loopback.
func httpReceiver(t *testing.T, got chan<- *coltracepb.ExportTraceServiceRequest) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		req := new(coltracepb.ExportTraceServiceRequest)
		if err == nil {
			err = proto.Unmarshal(body, req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- req
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// grpcReceiver is an OTLP/gRPC receiver on loopback.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	got chan<- *coltracepb.ExportTraceServiceRequest
}

func (g grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.got <- req
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func startGRPCReceiver(t *testing.T, got chan<- *coltracepb.ExportTraceServiceRequest) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcReceiver{got: got})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return "http://" + lis.Addr().String()
}

func TestNewTracingFromEnvironment(t *testing.T) {
	const (
		noReceiver = iota
		httpRecv
		grpcRecv
		console
	)
	cases := []struct {
		name     string
		env      map[string]string // "{addr}" is the receiver's URL
		receiver int
		wantErr  string
		// wantOn: spans are exported; wantExporter names the exporter.
		wantOn       bool
		wantExporter string
		// wantSampled: the probe span is recorded and exported.
		wantSampled bool
		wantService string
	}{
		{name: "nothing set: off", wantExporter: "none"},
		{name: "protocol alone: off", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantExporter: "none"},
		{name: "exporter none beats an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "{addr}"}, receiver: httpRecv, wantExporter: "none"},
		{name: "OTEL_SDK_DISABLED beats an endpoint", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "{addr}"}, receiver: httpRecv, wantExporter: "none"},
		{
			name: "endpoint alone: otlp over http/protobuf", receiver: httpRecv,
			env:    map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{addr}"},
			wantOn: true, wantExporter: "otlp", wantSampled: true, wantService: "gatehouse",
		},
		{
			name: "otlp http/protobuf named explicitly", receiver: httpRecv,
			env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{addr}/v1/traces"},
			wantOn: true, wantExporter: "otlp", wantSampled: true, wantService: "gatehouse",
		},
		{
			name: "otlp over grpc with a service name", receiver: grpcRecv,
			env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{addr}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_SERVICE_NAME": "auth-edge"},
			wantOn: true, wantExporter: "otlp", wantSampled: true, wantService: "auth-edge",
		},
		{
			name: "console", receiver: console,
			env:    map[string]string{"OTEL_TRACES_EXPORTER": "console"},
			wantOn: true, wantExporter: "console", wantSampled: true, wantService: "gatehouse",
		},
		{
			name: "sampler always_off", receiver: httpRecv,
			env:    map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{addr}", "OTEL_TRACES_SAMPLER": "always_off"},
			wantOn: true, wantExporter: "otlp",
		},
		{
			name: "sampler traceidratio 0", receiver: httpRecv,
			env:    map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{addr}", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
			wantOn: true, wantExporter: "otlp",
		},
		{
			name: "sampler parentbased_traceidratio 1", receiver: httpRecv,
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{addr}", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
				"OTEL_TRACES_SAMPLER_ARG": "1"},
			wantOn: true, wantExporter: "otlp", wantSampled: true, wantService: "gatehouse",
		},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "zipkin"},
		{name: "unknown protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "protocol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range otelEnv {
				t.Setenv(k, "")
			}
			got := make(chan *coltracepb.ExportTraceServiceRequest, 16)
			var addr string
			switch tc.receiver {
			case httpRecv:
				addr = httpReceiver(t, got)
			case grpcRecv:
				addr = startGRPCReceiver(t, got)
			}
			for k, v := range tc.env {
				t.Setenv(k, strings.ReplaceAll(v, "{addr}", addr))
			}
			ctx := context.Background()
			tr, err := telemetry.NewTracing(ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewTracing: error %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewTracing: %v", err)
			}
			if tr.Enabled() != tc.wantOn || tr.Exporter() != tc.wantExporter {
				t.Fatalf("enabled %v exporter %q, want %v %q", tr.Enabled(), tr.Exporter(), tc.wantOn, tc.wantExporter)
			}
			if _, isNoop := tr.Provider.(noop.TracerProvider); isNoop == tc.wantOn {
				t.Fatalf("provider %T with tracing on=%v", tr.Provider, tc.wantOn)
			}
			_, span := tr.Provider.Tracer("test").Start(ctx, "probe")
			if span.IsRecording() != tc.wantSampled {
				t.Errorf("probe span recording %v, want %v", span.IsRecording(), tc.wantSampled)
			}
			span.End()
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if tc.receiver == console {
				// stdouttrace wrote the span to the process's stdout (the
				// writer it took at init), which a test cannot redirect.
				return
			}
			var r received
			close(got)
			for req := range got {
				r.add(req)
			}
			if !tc.wantSampled {
				if len(r.spans) > 0 {
					t.Fatalf("exported %v, want nothing", r.spans)
				}
				return
			}
			if len(r.spans) != 1 || r.spans[0] != "probe" {
				t.Fatalf("exported spans %v, want [probe]", r.spans)
			}
			if len(r.services) == 0 || r.services[0] != tc.wantService {
				t.Fatalf("service.name %v, want %q", r.services, tc.wantService)
			}
		})
	}
}

// An unreachable collector costs the shutdown at most its context's time:
// the flush gives up with an error instead of holding the process.
func TestTracingShutdownIsBounded(t *testing.T) {
	for _, k := range otelEnv {
		t.Setenv(k, "")
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	tr, err := telemetry.NewTracing(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "probe")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := tr.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown with a collector that never answers: no error")
	}
}

func TestDisabledAndNilTracing(t *testing.T) {
	for name, tr := range map[string]*telemetry.Tracing{"Disabled": telemetry.Disabled(), "nil": nil} {
		if tr.Enabled() {
			t.Errorf("%s: enabled", name)
		}
		if _, ok := tr.TracerProvider().(noop.TracerProvider); !ok {
			t.Errorf("%s: provider %T, want the no-op one", name, tr.TracerProvider())
		}
		if f := tr.TextMapPropagator().Fields(); !strings.Contains(strings.Join(f, ","), "traceparent") {
			t.Errorf("%s: propagator fields %v, want traceparent", name, f)
		}
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Errorf("%s: Shutdown: %v", name, err)
		}
	}
}
