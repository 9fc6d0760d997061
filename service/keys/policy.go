package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// policySetting names the sealed setting that holds the key policy.
const policySetting = "key-policy"

// ErrNoPolicy means no `gatehouse serve` has stored a key policy yet (an
// empty database, or one last served by an older version).
var ErrNoPolicy = errors.New("no signing keys or key policy yet: start `gatehouse serve` once first; it creates the first signing key and stores the key policy")

// StoredPolicy is the key policy shared by every replica and every CLI run.
// The first `gatehouse serve` on a database stores its configuration;
// afterwards the stored values win over defaults, a replica whose explicit
// flags differ refuses to start (unless told to record them), and
// `gatehouse keys policy set` changes them.
//
// RetainRetired is the exception: every `serve` raises it to its own access
// token lifetime + leeway (+1 min) at start and it never decreases, so a
// retired key stays published until the last token of the longest lifetime
// any replica has used has expired.
type StoredPolicy struct {
	Alg              string        `json:"alg"`
	RSABits          int           `json:"rsa_bits"`
	RotationInterval time.Duration `json:"rotation_interval_ns"`
	PublishLead      time.Duration `json:"publish_lead_ns"`
	RetainRetired    time.Duration `json:"retain_retired_ns"`
}

// Lifecycle returns the lifecycle part of the policy.
func (p StoredPolicy) Lifecycle() Policy {
	return Policy{RotationInterval: p.RotationInterval, PublishLead: p.PublishLead, RetainRetired: p.RetainRetired}
}

// Validate checks the policy.
func (p StoredPolicy) Validate() error {
	if !jose.Supported(p.Alg) {
		return fmt.Errorf("signing algorithm %q is not supported (use ES256, EdDSA or RS256)", p.Alg)
	}
	if p.RSABits != 2048 && p.RSABits != 3072 {
		return fmt.Errorf("RSA key size %d is not supported (use 2048 or 3072)", p.RSABits)
	}
	return p.Lifecycle().Validate()
}

// PolicyChange is an operator's change of the stored policy; zero or nil
// fields stay as stored. RetainRetired cannot be changed: it only grows,
// when a server with longer-lived tokens starts.
type PolicyChange struct {
	Alg              string
	RSABits          int
	RotationInterval *time.Duration
	PublishLead      *time.Duration
}

// configured is the policy this process's configuration asks for.
func (m *Manager) configured() StoredPolicy {
	return StoredPolicy{Alg: m.alg, RSABits: m.rsaBits, RotationInterval: m.policy.RotationInterval, PublishLead: m.policy.PublishLead, RetainRetired: m.policy.RetainRetired}
}

func (m *Manager) sealPolicy(p StoredPolicy) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode key policy: %w", err)
	}
	sealed, err := m.master.Seal(b, SettingAD(policySetting))
	if err != nil {
		return nil, fmt.Errorf("seal key policy: %w", err)
	}
	return sealed, nil
}

// openPolicy decodes the stored policy; ErrNoPolicy when there is none.
func (m *Manager) openPolicy(sealed []byte) (StoredPolicy, error) {
	if sealed == nil {
		return StoredPolicy{}, ErrNoPolicy
	}
	b, err := m.master.Open(sealed, SettingAD(policySetting))
	if err != nil {
		return StoredPolicy{}, fmt.Errorf("open the stored key policy (is its master key configured?): %w", err)
	}
	var p StoredPolicy
	if err := json.Unmarshal(b, &p); err != nil {
		return StoredPolicy{}, fmt.Errorf("decode the stored key policy: %w", err)
	}
	if err := p.Validate(); err != nil {
		return StoredPolicy{}, fmt.Errorf("stored key policy: %w", err)
	}
	return p, nil
}

// Policy returns the stored key policy, or ErrNoPolicy.
func (m *Manager) Policy(ctx context.Context) (StoredPolicy, error) {
	var p StoredPolicy
	err := m.store.ChangeKeysWith(ctx, policySetting, func(_ []store.SigningKey, sealed []byte) (store.KeyChanges, []byte, error) {
		var err error
		p, err = m.openPolicy(sealed)
		return store.KeyChanges{}, nil, err
	})
	return p, err
}

