package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse/service/server"
)

// deployDir holds the deployment files, relative to this package.
const deployDir = "../../deploy"

// envOnly are the variables read from the environment without a flag
// (secrets do not belong in flags; see newFlagSet).
var envOnly = []string{"GATEHOUSE_MASTER_KEY", "GATEHOUSE_MASTER_KEY_PREVIOUS"}

// probeRoutes are the health routes of service/httpapi that probes may use.
var probeRoutes = []string{"/healthz", "/readyz"}

type deployFile struct {
	rel   string // path under deploy/
	lines []string
}

// readDeployFiles reads every configuration file under deploy/.
func readDeployFiles(t *testing.T) []deployFile {
	t.Helper()
	var files []deployFile
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(deployDir, path)
		if err != nil {
			return err
		}
		files = append(files, deployFile{rel: filepath.ToSlash(rel), lines: strings.Split(string(b), "\n")})
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", deployDir, err)
	}
	for _, want := range []string{"Containerfile", "compose.yaml", "kubernetes/deployment.yaml", "kubernetes/service.yaml", "kubernetes/secret.yaml", "kubernetes/pdb.yaml", "systemd/gatehouse.service"} {
		if !slices.ContainsFunc(files, func(f deployFile) bool { return f.rel == want }) {
			t.Errorf("deploy/%s is missing", want)
		}
	}
	return files
}

// serveFlags lists the flags of `gatehouse serve`, from the same code that
// parses them.
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	flags := map[string]bool{}
	newServeCmd().Flags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
	if len(flags) < 10 {
		t.Fatalf("serve has only %d flags", len(flags))
	}
	return flags
}

func defaultPorts(t *testing.T) (httpPort, grpcPort, opsPort string) {
	t.Helper()
	cfg := server.DefaultConfig()
	_, opsPort, err := net.SplitHostPort(cfg.OpsAddr)
	if err != nil {
		t.Fatalf("default ops address %q: %v", cfg.OpsAddr, err)
	}
	_, httpPort, err = net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		t.Fatalf("default HTTP address %q: %v", cfg.HTTPAddr, err)
	}
	_, grpcPort, err = net.SplitHostPort(cfg.GRPCAddr)
	if err != nil {
		t.Fatalf("default gRPC address %q: %v", cfg.GRPCAddr, err)
	}
	return httpPort, grpcPort, opsPort
}

var (
	envRe      = regexp.MustCompile(`\bGATEHOUSE_[A-Z0-9_]*[A-Z0-9]`)
	flagRe     = regexp.MustCompile(`(?:^|[\s"'\[,])--([a-z][a-z0-9-]*)`)
	assignRe   = regexp.MustCompile(`\b(GATEHOUSE_[A-Z0-9_]+)\s*[=:]\s*"?([^"\s\\]+)`)
	k8sNameRe  = regexp.MustCompile(`^\s*-\s*name:\s*(GATEHOUSE_[A-Z0-9_]+)\s*$`)
	k8sValueRe = regexp.MustCompile(`^\s*value:\s*"?([^"\s#]*)"?`)
	exposeRe   = regexp.MustCompile(`^EXPOSE\s+(.+)$`)
	portKeyRe  = regexp.MustCompile(`^\s*-?\s*(containerPort|port):\s*"?(\d+)"?\s*$`)
	mappingRe  = regexp.MustCompile(`^\s*-\s*"?(?:[\d.]+:)?(\d+):(\d+)(?:/(?:tcp|udp))?"?\s*$`)
	probeURLRe = regexp.MustCompile(`https?://[^/\s"']+:(\d+)(/[^\s"'\]]*)`)
	pathKeyRe  = regexp.MustCompile(`^\s*path:\s*"?([^"\s#]+)"?`)
	argsKeyRe  = regexp.MustCompile(`^(\s*)-?\s*(args|command):\s*(.*)$`)
	listItemRe = regexp.MustCompile(`^(\s*)-\s+(.*)$`)
)

func isComment(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "#") }

