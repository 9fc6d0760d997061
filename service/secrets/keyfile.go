package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

const (
	maxKeyFileSize = 4096
	// A process that loses the race to create the key file may find it
	// still empty for a moment; it retries for about a second.
	keyFileAttempts   = 20
	keyFileRetryDelay = 50 * time.Millisecond
)

var errKeyFileEmpty = errors.New("is empty")

// LoadOrCreateMasterKeyFile reads the master key from the file at path, in
// the text form ParseMasterKey accepts. If the file does not exist it creates
// it, and any missing parent directories (mode 0700), holding a new key, with
// mode 0600, and reports created. Creation is exclusive, so processes
// starting together agree on one key.
//
// An existing file that group or others may access is refused rather than
// used: its key must be presumed leaked. An existing but empty or invalid
// file is an error too; it is never overwritten, since data sealed under a
// lost key cannot be recovered.
func LoadOrCreateMasterKeyFile(path string) (key *MasterKey, created bool, err error) {
	for range keyFileAttempts {
		key, err = readMasterKeyFile(path)
		switch {
		case err == nil:
			return key, false, nil
		case errors.Is(err, fs.ErrNotExist):
			key, err = createMasterKeyFile(path)
			if err == nil {
				return key, true, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return nil, false, err
			}
			// Another process created it first: read that one.
		case errors.Is(err, errKeyFileEmpty):
			// Possibly created by another process that has not written it yet.
			time.Sleep(keyFileRetryDelay)
		default:
			return nil, false, err
		}
	}
	return nil, false, err
}

func readMasterKeyFile(path string) (*MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: reading master key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checks apply to what is read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secrets: reading master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secrets: master key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits to check.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("secrets: master key file %s has mode %04o, which gives group or others access; "+
			"restrict it to the owner (chmod 600) and consider the key compromised if others could read it",
			path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("secrets: reading master key file: %w", err)
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("secrets: master key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, fmt.Errorf("secrets: master key file %s %w", path, errKeyFileEmpty)
	}
	raw, err := decodeMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secrets: invalid master key in file %s: %w", path, err)
	}
	return NewMasterKey(raw)
}

// createMasterKeyFile writes a new key to path, failing with an error that
// wraps fs.ErrExist if path already exists.
func createMasterKeyFile(path string) (*MasterKey, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets: creating master key directory: %w", err)
	}
	key, text, err := GenerateMasterKey()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secrets: creating master key file: %w", err)
	}
	// One write, so a concurrent reader sees the file empty or complete.
	_, err = f.Write([]byte(text + "\n"))
	if err == nil {
		// Losing a master key loses everything sealed under it: make the
		// file durable before anything gets sealed.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path) // do not leave an empty or partial key behind
		return nil, fmt.Errorf("secrets: writing master key file: %w", err)
	}
	syncDir(dir)
	return key, nil
}

// syncDir makes a new directory entry durable. It is best effort: some
// systems cannot sync directories, and the file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
