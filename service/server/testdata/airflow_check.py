"""Apply Apache Airflow's JWT checks to a gatehouse token.

Airflow 3 (airflow.api_fastapi.auth.tokens.JWTValidator) validates a token
with PyJWT: the key by `kid` from the JWKS, the algorithms the keys are
for, issuer, audience, and the claims exp, iat, nbf and sub required. Its
auth managers then read `sub` as the username and `role` as one role name.

Usage: airflow_check.py JWKS_URL ISSUER AUDIENCE < token
Prints {"sub": ..., "role": ...} as JSON; exits 1 with the reason on stderr
when Airflow would refuse the token, 2 when PyJWT is missing.
"""

import json
import sys

try:
    import jwt
except ImportError as e:  # the Go test checks first and skips
    print(f"PyJWT is not installed (Debian: python3-jwt): {e}", file=sys.stderr)
    sys.exit(2)

ALGORITHMS = ["ES256", "RS256", "EdDSA"]  # what gatehouse's JWKS can serve
REQUIRED = ["exp", "iat", "nbf", "sub"]


def main() -> int:
    jwks_url, issuer, audience = sys.argv[1:4]
    token = sys.stdin.read().strip()
    try:
        header = jwt.get_unverified_header(token)
        if not header.get("kid"):
            raise jwt.InvalidTokenError("Missing 'kid' in token header")
        key = jwt.PyJWKClient(jwks_url).get_signing_key(header["kid"])
        claims = jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=issuer,
            options={"require": REQUIRED},
            leeway=5,
        )
    except jwt.PyJWTError as e:
        print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"sub": claims["sub"], "role": claims.get("role")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