// gatehouseFlags extracts the --flags passed to `gatehouse serve`: on command
// lines running it (systemd ExecStart, shell lines) and in the args/command
// lists of YAML files. Comments, `certs dev` and healthcheck lines have
// flags of other commands.
func gatehouseFlags(f deployFile) []string {
	var out []string
	add := func(s string) {
		for _, m := range flagRe.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
	}
	inList, listIndent := false, 0
	for _, line := range f.lines {
		if isComment(line) || strings.Contains(line, "certs dev") || strings.Contains(line, "healthcheck") {
			continue
		}
		if inList {
			if m := listItemRe.FindStringSubmatch(line); m != nil && len(m[1]) >= listIndent {
				add(" " + strings.Trim(m[2], `"'`))
				continue
			}
			inList = false
		}
		if strings.Contains(line, "gatehouse serve") {
			add(line[strings.Index(line, "gatehouse serve"):])
			continue
		}
		if m := argsKeyRe.FindStringSubmatch(line); m != nil && strings.HasSuffix(f.rel, ".yaml") {
			if strings.TrimSpace(m[3]) == "" {
				inList, listIndent = true, len(m[1])
				continue
			}
			add(" " + m[3])
		}
	}
	return out
}

// TestDeployFilesMatchBinary keeps deploy/ from drifting from the binary:
// every environment variable and flag exists in `gatehouse serve`, every
// port is a default listener port and every probe a served health route.
var (
	commandRe = regexp.MustCompile(`^\s*-?\s*(?:args|command):\s*\[(.*)\]`)
	quotedRe  = regexp.MustCompile(`"([^"]*)"`)
)

