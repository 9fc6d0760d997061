-- Modify "accounts" table
ALTER TABLE "accounts" ADD COLUMN "redirect_uris" jsonb NULL, ADD COLUMN "post_logout_redirect_uris" jsonb NULL, ADD COLUMN "grant_types" jsonb NULL, ADD COLUMN "public_client" boolean NOT NULL DEFAULT false, ADD COLUMN "first_party" boolean NOT NULL DEFAULT false, ADD COLUMN "id_token_alg" character varying NOT NULL DEFAULT '';
-- Modify "signing_keys" table
ALTER TABLE "signing_keys" ADD COLUMN "purpose" character varying NOT NULL DEFAULT '';
-- Create "authorization_codes" table
CREATE TABLE "authorization_codes" ("id" character varying NOT NULL, "code_hash" bytea NOT NULL, "client_id" character varying NOT NULL, "account_id" character varying NOT NULL, "redirect_uri" character varying NOT NULL, "scope" character varying NOT NULL DEFAULT '', "nonce" character varying NOT NULL DEFAULT '', "code_challenge" character varying NOT NULL DEFAULT '', "session_id" character varying NOT NULL DEFAULT '', "auth_time" timestamptz NOT NULL, "created_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "used_at" timestamptz NULL, "issued_family" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
-- Create index "authorization_codes_code_hash_key" to table: "authorization_codes"
CREATE UNIQUE INDEX "authorization_codes_code_hash_key" ON "authorization_codes" ("code_hash");
-- Create index "authorizationcode_expires_at" to table: "authorization_codes"
CREATE INDEX "authorizationcode_expires_at" ON "authorization_codes" ("expires_at");
