-- Cache invalidation across server instances (issue #12): every update or delete of a user
-- row (password, token version, counters…) notifies the channel "<schema>.users_changed"
-- with the user's id; each instance's cache drops that user when it hears it.
-- A template: names in braces become names in the storage's schema. Never edit; add one.
CREATE FUNCTION {notify_user_change}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.users_changed', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON {users}
    FOR EACH ROW EXECUTE FUNCTION {notify_user_change}();
