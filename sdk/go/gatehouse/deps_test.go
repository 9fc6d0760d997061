package gatehouse_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraphIsClean: services import the SDK without gatehouse's
// server, storage or database drivers.
func TestImportGraphIsClean(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/gatehouse/gatehouse/sdk/go/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/gatehouse/gatehouse/store", "github.com/gatehouse/gatehouse/service/",
		"entgo.io/", "github.com/jackc/pgx", "sqlite", "database/sql",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list named only %d packages", len(deps))
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.Contains(d, f) {
				t.Errorf("the SDK depends on %s", d)
			}
		}
	}
}