// SetPolicy changes the stored key policy (`gatehouse keys policy set`).
// Every replica uses the new values from its next key check on; keys that
// exist keep their algorithm and schedule until they are replaced.
func (m *Manager) SetPolicy(ctx context.Context, ch PolicyChange) (before, after StoredPolicy, err error) {
	err = m.store.ChangeKeysWith(ctx, policySetting, func(_ []store.SigningKey, sealed []byte) (store.KeyChanges, []byte, error) {
		var err error
		if before, err = m.openPolicy(sealed); err != nil {
			return store.KeyChanges{}, nil, err
		}
		after = before
		if ch.Alg != "" {
			after.Alg = ch.Alg
		}
		if ch.RSABits != 0 {
			after.RSABits = ch.RSABits
		}
		if ch.RotationInterval != nil {
			after.RotationInterval = *ch.RotationInterval
		}
		if ch.PublishLead != nil {
			after.PublishLead = *ch.PublishLead
		}
		if err := after.Validate(); err != nil {
			return store.KeyChanges{}, nil, err
		}
		if after == before {
			return store.KeyChanges{}, nil, nil
		}
		v, err := m.sealPolicy(after)
		return store.KeyChanges{}, v, err
	})
	if err == nil && after != before {
		m.log.Warn("key policy changed", "before", before.String(), "after", after.String())
	}
	return before, after, err
}

// String is a one-line summary for logs and the CLI.
func (p StoredPolicy) String() string {
	s := fmt.Sprintf("alg=%s rotation-interval=%s publish-lead=%s retain-retired=%s", p.Alg, p.RotationInterval, p.PublishLead, p.RetainRetired)
	if p.Alg == jose.RS256 {
		s += fmt.Sprintf(" rsa-bits=%d", p.RSABits)
	}
	return s
}

// policyDiff is a configured value that differs from the stored one.
type policyDiff struct {
	name             string
	configured, used string
}

// reconcile merges this serve's configuration into the stored policy: with
// none stored, the configuration is stored as is; otherwise the stored
// algorithm, RSA size, interval and lead win (each difference is reported),
// and RetainRetired becomes the larger of the two.
func reconcile(stored *StoredPolicy, cfg StoredPolicy) (merged StoredPolicy, changed bool, diffs []policyDiff) {
	if stored == nil {
		return cfg, true, nil
	}
	merged = *stored
	if cfg.Alg != merged.Alg {
		diffs = append(diffs, policyDiff{"signing-alg", cfg.Alg, merged.Alg})
	}
	if (cfg.Alg == jose.RS256 || merged.Alg == jose.RS256) && cfg.RSABits != merged.RSABits {
		diffs = append(diffs, policyDiff{"rsa-bits", fmt.Sprint(cfg.RSABits), fmt.Sprint(merged.RSABits)})
	}
	if cfg.RotationInterval != merged.RotationInterval {
		diffs = append(diffs, policyDiff{"key-rotation-interval", cfg.RotationInterval.String(), merged.RotationInterval.String()})
	}
	if cfg.PublishLead != merged.PublishLead {
		diffs = append(diffs, policyDiff{"key-publish-lead", cfg.PublishLead.String(), merged.PublishLead.String()})
	}
	if cfg.RetainRetired > merged.RetainRetired {
		merged.RetainRetired = cfg.RetainRetired
		changed = true
	}
	return merged, changed, diffs
}