func TestDeployFilesMatchBinary(t *testing.T) {
	files := readDeployFiles(t)
	flags := serveFlags(t)
	envs := map[string]bool{}
	for name := range flags {
		envs[envName(name)] = true
	}
	for _, e := range envOnly {
		envs[e] = true
	}
	httpPort, grpcPort, opsPort := defaultPorts(t)
	allowedPorts := map[string]bool{httpPort: true, grpcPort: true, opsPort: true}
	wantAddrPort := map[string]string{envName("http-addr"): httpPort, envName("grpc-addr"): grpcPort, envName("ops-addr"): opsPort}

	counts := map[string]int{}
	for _, f := range files {
		var k8sEnv string // the name of the k8s env entry being read
		var probe string  // readinessProbe / livenessProbe being read
		for i, line := range f.lines {
			at := f.rel + ":" + strconv.Itoa(i+1)
			for _, e := range envRe.FindAllString(line, -1) {
				counts["env"]++
				if !envs[e] {
					t.Errorf("%s: %s is not an environment variable of gatehouse serve", at, e)
				}
			}
			if isComment(line) {
				continue
			}
			// Listen addresses: their ports are the defaults.
			var assigns [][2]string
			for _, m := range assignRe.FindAllStringSubmatch(line, -1) {
				assigns = append(assigns, [2]string{m[1], m[2]})
			}
			if m := k8sNameRe.FindStringSubmatch(line); m != nil {
				k8sEnv = m[1]
			} else if m := k8sValueRe.FindStringSubmatch(line); m != nil && k8sEnv != "" {
				assigns = append(assigns, [2]string{k8sEnv, m[1]})
				k8sEnv = ""
			}
			for _, a := range assigns {
				want, ok := wantAddrPort[a[0]]
				if !ok {
					continue
				}
				counts["addr"]++
				if _, port, err := net.SplitHostPort(a[1]); err != nil || port != want {
					t.Errorf("%s: %s=%s, want port %s", at, a[0], a[1], want)
				}
			}
			// Ports of the container.
			if m := exposeRe.FindStringSubmatch(line); m != nil {
				got := strings.Fields(m[1])
				slices.Sort(got)
				want := []string{httpPort, grpcPort, opsPort}
				slices.Sort(want)
				counts["port"]++
				if !slices.Equal(got, want) {
					t.Errorf("%s: EXPOSE %v, want %v", at, got, want)
				}
			}
			if m := portKeyRe.FindStringSubmatch(line); m != nil {
				counts["port"]++
				if !allowedPorts[m[2]] {
					t.Errorf("%s: %s %s is none of %s (HTTP), %s (gRPC), %s (ops)", at, m[1], m[2], httpPort, grpcPort, opsPort)
				}
			}
			if m := mappingRe.FindStringSubmatch(line); m != nil && f.rel == "compose.yaml" {
				counts["port"]++
				if !allowedPorts[m[2]] {
					t.Errorf("%s: published container port %s is none of %s (HTTP), %s (gRPC), %s (ops)", at, m[2], httpPort, grpcPort, opsPort)
				}
			}
			// Probes.
			if strings.Contains(line, "healthcheck") || strings.Contains(line, "test:") {
				for _, m := range probeURLRe.FindAllStringSubmatch(line, -1) {
					counts["probe"]++
					if m[1] != httpPort {
						t.Errorf("%s: probe on port %s, want the HTTP port %s", at, m[1], httpPort)
					}
					if !slices.Contains(probeRoutes, m[2]) {
						t.Errorf("%s: probe path %s is not one of %v", at, m[2], probeRoutes)
					}
				}
			}
			if p, ok := strings.CutSuffix(strings.TrimSpace(line), ":"); ok && strings.HasSuffix(p, "Probe") {
				probe = p
			}
			if m := pathKeyRe.FindStringSubmatch(line); m != nil {
				counts["probe"]++
				want := map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}[probe]
				switch {
				case !slices.Contains(probeRoutes, m[1]):
					t.Errorf("%s: probe path %s is not one of %v", at, m[1], probeRoutes)
				case want != "" && m[1] != want:
					t.Errorf("%s: %s path %s, want %s", at, probe, m[1], want)
				}
			}
		}
		// Commands the files run (args/command lists) exist in the binary.
		for i, line := range f.lines {
			m := commandRe.FindStringSubmatch(line)
			if m == nil || isComment(line) {
				continue
			}
			var words []string
			for _, w := range quotedRe.FindAllStringSubmatch(m[1], -1) {
				words = append(words, w[1])
			}
			if len(words) == 0 || strings.HasPrefix(words[0], "/") || strings.HasPrefix(words[0], "CMD") {
				continue
			}
			counts["command"]++
			var out, errOut bytes.Buffer
			if err := run(context.Background(), append(words, "--help"), strings.NewReader(""), &out, &errOut); err != nil || !strings.Contains(out.String(), "Usage") {
				t.Errorf("%s:%d: `gatehouse %s` is not a command of the binary: %v %s", f.rel, i+1, strings.Join(words, " "), err, errOut.String())
			}
		}
		for _, name := range gatehouseFlags(f) {
			counts["flag"]++
			if !flags[name] {
				t.Errorf("deploy/%s: --%s is not a flag of gatehouse serve", f.rel, name)
			}
		}
	}
	// The extraction must have found what the files are known to hold, or
	// this test checks nothing.
	for kind, min := range map[string]int{"env": 20, "addr": 4, "port": 8, "probe": 3, "flag": 1, "command": 3} {
		if counts[kind] < min {
			t.Errorf("found %d %s references in deploy/, want at least %d: the extraction is broken", counts[kind], kind, min)
		}
	}

	// The probe routes are the ones service/httpapi serves.
	src, err := os.ReadFile("../../service/httpapi/httpapi.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probeRoutes {
		if !bytes.Contains(src, []byte(`"GET `+p+`"`)) {
			t.Errorf("service/httpapi no longer serves GET %s", p)
		}
	}
}

// TestDeployExtraction checks that the extraction catches drift.
func TestDeployExtraction(t *testing.T) {
	f := deployFile{rel: "x.yaml", lines: []string{
		`# gatehouse serve --in-comment`,
		`args: ["serve", "--issuer", "https://a"]`,
		`command:`,
		`  - serve`,
		`  - --no-such-flag=1`,
		`other: x`,
		`ExecStart=/usr/local/bin/gatehouse serve --shutdown-timeout 20s`,
	}}
	if got, want := gatehouseFlags(f), []string{"issuer", "no-such-flag", "shutdown-timeout"}; !slices.Equal(got, want) {
		t.Errorf("flags = %q, want %q", got, want)
	}
	if !envRe.MatchString("GATEHOUSE_TLS_CERT/") || envRe.FindString("x GATEHOUSE_TLS_KEY.") != "GATEHOUSE_TLS_KEY" {
		t.Error("environment variable extraction")
	}
}

// unitValue returns the last value of key in a systemd unit.
func unitValue(lines []string, key string) string {
	v := ""
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			v = rest
		}
	}
	return v
}

