-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_accounts" table
CREATE TABLE `new_accounts` (`id` text NOT NULL, `kind` text NOT NULL, `username` text NULL, `client_id` text NULL, `email` text NULL, `display_name` text NOT NULL DEFAULT (''), `password_hash` text NOT NULL DEFAULT (''), `secret_hash` blob NULL, `audiences` json NULL, `redirect_uris` json NULL, `post_logout_redirect_uris` json NULL, `grant_types` json NULL, `public_client` bool NOT NULL DEFAULT (false), `first_party` bool NOT NULL DEFAULT (false), `id_token_alg` text NOT NULL DEFAULT (''), `active` bool NOT NULL DEFAULT (true), `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- Copy rows from old table "accounts" to new temporary table "new_accounts"
INSERT INTO `new_accounts` (`id`, `kind`, `username`, `client_id`, `email`, `display_name`, `password_hash`, `secret_hash`, `audiences`, `active`, `created_at`, `updated_at`) SELECT `id`, `kind`, `username`, `client_id`, `email`, `display_name`, `password_hash`, `secret_hash`, `audiences`, `active`, `created_at`, `updated_at` FROM `accounts`;
-- Drop "accounts" table after copying rows
DROP TABLE `accounts`;
-- Rename temporary table "new_accounts" to "accounts"
ALTER TABLE `new_accounts` RENAME TO `accounts`;
-- Create index "account_username" to table: "accounts"
CREATE UNIQUE INDEX `account_username` ON `accounts` (`username`);
-- Create index "account_client_id" to table: "accounts"
CREATE UNIQUE INDEX `account_client_id` ON `accounts` (`client_id`);
-- Create index "account_email" to table: "accounts"
CREATE UNIQUE INDEX `account_email` ON `accounts` (`email`);
-- Create "new_signing_keys" table
CREATE TABLE `new_signing_keys` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `kid` text NOT NULL, `alg` text NOT NULL, `purpose` text NOT NULL DEFAULT (''), `state` text NOT NULL, `public_jwk` blob NOT NULL, `private_sealed` blob NOT NULL, `created_at` datetime NOT NULL, `activated_at` datetime NULL, `retired_at` datetime NULL);
-- Copy rows from old table "signing_keys" to new temporary table "new_signing_keys"
INSERT INTO `new_signing_keys` (`id`, `kid`, `alg`, `state`, `public_jwk`, `private_sealed`, `created_at`, `activated_at`, `retired_at`) SELECT `id`, `kid`, `alg`, `state`, `public_jwk`, `private_sealed`, `created_at`, `activated_at`, `retired_at` FROM `signing_keys`;
-- Drop "signing_keys" table after copying rows
DROP TABLE `signing_keys`;
-- Rename temporary table "new_signing_keys" to "signing_keys"
ALTER TABLE `new_signing_keys` RENAME TO `signing_keys`;
-- Create index "signing_keys_kid_key" to table: "signing_keys"
CREATE UNIQUE INDEX `signing_keys_kid_key` ON `signing_keys` (`kid`);
-- Create "authorization_codes" table
CREATE TABLE `authorization_codes` (`id` text NOT NULL, `code_hash` blob NOT NULL, `client_id` text NOT NULL, `account_id` text NOT NULL, `redirect_uri` text NOT NULL, `scope` text NOT NULL DEFAULT (''), `nonce` text NOT NULL DEFAULT (''), `code_challenge` text NOT NULL DEFAULT (''), `session_id` text NOT NULL DEFAULT (''), `auth_time` datetime NOT NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, `issued_family` text NOT NULL DEFAULT (''), PRIMARY KEY (`id`));
-- Create index "authorization_codes_code_hash_key" to table: "authorization_codes"
CREATE UNIQUE INDEX `authorization_codes_code_hash_key` ON `authorization_codes` (`code_hash`);
-- Create index "authorizationcode_expires_at" to table: "authorization_codes"
CREATE INDEX `authorizationcode_expires_at` ON `authorization_codes` (`expires_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
