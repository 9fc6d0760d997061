package secrets

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateMasterKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "master.key")

	m, created, err := LoadOrCreateMasterKeyFile(path)
	if err != nil || !created || m == nil {
		t.Fatalf("first call = %v, %v, %v; want key, true, nil", m, created, err)
	}
	if runtime.GOOS != "windows" {
		assertMode(t, path, 0o600)
		assertMode(t, dir, 0o700)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fromText, err := ParseMasterKey(string(text)); err != nil || fromText.key != m.key {
		t.Fatalf("file content does not parse to the returned key (%v)", err)
	}

	again, created, err := LoadOrCreateMasterKeyFile(path)
	if err != nil || created {
		t.Fatalf("second call = %v, %v, %v; want key, false, nil", again, created, err)
	}
	if again.ID() != m.ID() {
		t.Fatal("reloaded a different key")
	}
	sealed, err := m.Seal([]byte("x"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Open(sealed, []byte("ad")); err != nil {
		t.Fatalf("reloaded key cannot open: %v", err)
	}
}

func TestLoadOrCreateMasterKeyFileExisting(t *testing.T) {
	want, text, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr []string // substrings; nil means success with want
	}{
		{"ok", text + "\n", 0o600, nil},
		{"ok read-only", text, 0o400, nil},
		{"ok hex", "  " + strings.Repeat("00", 32) + "\n", 0o600, nil},
		{"world readable", text, 0o644, []string{"0644", "master.key"}},
		{"group readable", text, 0o640, []string{"0640", "master.key"}},
		{"group writable", text, 0o620, []string{"0620"}},
		{"empty", "", 0o600, []string{"master.key", "is empty"}},
		{"blank", " \n", 0o600, []string{"master.key", "is empty"}},
		{"garbage", "this is not a key at all\n", 0o600, []string{"master.key", "invalid master key"}},
		{"short key", text[:20], 0o600, []string{"master.key", "invalid master key"}},
		{"huge", strings.Repeat("A", 10000), 0o600, []string{"larger than"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // "empty" and "blank" each wait out the retries
			if runtime.GOOS == "windows" && tc.mode&0o077 != 0 {
				t.Skip("no Unix permissions")
			}
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // umask may have narrowed it
				t.Fatal(err)
			}
			m, created, err := LoadOrCreateMasterKeyFile(path)
			if tc.wantErr == nil {
				if err != nil || created {
					t.Fatalf("= %v, %v, %v; want key, false, nil", m, created, err)
				}
				if tc.name != "ok hex" && m.key != want.key {
					t.Fatal("loaded a different key")
				}
				return
			}
			if err == nil {
				t.Fatalf("= %v, %v, nil; want error", m, created)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), text[:16]) {
				t.Errorf("error %q contains key material", err)
			}
			// A refused file is left alone.
			if got, _ := os.ReadFile(path); string(got) != tc.content {
				t.Error("file was modified")
			}
		})
	}
}

func TestLoadOrCreateMasterKeyFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateMasterKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory as key file: err = %v", err)
	}
}

func TestLoadOrCreateMasterKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	const n = 16
	ids := make([]string, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, created, err := LoadOrCreateMasterKeyFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = m.ID()
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if createdCount != 1 {
		t.Fatalf("%d callers created the file, want 1", createdCount)
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("caller %d got key %s, caller 0 got %s", i, id, ids[0])
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s has mode %04o, want %04o", path, got, want)
	}
}
