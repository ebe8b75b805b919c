//! The product cache: one Redis string per product holding its JSON, with a TTL. Every
//! failure here is logged and swallowed: the cache only ever makes answers faster.

use std::time::Duration;

use platform::cache::RedisHandle;

/// The Redis key of a cached product (shared with the orders service, which deletes it).
pub fn cache_key(id: i64) -> String {
    format!("shop:product:{id}")
}

/// The cached JSON, or `None` on a miss or when Redis is unusable.
pub async fn read(cache: &RedisHandle, id: i64) -> Option<String> {
    match cache
        .query::<Option<String>>(redis::cmd("GET").arg(cache_key(id)))
        .await
    {
        Ok(Some(json)) => {
            metrics::counter!(platform::metrics::names::PRODUCTS_CACHE, "result" => "hit")
                .increment(1);
            Some(json)
        }
        Ok(None) => {
            metrics::counter!(platform::metrics::names::PRODUCTS_CACHE, "result" => "miss")
                .increment(1);
            None
        }
        Err(err) => {
            metrics::counter!(platform::metrics::names::PRODUCTS_CACHE, "result" => "error")
                .increment(1);
            tracing::warn!(%err, id, "product cache unavailable; serving from Postgres");
            None
        }
    }
}

pub async fn write(cache: &RedisHandle, id: i64, json: &str, ttl: Duration) {
    let command = redis::cmd("SET")
        .arg(cache_key(id))
        .arg(json)
        .arg("EX")
        .arg(ttl.as_secs().max(1))
        .to_owned();
    if let Err(err) = cache.query::<()>(&command).await {
        tracing::warn!(%err, id, "cannot cache product; it will be read from Postgres again");
    }
}

/// Drops a product's cache entry after its stock changed.
pub async fn invalidate(cache: &RedisHandle, id: i64) -> redis::RedisResult<()> {
    cache
        .query::<()>(redis::cmd("DEL").arg(cache_key(id)))
        .await
}