// Start is what `gatehouse serve` does once at start, in one step under the
// key lock: store the key policy on an empty database (or merge this
// replica's token lifetime into the stored one), then run the scheduled
// lifecycle step with the stored policy. A setting left at its default that
// disagrees with the stored policy is logged and the stored value wins; an
// explicit one stops the start (PolicyConflictError) unless AcceptChange.
func (m *Manager) Start(ctx context.Context) error {
	if !m.schedule {
		return errNoSchedule
	}
	cfg := m.configured()
	var diffs, recorded []policyDiff
	var merged StoredPolicy
	var created, raised bool
	err := m.store.ChangeKeysWith(ctx, policySetting, func(keys []store.SigningKey, sealed []byte) (store.KeyChanges, []byte, error) {
		var stored *StoredPolicy
		if sealed != nil {
			p, err := m.openPolicy(sealed)
			if err != nil {
				return store.KeyChanges{}, nil, err
			}
			stored = &p
		}
		var changed bool
		merged, changed, diffs = reconcile(stored, cfg)
		created, raised = stored == nil, stored != nil && changed
		var err error
		if merged, diffs, recorded, err = m.settleExplicit(merged, cfg, diffs); err != nil {
			return store.KeyChanges{}, nil, err
		}
		changed = changed || len(recorded) > 0
		var value []byte
		if changed {
			var err error
			if value, err = m.sealPolicy(merged); err != nil {
				return store.KeyChanges{}, nil, err
			}
		}
		c, err := m.byPurpose(keys, merged, func(keys []store.SigningKey, newKey newKeyFunc) (store.KeyChanges, error) {
			return plan(keys, m.now().UTC(), merged.Lifecycle(), newKey)
		})
		if err != nil {
			return store.KeyChanges{}, nil, err
		}
		m.logChanges("scheduled", c)
		return c, value, nil
	})
	if err != nil {
		return err
	}
	switch {
	case created:
		m.log.Info("stored the key policy from this server's configuration", "policy", merged.String())
	case raised:
		m.log.Info("raised the stored retention of retired keys to this server's token lifetime", "retain_retired", merged.RetainRetired)
	}
	if cfg.RetainRetired < merged.RetainRetired {
		m.log.Info("retired keys stay published for the longest token lifetime any server has used", "configured", cfg.RetainRetired, "used", merged.RetainRetired)
	}
	if len(recorded) > 0 {
		m.log.Warn("recorded this server's key policy settings in the database (--accept-key-policy-change); every replica uses them from its next key check", diffAttrs(recorded)...)
	}
	if len(diffs) > 0 {
		m.log.Info("default key policy settings differ from the ones stored in the database; the stored values are used (change them with `gatehouse keys policy set`)", diffAttrs(diffs)...)
	}
	return nil
}

// diffAttrs names every difference on one log line: configured and stored.
func diffAttrs(diffs []policyDiff) []any {
	var attrs []any
	for _, d := range diffs {
		attrs = append(attrs, slog.Group(d.name, "configured", d.configured, "stored", d.used))
	}
	return attrs
}

// PolicyConflictError is a serving instance whose explicitly given key
// policy settings differ from the stored policy.
type PolicyConflictError struct{ diffs []policyDiff }

func (e *PolicyConflictError) Error() string {
	var parts []string
	for _, d := range e.diffs {
		parts = append(parts, fmt.Sprintf("--%s %s (the database records %s)", d.name, d.configured, d.used))
	}
	return fmt.Sprintf("this server's key policy differs from the one every replica shares: %s; drop the flag to use the recorded value, change it for all with `gatehouse keys policy set`, or start once with --accept-key-policy-change to record this server's value",
		strings.Join(parts, ", "))
}

// settleExplicit splits the differences reconcile found: settings the
// operator gave explicitly either stop the start (PolicyConflictError) or,
// with AcceptChange, replace the stored values; the rest stay differences
// in which the stored policy wins.
func (m *Manager) settleExplicit(merged, cfg StoredPolicy, diffs []policyDiff) (StoredPolicy, []policyDiff, []policyDiff, error) {
	var rest, explicit []policyDiff
	for _, d := range diffs {
		if slices.Contains(m.explicit, d.name) {
			explicit = append(explicit, d)
		} else {
			rest = append(rest, d)
		}
	}
	if len(explicit) == 0 {
		return merged, rest, nil, nil
	}
	if !m.acceptChange {
		return merged, rest, nil, &PolicyConflictError{explicit}
	}
	for _, d := range explicit {
		switch d.name {
		case "signing-alg":
			merged.Alg = cfg.Alg
		case "rsa-bits":
			merged.RSABits = cfg.RSABits
		case "key-rotation-interval":
			merged.RotationInterval = cfg.RotationInterval
		case "key-publish-lead":
			merged.PublishLead = cfg.PublishLead
		}
	}
	if err := merged.Validate(); err != nil {
		return merged, rest, nil, err
	}
	return merged, rest, explicit, nil
}
