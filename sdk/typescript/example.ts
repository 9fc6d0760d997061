// Example gatehouse client in TypeScript: Connect-ES over gRPC with the stubs from gen/ts,
// plus local JWT validation with jose.
//
// A service client gets a token (client_credentials), asks gatehouse to validate it, looks a
// user up with it as bearer token, and finally validates it locally against the JWKS.
//
//   cd sdk/typescript && npm ci && npm run build
//   GATEHOUSE_CLIENT_ID=billing GATEHOUSE_CLIENT_SECRET=ghcs_... npm run example
//
// Environment (the same as sdk/python/example.py):
//   GATEHOUSE_GRPC_TARGET      gRPC host:port (default localhost:50051)
//   GATEHOUSE_URL              HTTP base URL, for the JWKS (default http://localhost:8080)
//   GATEHOUSE_ISSUER           expected `iss`: the server's --issuer (default GATEHOUSE_URL)
//   GATEHOUSE_AUDIENCE         expected `aud`: the server's --audience (default gatehouse)
//   GATEHOUSE_CLIENT_ID        service client id (required; needs role user-lookup or admin)
//   GATEHOUSE_CLIENT_SECRET    its secret (required)
//   GATEHOUSE_LOOKUP_USERNAME  user to look up (default admin)
//   GATEHOUSE_CA_FILE          PEM CA bundle: use TLS for gRPC (for an https GATEHOUSE_URL with a
//                              private CA, set NODE_EXTRA_CA_CERTS to the bundle too)
//
// Exits 0 when every step passed, 1 otherwise. Tokens and secrets are never printed.

import { readFileSync } from "node:fs";
import { exit } from "node:process";

import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";

import { AccountKind, AuthService } from "../../gen/ts/gatehouse/v1/auth_pb.js";

// Algorithms gatehouse may sign with; never take the algorithm from the token alone.
const ALGORITHMS = ["ES256", "EdDSA", "RS256"];
const RPC_TIMEOUT_MS = 10_000;

interface Config {
  target: string;
  url: string;
  issuer: string;
  audience: string;
  clientId: string;
  clientSecret: string;
  lookupUsername: string;
  caFile: string;
}

class CheckError extends Error {}

function loadConfig(env: NodeJS.ProcessEnv): Config {
  const url = (env.GATEHOUSE_URL ?? "http://localhost:8080").replace(/\/+$/, "");
  const cfg: Config = {
    target: env.GATEHOUSE_GRPC_TARGET ?? "localhost:50051",
    url,
    issuer: env.GATEHOUSE_ISSUER ?? url,
    audience: env.GATEHOUSE_AUDIENCE ?? "gatehouse",
    clientId: env.GATEHOUSE_CLIENT_ID ?? "",
    clientSecret: env.GATEHOUSE_CLIENT_SECRET ?? "",
    lookupUsername: env.GATEHOUSE_LOOKUP_USERNAME ?? "admin",
    caFile: env.GATEHOUSE_CA_FILE ?? "",
  };
  if (!cfg.clientId || !cfg.clientSecret) {
    throw new CheckError("configuration: set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET");
  }
  return cfg;
}

function authClient(cfg: Config): Client<typeof AuthService> {
  // gRPC needs HTTP/2; createGrpcTransport speaks it (h2c for http://, TLS for https://).
  const transport = cfg.caFile
    ? createGrpcTransport({ baseUrl: `https://${cfg.target}`, nodeOptions: { ca: readFileSync(cfg.caFile) } })
    : createGrpcTransport({ baseUrl: `http://${cfg.target}` });
  return createClient(AuthService, transport);
}

async function issueToken(client: Client<typeof AuthService>, cfg: Config): Promise<string> {
  const res = await client.issueToken(
    { grantType: "client_credentials", clientId: cfg.clientId, clientSecret: cfg.clientSecret },
    { timeoutMs: RPC_TIMEOUT_MS },
  );
  if (!res.accessToken || res.tokenType.toLowerCase() !== "bearer") {
    throw new CheckError(`IssueToken: unexpected answer (token_type ${JSON.stringify(res.tokenType)})`);
  }
  console.log(`ok   IssueToken: a ${res.tokenType} token for ${cfg.clientId}, expires in ${res.expiresIn}s`);
  return res.accessToken;
}

async function validateRemotely(client: Client<typeof AuthService>, cfg: Config, token: string): Promise<void> {
  const res = await client.validateToken({ token, audience: cfg.audience }, { timeoutMs: RPC_TIMEOUT_MS });
  const p = res.principal;
  if (p?.kind !== AccountKind.SERVICE_CLIENT || p.clientId !== cfg.clientId) {
    throw new CheckError(`ValidateToken: principal is ${p ? AccountKind[p.kind] : "missing"} ${p?.clientId}`);
  }
  console.log(`ok   ValidateToken: subject ${p.subject}, roles ${JSON.stringify(p.roles)}`);
}

async function lookupUser(client: Client<typeof AuthService>, cfg: Config, token: string): Promise<void> {
  const res = await client.lookupUser(
    { selector: { case: "username", value: cfg.lookupUsername } },
    { headers: { authorization: `Bearer ${token}` }, timeoutMs: RPC_TIMEOUT_MS },
  );
  const a = res.account;
  if (a?.username !== cfg.lookupUsername) {
    throw new CheckError(`LookupUser: got username ${JSON.stringify(a?.username)}`);
  }
  console.log(`ok   LookupUser: ${a.username} is ${a.id}, active=${a.active}, roles ${JSON.stringify(a.roles)}`);
}

// validateLocally checks signature, iss, aud, exp and typ against the published JWKS, without
// gatehouse's help. In a real service create the key set once: it caches the keys and refetches
// them (rate-limited) when a token names an unknown kid, as after a key rotation.
async function validateLocally(cfg: Config, token: string): Promise<void> {
  const jwks = createRemoteJWKSet(new URL(`${cfg.url}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: cfg.issuer,
    audience: cfg.audience,
    algorithms: ALGORITHMS,
    typ: "at+jwt", // RFC 9068 access tokens; jose also accepts "application/at+jwt"
    requiredClaims: ["exp", "iat", "sub"],
  });
  console.log(`ok   local validation (jose, kid ${protectedHeader.kid}): sub ${payload.sub}, iss ${payload.iss}`);
}

async function main(): Promise<number> {
  let cfg: Config;
  try {
    cfg = loadConfig(process.env);
  } catch (e) {
    console.error(`FAIL ${(e as Error).message}`);
    return 1;
  }
  const client = authClient(cfg);
  try {
    const token = await issueToken(client, cfg);
    await validateRemotely(client, cfg, token);
    await lookupUser(client, cfg, token);
    try {
      await validateLocally(cfg, token);
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) {
        throw new CheckError(`local validation: ${e.code}: ${e.message}`);
      }
      throw e;
    }
  } catch (e) {
    if (e instanceof ConnectError) {
      console.error(`FAIL gRPC call: ${e.message}`);
    } else if (e instanceof CheckError) {
      console.error(`FAIL ${e.message}`);
    } else {
      console.error(`FAIL ${e instanceof Error ? e.message : String(e)}`);
    }
    return 1;
  }
  return 0;
}

exit(await main());