// TestDeploySystemdUnit checks the unit's stop timeout against the shutdown
// timeout and runs systemd-analyze verify where it exists.
func TestDeploySystemdUnit(t *testing.T) {
	path := filepath.Join(deployDir, "systemd", "gatehouse.service")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	shutdown := server.DefaultConfig().ShutdownTimeout
	exec0 := unitValue(lines, "ExecStart")
	if m := regexp.MustCompile(`--shutdown-timeout[= ](\S+)`).FindStringSubmatch(exec0); m != nil {
		if shutdown, err = time.ParseDuration(m[1]); err != nil {
			t.Fatalf("ExecStart --shutdown-timeout: %v", err)
		}
	}
	stop, err := time.ParseDuration(unitValue(lines, "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if stop <= shutdown {
		t.Errorf("TimeoutStopSec=%s must exceed the shutdown timeout %s", stop, shutdown)
	}
	for key, want := range map[string]string{"ProtectSystem": "strict", "NoNewPrivileges": "yes", "StateDirectory": "gatehouse", "CapabilityBoundingSet": "", "Restart": "on-failure"} {
		if got := unitValue(lines, key); got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: unit not verified")
	}
	// verify needs ExecStart to exist: point it at an executable.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(exec0)
	if len(fields) == 0 {
		t.Fatal("no ExecStart")
	}
	unit := filepath.Join(t.TempDir(), "gatehouse.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte(fields[0]), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", "--man=no", unit).CombinedOutput()
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "gatehouse.service") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDeployContainerBuild builds deploy/Containerfile where a Docker daemon
// answers and the base images are present (or GATEHOUSE_TEST_DOCKER_PULL=1
// allows pulling them).
func TestDeployContainerBuild(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not found: container build not tested")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, docker, "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker daemon answers (docker info: %v): container build not tested\n%s", err, lastLine(out))
	}
	src, err := os.ReadFile(filepath.Join(deployDir, "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("GATEHOUSE_TEST_DOCKER_PULL") != "1" {
		for _, m := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(src), -1) {
			if exec.CommandContext(ctx, docker, "image", "inspect", m[1]).Run() != nil {
				t.Skipf("base image %s is not present locally and pulling it needs Docker Hub/gcr.io (set GATEHOUSE_TEST_DOCKER_PULL=1 to allow): container build not tested", m[1])
			}
		}
	}
	tag := "gatehouse-deploy-test:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	build := exec.CommandContext(ctx, docker, "build", "-f", "deploy/Containerfile", "-t", tag, ".")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(docker, "image", "rm", "-f", tag).Run() })
	out, err := exec.CommandContext(ctx, docker, "image", "inspect", "--format", "{{json .Config}}", tag).Output()
	if err != nil {
		t.Fatalf("docker image inspect: %v", err)
	}
	var cfg struct {
		User         string
		ExposedPorts map[string]struct{}
		Env          []string
		Volumes      map[string]struct{}
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("image config: %v", err)
	}
	if cfg.User == "" || cfg.User == "root" || strings.HasPrefix(cfg.User, "0") {
		t.Errorf("image user %q, want non-root", cfg.User)
	}
	httpPort, grpcPort, opsPort := defaultPorts(t)
	for _, p := range []string{httpPort + "/tcp", grpcPort + "/tcp", opsPort + "/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("image does not expose %s: %v", p, cfg.ExposedPorts)
		}
	}
	if _, ok := cfg.Volumes["/data"]; !ok || !slices.Contains(cfg.Env, "GATEHOUSE_DATA_DIR=/data") {
		t.Errorf("image volumes %v, env %v: want /data as GATEHOUSE_DATA_DIR", cfg.Volumes, cfg.Env)
	}
	// The static binary runs in the image.
	if out, err := exec.CommandContext(ctx, docker, "run", "--rm", tag, "serve", "-h").CombinedOutput(); !bytes.Contains(out, []byte("GATEHOUSE_HTTP_ADDR")) {
		t.Errorf("gatehouse serve -h in the image: %v\n%s", err, out)
	}
}

// lastLine is the last line of b: docker info ends with the error.
func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndex(s, "\n")+1:]
}
