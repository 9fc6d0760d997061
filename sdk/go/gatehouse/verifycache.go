package gatehouse

import (
	"crypto/sha256"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// verifyCacheSize bounds the remembered verified tokens.
const verifyCacheSize = 10000

// verifyCache remembers tokens whose header and signature were verified,
// with the key set they were verified against: a service sees the same
// bearer token on many requests and pays one signature check for it.
// Claims (exp, ...) and revocations are still checked on every use; a
// refetched key set makes every entry unusable.
type verifyCache struct {
	mu      sync.Mutex
	entries map[[32]byte]verified
}

type verified struct {
	claims claims
	kid    string
	set    jwk.Set
}

func (c *verifyCache) get(token string, set jwk.Set) (verified, bool) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.set != set {
		return verified{}, false
	}
	return e, true
}

func (c *verifyCache) put(token string, e verified) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[[32]byte]verified)
	}
	if len(c.entries) >= verifyCacheSize {
		for k := range c.entries { // map order: a random victim
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}
