-- Create "accounts" table
CREATE TABLE `accounts` (`id` text NOT NULL, `kind` text NOT NULL, `username` text NULL, `client_id` text NULL, `email` text NULL, `display_name` text NOT NULL DEFAULT (''), `password_hash` text NOT NULL DEFAULT (''), `secret_hash` blob NULL, `audiences` json NULL, `active` bool NOT NULL DEFAULT (true), `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- Create index "account_username" to table: "accounts"
CREATE UNIQUE INDEX `account_username` ON `accounts` (`username`);
-- Create index "account_client_id" to table: "accounts"
CREATE UNIQUE INDEX `account_client_id` ON `accounts` (`client_id`);
-- Create index "account_email" to table: "accounts"
CREATE UNIQUE INDEX `account_email` ON `accounts` (`email`);
-- Create "changes" table
CREATE TABLE `changes` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `kind` text NOT NULL, `subject` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL);
-- Create index "change_created_at" to table: "changes"
CREATE INDEX `change_created_at` ON `changes` (`created_at`);
-- Create "federated_links" table
CREATE TABLE `federated_links` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `issuer_id` text NOT NULL, `subject` text NOT NULL, `account_id` text NOT NULL, `created_by` text NOT NULL, `created_at` datetime NOT NULL);
-- Create index "federatedlink_issuer_id_subject" to table: "federated_links"
CREATE UNIQUE INDEX `federatedlink_issuer_id_subject` ON `federated_links` (`issuer_id`, `subject`);
-- Create index "federatedlink_account_id" to table: "federated_links"
CREATE INDEX `federatedlink_account_id` ON `federated_links` (`account_id`);
-- Create "refresh_tokens" table
CREATE TABLE `refresh_tokens` (`id` text NOT NULL, `token_hash` blob NOT NULL, `family_id` text NOT NULL, `account_id` text NOT NULL, `client_id` text NOT NULL DEFAULT (''), `scope` text NOT NULL DEFAULT (''), `offline` bool NOT NULL DEFAULT (false), `created_at` datetime NOT NULL, `family_created_at` datetime NOT NULL, `last_used_at` datetime NOT NULL, `expires_at` datetime NULL, `rotated_at` datetime NULL, `revoked_at` datetime NULL, PRIMARY KEY (`id`));
-- Create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
CREATE UNIQUE INDEX `refresh_tokens_token_hash_key` ON `refresh_tokens` (`token_hash`);
-- Create index "refreshtoken_family_id" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_family_id` ON `refresh_tokens` (`family_id`);
-- Create index "refreshtoken_account_id" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_account_id` ON `refresh_tokens` (`account_id`);
-- Create "roles" table
CREATE TABLE `roles` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `name` text NOT NULL, `created_at` datetime NOT NULL);
-- Create index "roles_name_key" to table: "roles"
CREATE UNIQUE INDEX `roles_name_key` ON `roles` (`name`);
-- Create "settings" table
CREATE TABLE `settings` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `name` text NOT NULL, `value` blob NOT NULL, `updated_at` datetime NOT NULL);
-- Create index "settings_name_key" to table: "settings"
CREATE UNIQUE INDEX `settings_name_key` ON `settings` (`name`);
-- Create "signing_keys" table
CREATE TABLE `signing_keys` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `kid` text NOT NULL, `alg` text NOT NULL, `state` text NOT NULL, `public_jwk` blob NOT NULL, `private_sealed` blob NOT NULL, `created_at` datetime NOT NULL, `activated_at` datetime NULL, `retired_at` datetime NULL);
-- Create index "signing_keys_kid_key" to table: "signing_keys"
CREATE UNIQUE INDEX `signing_keys_kid_key` ON `signing_keys` (`kid`);
-- Create "throttles" table
CREATE TABLE `throttles` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `key` text NOT NULL, `failures` integer NOT NULL DEFAULT (0), `window_start` datetime NOT NULL, `locked_until` datetime NULL, `trusted_until` datetime NULL);
-- Create index "throttles_key_key" to table: "throttles"
CREATE UNIQUE INDEX `throttles_key_key` ON `throttles` (`key`);
-- Create "trusted_issuers" table
CREATE TABLE `trusted_issuers` (`id` text NOT NULL, `issuer` text NOT NULL, `jwks_uri` text NOT NULL DEFAULT (''), `audiences` json NOT NULL, `allowed_algs` json NOT NULL, `leeway_seconds` integer NOT NULL DEFAULT (60), `required_claims` json NOT NULL, `identity_claims` json NOT NULL, `group_claims` json NOT NULL, `role_map` json NOT NULL, `jit_provisioning` bool NOT NULL DEFAULT (false), `link_by` text NOT NULL DEFAULT (''), `exchange_clients` json NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- Create index "trusted_issuers_issuer_key" to table: "trusted_issuers"
CREATE UNIQUE INDEX `trusted_issuers_issuer_key` ON `trusted_issuers` (`issuer`);
-- Create "account_roles" table
CREATE TABLE `account_roles` (`account_id` text NOT NULL, `role_id` integer NOT NULL, PRIMARY KEY (`account_id`, `role_id`), CONSTRAINT `account_roles_account_id` FOREIGN KEY (`account_id`) REFERENCES `accounts` (`id`) ON DELETE CASCADE, CONSTRAINT `account_roles_role_id` FOREIGN KEY (`role_id`) REFERENCES `roles` (`id`) ON DELETE CASCADE);
