-- Idempotency-Key records for POST /orders (draft-ietf-httpapi-idempotency-key-header).
-- A row is inserted in the same transaction as its order, so a key is stored exactly
-- when its order is committed: a retry with the key finds the order and never takes
-- stock again. `order_id` is NULL only inside that transaction (the key row is written
-- first, so concurrent requests with one key queue on this primary key). The request's
-- fields are kept to tell a retry from a different order reusing the key (422).
-- Retention: rows older than IDEMPOTENCY_KEY_RETENTION_HOURS (24 h by default) no longer
-- count and are deleted by the service in the background (index on created_at).
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
    user_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    order_id BIGINT REFERENCES orders (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
