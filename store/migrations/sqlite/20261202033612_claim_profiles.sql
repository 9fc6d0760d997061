-- Create "claim_profiles" table
CREATE TABLE `claim_profiles` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `audience` text NOT NULL, `subject` text NOT NULL DEFAULT ('id'), `claims` json NOT NULL, `visible_roles` json NOT NULL, `builtin` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL);
-- Create index "claim_profiles_audience_key" to table: "claim_profiles"
CREATE UNIQUE INDEX `claim_profiles_audience_key` ON `claim_profiles` (`audience`);
