-- Create "audit_events" table
CREATE TABLE `audit_events` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `time` datetime NOT NULL, `type` text NOT NULL, `actor` text NOT NULL, `actor_name` text NOT NULL DEFAULT (''), `target` text NOT NULL DEFAULT (''), `target_name` text NOT NULL DEFAULT (''), `ip` text NOT NULL DEFAULT (''), `request_id` text NOT NULL DEFAULT (''), `detail` json NULL);
-- Create index "auditevent_time" to table: "audit_events"
CREATE INDEX `auditevent_time` ON `audit_events` (`time`);
-- Create index "auditevent_type" to table: "audit_events"
CREATE INDEX `auditevent_type` ON `audit_events` (`type`);
-- Create index "auditevent_target" to table: "audit_events"
CREATE INDEX `auditevent_target` ON `audit_events` (`target`);
-- Create index "auditevent_actor" to table: "audit_events"
CREATE INDEX `auditevent_actor` ON `audit_events` (`actor`);
