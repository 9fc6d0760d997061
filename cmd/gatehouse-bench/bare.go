package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// The yardstick and the gRPC floor run, by default, in a child process of
// their own (this program re-executed), as gatehouse runs in its own:
// inside the tool's process a bare server would share the load generator's
// scheduler and garbage collector, and calls would hand over between
// goroutines of one process instead of crossing to another. That made the
// in-process gRPC floor about a third faster than the same server in a
// process of its own (39.5k against 29.0k req/s, 16 callers on 2 cores),
// an advantage no deployed server has. -bare-in-process keeps the old
// arrangement for comparison.

const (
	// envBareServer makes this process a bare server of the kind it names
	// (scYardstickGRPC or scGRPCFloor) instead of the load tool.
	envBareServer = "GATEHOUSE_BENCH_BARE_SERVER"
	// envBareJWKS is the JWKS the yardstick verifies with.
	envBareJWKS = "GATEHOUSE_BENCH_BARE_JWKS"
	// bareStartTimeout bounds how long a child may take to say where it
	// listens.
	bareStartTimeout = 10 * time.Second
)

// bareServer is a running yardstick or gRPC floor.
type bareServer interface {
	address() string
	stop() error
}

func (y *yardstick) address() string { return y.addr }

// startBare starts the bare server of kind with jwksJSON (the yardstick's
// keys), in a child process unless inProcess.
func startBare(kind string, jwksJSON []byte, inProcess bool) (bareServer, error) {
	if inProcess {
		return startBareHere(kind, jwksJSON)
	}
	return startBareProcess(kind, jwksJSON)
}

// startBareHere starts the bare server of kind in this process.
func startBareHere(kind string, jwksJSON []byte) (*yardstick, error) {
	switch kind {
	case scYardstickGRPC:
		return startYardstick(jwksJSON)
	case scGRPCFloor:
		return startBareAuthServer(grpcFloorServer{})
	}
	return nil, fmt.Errorf("no bare server %q", kind)
}

// serveBareChild is the whole program of a child started by
// startBareProcess: it serves kind on 127.0.0.1, writes the address as one
// line to stdout and stops when stdin reaches its end (the parent closed it,
// or exited).
func serveBareChild(kind, jwksJSON string, stdin io.Reader, stdout, stderr io.Writer) int {
	y, err := startBareHere(kind, []byte(jwksJSON))
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse-bench %s: %v\n", kind, err)
		return exitFailure
	}
	fmt.Fprintln(stdout, y.addr)
	_, _ = io.Copy(io.Discard, stdin)
	if err := y.stop(); err != nil {
		fmt.Fprintf(stderr, "gatehouse-bench %s: %v\n", kind, err)
		return exitFailure
	}
	return exitOK
}

// bareProcess is a bare server in a child process.
type bareProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	done  chan error
}

// startBareProcess re-executes this program as a bare server of kind and
// waits until it says where it listens.
func startBareProcess(kind string, jwksJSON []byte) (*bareProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(childEnv(os.Environ()), envBareServer+"="+kind, envBareJWKS+"="+string(jwksJSON))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("child process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("child process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start child process: %w", err)
	}
	p := &bareProcess{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-lines:
	case <-time.After(bareStartTimeout):
	}
	if p.addr == "" {
		_ = p.stop()
		return nil, fmt.Errorf("child process did not start: %s", strings.TrimSpace(stderr.String()))
	}
	return p, nil
}

func (p *bareProcess) address() string { return p.addr }

// childEnv is this process's environment without the tool's own settings
// (the credentials among them): the child needs none of them, while Go's
// (GOMAXPROCS, GOGC, ...) apply to it as to any server.
func childEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "GATEHOUSE_BENCH_") })
}

// stop closes the child's stdin, which ends it, and waits for it; a child
// that does not end within bareStartTimeout is killed.
func (p *bareProcess) stop() error {
	_ = p.stdin.Close()
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("child process: %w", err)
		}
		return nil
	case <-time.After(bareStartTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("child process did not stop: killed")
	}
}
