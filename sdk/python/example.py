#!/usr/bin/env python3
"""Example gatehouse client in Python: gRPC stubs from gen/python plus local JWT validation.

A service client gets a token (client_credentials), asks gatehouse to validate it, looks a
user up with it as bearer token, and finally validates it locally against the JWKS with PyJWT.

Run from the repository root (Debian: python3-grpcio python3-protobuf python3-jwt):

    PYTHONPATH=gen/python GATEHOUSE_CLIENT_ID=billing GATEHOUSE_CLIENT_SECRET=ghcs_... \
        python3 sdk/python/example.py

Environment:
    GATEHOUSE_GRPC_TARGET      gRPC host:port (default localhost:50051)
    GATEHOUSE_URL              HTTP base URL, for the JWKS (default http://localhost:8080)
    GATEHOUSE_ISSUER           expected `iss`: the server's --issuer (default GATEHOUSE_URL)
    GATEHOUSE_AUDIENCE         expected `aud`: the server's --audience (default gatehouse)
    GATEHOUSE_CLIENT_ID        service client id (required; needs role user-lookup or admin)
    GATEHOUSE_CLIENT_SECRET    its secret (required)
    GATEHOUSE_LOOKUP_USERNAME  user to look up (default admin)
    GATEHOUSE_CA_FILE          PEM CA bundle: use TLS for gRPC (for an https GATEHOUSE_URL with a
                               private CA, set SSL_CERT_FILE to the bundle too)

Exits 0 when every step passed, 1 otherwise. Tokens and secrets are never printed.
"""

import os
import sys

import grpc
import jwt

from gatehouse.v1 import auth_pb2, auth_pb2_grpc

# Algorithms gatehouse may sign with; never take the algorithm from the token alone.
ALGORITHMS = ["ES256", "EdDSA", "RS256"]
# RFC 9068 §2.1: access tokens carry typ "at+jwt" (the full media type is also allowed).
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
RPC_TIMEOUT = 10  # seconds per call


class Config:
    def __init__(self, env):
        self.target = env.get("GATEHOUSE_GRPC_TARGET", "localhost:50051")
        self.url = env.get("GATEHOUSE_URL", "http://localhost:8080").rstrip("/")
        self.issuer = env.get("GATEHOUSE_ISSUER", self.url)
        self.audience = env.get("GATEHOUSE_AUDIENCE", "gatehouse")
        self.client_id = env.get("GATEHOUSE_CLIENT_ID", "")
        self.client_secret = env.get("GATEHOUSE_CLIENT_SECRET", "")
        self.lookup_username = env.get("GATEHOUSE_LOOKUP_USERNAME", "admin")
        self.ca_file = env.get("GATEHOUSE_CA_FILE", "")
        if not self.client_id or not self.client_secret:
            raise ValueError("set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET")


def open_channel(cfg):
    if cfg.ca_file:
        with open(cfg.ca_file, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        return grpc.secure_channel(cfg.target, creds)
    return grpc.insecure_channel(cfg.target)


def issue_token(stub, cfg):
    resp = stub.IssueToken(
        auth_pb2.IssueTokenRequest(
            grant_type="client_credentials",
            client_id=cfg.client_id,
            client_secret=cfg.client_secret,
        ),
        timeout=RPC_TIMEOUT,
    )
    if not resp.access_token or resp.token_type.lower() != "bearer":
        raise AssertionError(f"IssueToken: unexpected answer (token_type {resp.token_type!r})")
    print(f"ok   IssueToken: a {resp.token_type} token for {cfg.client_id}, expires in {resp.expires_in}s")
    return resp.access_token


def validate_remotely(stub, cfg, token):
    resp = stub.ValidateToken(
        auth_pb2.ValidateTokenRequest(token=token, audience=cfg.audience), timeout=RPC_TIMEOUT
    )
    p = resp.principal
    if p.kind != auth_pb2.ACCOUNT_KIND_SERVICE_CLIENT or p.client_id != cfg.client_id:
        raise AssertionError(f"ValidateToken: principal is {auth_pb2.AccountKind.Name(p.kind)} {p.client_id!r}")
    print(f"ok   ValidateToken: subject {p.subject}, roles {list(p.roles)}")


def lookup_user(stub, cfg, token):
    resp = stub.LookupUser(
        auth_pb2.LookupUserRequest(username=cfg.lookup_username),
        metadata=[("authorization", f"Bearer {token}")],
        timeout=RPC_TIMEOUT,
    )
    a = resp.account
    if a.username != cfg.lookup_username:
        raise AssertionError(f"LookupUser: got username {a.username!r}")
    print(f"ok   LookupUser: {a.username} is {a.id}, active={a.active}, roles {list(a.roles)}")


def validate_locally(cfg, token):
    """Checks signature, iss, aud, exp and typ against the published JWKS, without gatehouse's help."""
    # In a real service keep one PyJWKClient for the process: it caches the key set, and fetches
    # it again when a token names a kid it has not seen (a rotated key).
    jwks = jwt.PyJWKClient(f"{cfg.url}/.well-known/jwks.json", cache_keys=True)
    typ = str(jwt.get_unverified_header(token).get("typ", "")).lower()
    if typ not in ACCESS_TOKEN_TYPES:
        raise AssertionError(f"local validation: typ is {typ!r}, not at+jwt")
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=ALGORITHMS,
        audience=cfg.audience,
        issuer=cfg.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    print(f"ok   local validation (PyJWKClient, kid {key.key_id}): sub {claims['sub']}, iss {claims['iss']}")


def main():
    try:
        cfg = Config(os.environ)
    except ValueError as e:
        print(f"FAIL configuration: {e}", file=sys.stderr)
        return 1
    with open_channel(cfg) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        try:
            token = issue_token(stub, cfg)
            validate_remotely(stub, cfg, token)
            lookup_user(stub, cfg, token)
        except grpc.RpcError as e:
            print(f"FAIL gRPC call: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        except AssertionError as e:
            print(f"FAIL {e}", file=sys.stderr)
            return 1
    try:
        validate_locally(cfg, token)
    except (jwt.PyJWTError, AssertionError) as e:
        print(f"FAIL local validation: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
