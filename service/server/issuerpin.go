package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/store"
)

// issuerSetting names the sealed setting that records the issuer of the
// tokens the database's replicas issue. The value is not secret; it is
// sealed like every setting so that `masterkey rewrap` treats all alike.
const issuerSetting = "issuer"

// pinIssuer records the issuer on first serve, and refuses a replica whose
// issuer differs from the recorded one unless accept is set (then the new
// issuer is recorded): replicas with different issuers would reject each
// other's tokens.
func pinIssuer(ctx context.Context, st *store.Store, master *keys.MasterKeys, issuer string, accept bool, log *slog.Logger) error {
	sealed, err := master.Seal([]byte(issuer), keys.SettingAD(issuerSetting))
	if err != nil {
		return fmt.Errorf("seal the issuer: %w", err)
	}
	stored, err := st.Setting(ctx, issuerSetting)
	if errors.Is(err, store.ErrNotFound) {
		err = st.CreateSetting(ctx, issuerSetting, sealed)
		if err == nil {
			log.Info("recorded the issuer in the database", "issuer", issuer)
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("record the issuer: %w", err)
		}
		// Another replica recorded it first: compare with its value.
		stored, err = st.Setting(ctx, issuerSetting)
	}
	if err != nil {
		return fmt.Errorf("read the recorded issuer: %w", err)
	}
	plain, err := master.Open(stored, keys.SettingAD(issuerSetting))
	if err != nil {
		return fmt.Errorf("open the recorded issuer (is its master key configured?): %w", err)
	}
	recorded := string(plain)
	if recorded == issuer {
		return nil
	}
	if !accept {
		return fmt.Errorf("the issuer %q differs from %q, the issuer the database records (set by the first `gatehouse serve`): give --issuer %s, or to change the issuer of every replica start with --accept-issuer-change (GATEHOUSE_ACCEPT_ISSUER_CHANGE=true); tokens issued under the old issuer stop validating", issuer, recorded, recorded)
	}
	if err := st.PutSetting(ctx, issuerSetting, sealed); err != nil {
		return fmt.Errorf("record the new issuer: %w", err)
	}
	log.Warn("changed the issuer the database records (--accept-issuer-change); replicas still on the old issuer refuse to start, and tokens issued under it no longer validate here", "old", recorded, "new", issuer)
	return nil
}
