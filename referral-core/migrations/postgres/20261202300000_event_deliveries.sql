-- Event deliveries (issue #15): the dispatcher fans each event out into one outbox message per
-- destination (an in-process handler, the webhook), and claims the messages of one topic about
-- one user in order. This index finds "an earlier open message of the same topic and user"
-- without reading the rest of the queue.
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.
CREATE INDEX {index:outbox_order} ON {outbox} (topic, user_id, created_at, id)
    WHERE sent_at IS NULL AND died_at IS NULL AND user_id IS NOT NULL;
