package keys

import (
	"testing"
	"time"
)

func TestReconcile(t *testing.T) {
	stored := StoredPolicy{Alg: "ES256", RSABits: 2048, RotationInterval: 30 * day, PublishLead: 2 * time.Hour, RetainRetired: time.Hour}
	tests := []struct {
		name    string
		stored  *StoredPolicy
		cfg     StoredPolicy
		want    StoredPolicy
		changed bool
		diffs   []string
	}{
		{"empty database stores the configuration", nil, StoredPolicy{"EdDSA", 2048, day, time.Hour, time.Minute}, StoredPolicy{"EdDSA", 2048, day, time.Hour, time.Minute}, true, nil},
		{"same configuration", &stored, stored, stored, false, nil},
		{"longer tokens raise the retention", &stored, StoredPolicy{"ES256", 2048, 30 * day, 2 * time.Hour, 3 * time.Hour}, StoredPolicy{"ES256", 2048, 30 * day, 2 * time.Hour, 3 * time.Hour}, true, nil},
		{"shorter tokens keep it", &stored, StoredPolicy{"ES256", 2048, 30 * day, 2 * time.Hour, time.Minute}, stored, false, nil},
		{"stored wins", &stored, StoredPolicy{"RS256", 3072, day, time.Hour, time.Hour}, stored, false, []string{"signing-alg", "rsa-bits", "key-rotation-interval", "key-publish-lead"}},
		{"RSA size matters only for RS256", &stored, StoredPolicy{"ES256", 3072, 30 * day, 2 * time.Hour, time.Hour}, stored, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, diffs := reconcile(tt.stored, tt.cfg)
			if got != tt.want || changed != tt.changed {
				t.Errorf("reconcile = %+v, %v; want %+v, %v", got, changed, tt.want, tt.changed)
			}
			var names []string
			for _, d := range diffs {
				names = append(names, d.name)
				if d.used != "" && d.configured == d.used {
					t.Errorf("diff %+v names equal values", d)
				}
			}
			if len(names) != len(tt.diffs) {
				t.Fatalf("diffs = %v, want %v", names, tt.diffs)
			}
			for i := range names {
				if names[i] != tt.diffs[i] {
					t.Errorf("diffs = %v, want %v", names, tt.diffs)
				}
			}
		})
	}
}

func TestStoredPolicyValidate(t *testing.T) {
	ok := StoredPolicy{Alg: "ES256", RSABits: 2048, RotationInterval: 30 * day, PublishLead: 2 * time.Hour, RetainRetired: time.Hour}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]StoredPolicy{
		"HS256":          {Alg: "HS256", RSABits: 2048, RotationInterval: 30 * day, PublishLead: time.Hour, RetainRetired: time.Hour},
		"1024 bits":      {Alg: "RS256", RSABits: 1024, RotationInterval: 30 * day, PublishLead: time.Hour, RetainRetired: time.Hour},
		"lead >= period": {Alg: "ES256", RSABits: 2048, RotationInterval: time.Hour, PublishLead: time.Hour, RetainRetired: time.Hour},
		"no retention":   {Alg: "ES256", RSABits: 2048, RotationInterval: 30 * day, PublishLead: time.Hour},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}
