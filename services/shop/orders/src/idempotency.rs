//! `Idempotency-Key` for `POST /orders`, after draft-ietf-httpapi-idempotency-key-header
//! and Stripe's API: a client that does not know whether its order went through (timeout,
//! connection reset, a 5xx from a proxy after the commit) sends the same request again
//! with the same key and gets the first order back — same status, same body, header
//! `Idempotent-Replayed: true` — without a second order or a second stock decrement.
//!
//! - The key row is written in the order's own transaction, before the stock update, so a
//!   key exists exactly when its order was committed, and a second request with the key
//!   waits on the key's primary key until the first one commits (then replays it) or
//!   rolls back (then goes ahead itself).
//! - The same key with a different order (user, product or quantity) is refused with 422,
//!   as the draft and Stripe do; the fields are compared, not the body's bytes.
//! - Only orders that were created are remembered: a refused order (out of stock, unknown
//!   user) changed nothing, so its retry is simply evaluated again.
//! - Keys are global to the service (orders has no authentication to scope them by);
//!   clients should use random UUIDs. They count for `retention` (24 h by default) and are
//!   then deleted by [`purge_expired`]; a key reused after that places a new order.

use std::time::Duration;

use axum::http::HeaderMap;
use sqlx::{PgPool, Postgres, Transaction};

use crate::Order;

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// The response header marking an answer that repeats an earlier one (Stripe's name).
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted (Stripe's limit; the draft sets none).
pub const MAX_KEY_LEN: usize = 255;

/// The fields that make two requests "the same order".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub user_id: i64,
    pub product_id: i64,
    pub quantity: i64,
}

/// What a stored key says about a request that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The same order was already placed with this key.
    Replay(Order),
    /// The key was used for a different order.
    Mismatch(Fingerprint),
}

/// The key of a request, if it has one. The draft sends it as a structured-field string
/// (`"abc"`); bare tokens (Stripe's form) are accepted too.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("send one Idempotency-Key header, not several".into());
    }
    let text = value.to_str().unwrap_or_default().trim();
    let key = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text);
    let printable = key.bytes().all(|byte| (0x20..=0x7e).contains(&byte));
    if key.is_empty() || key.len() > MAX_KEY_LEN || !printable {
        return Err(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters; use a random UUID per order"
        ));
    }
    Ok(Some(key.to_owned()))
}

/// The live record for `key`, if any.
pub async fn lookup(
    pool: &PgPool,
    key: &str,
    request: Fingerprint,
    retention: Duration,
) -> Result<Option<Stored>, sqlx::Error> {
    let row: Option<StoredRow> = sqlx::query_as(
        "SELECT k.user_id AS key_user_id, k.product_id AS key_product_id, \
                k.quantity AS key_quantity, o.id, o.user_id, o.product_id, o.quantity, \
                o.total_cents \
         FROM idempotency_keys k JOIN orders o ON o.id = k.order_id \
         WHERE k.key = $1 AND k.created_at > now() - make_interval(secs => $2)",
    )
    .bind(key)
    .bind(retention.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let stored = Fingerprint {
            user_id: row.key_user_id,
            product_id: row.key_product_id,
            quantity: row.key_quantity,
        };
        if stored == request {
            Stored::Replay(row.order)
        } else {
            Stored::Mismatch(stored)
        }
    }))
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    key_user_id: i64,
    key_product_id: i64,
    key_quantity: i64,
    #[sqlx(flatten)]
    order: Order,
}

/// Claims `key` inside the order's transaction: true when this request owns it (new key,
/// or an expired one taken over). False when another request committed an order with it
/// first; a concurrent request still in flight makes this wait for its outcome.
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    key: &str,
    request: Fingerprint,
    retention: Duration,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<String> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (key, user_id, product_id, quantity) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET user_id = EXCLUDED.user_id, \
             product_id = EXCLUDED.product_id, quantity = EXCLUDED.quantity, \
             order_id = NULL, created_at = now() \
         WHERE idempotency_keys.created_at <= now() - make_interval(secs => $5) \
         RETURNING key",
    )
    .bind(key)
    .bind(request.user_id)
    .bind(request.product_id)
    .bind(request.quantity)
    .bind(retention.as_secs_f64())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(claimed.is_some())
}

/// Ties the claimed key to the order created in the same transaction.
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    key: &str,
    order_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE idempotency_keys SET order_id = $2 WHERE key = $1")
        .bind(key)
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes keys past their retention; returns how many.
pub async fn purge_expired(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at <= now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(HEADER, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn keys_are_bare_or_quoted_printable_ascii() {
        assert_eq!(key_from(&headers(&[])), Ok(None));
        assert_eq!(key_from(&headers(&["abc-1"])), Ok(Some("abc-1".into())));
        assert_eq!(key_from(&headers(&["\"abc-1\""])), Ok(Some("abc-1".into())));
        assert!(key_from(&headers(&[""])).is_err());
        assert!(key_from(&headers(&["\"\""])).is_err());
        assert!(key_from(&headers(&[&"k".repeat(256)])).is_err());
        assert!(key_from(&headers(&[&"k".repeat(255)])).is_ok());
        assert!(key_from(&headers(&["a", "b"])).is_err());
    }
}
