//! Validation of `POST /sum` bodies, with the original Ruby API's exact error messages.
//!
//! `n` is read from its literal JSON text so that a huge integer is told apart from a
//! float (serde_json would turn both into an `f64`).

use std::collections::HashMap;

use serde_json::value::RawValue;

/// The largest `n` whose sum `n(n+1)/2` fits in a `u64`.
pub const MAX_N: u64 = 6_074_000_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("invalid json")]
    InvalidJson,
    #[error("n needs to be set")]
    Missing,
    #[error("n needs to be an integer")]
    NotAnInteger,
    #[error("n needs to be greater 0")]
    NotPositive,
    #[error("n is too large: the sum of 1..n must fit in 64 bits, so n can be at most {MAX_N}")]
    TooLarge,
}

impl InputError {
    /// 400 for a body that is not JSON, 422 for a JSON body with an unusable `n`.
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::InvalidJson)
    }
}

/// Extracts `n` from a JSON body such as `{"n": 100}`.
pub fn parse_n(body: &[u8]) -> Result<u64, InputError> {
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| InputError::InvalidJson)?;
    if !document.is_object() {
        return Err(InputError::Missing);
    }
    let fields: HashMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|_| InputError::InvalidJson)?;
    let literal = match fields.get("n") {
        None => return Err(InputError::Missing),
        Some(raw) if raw.get() == "null" => return Err(InputError::Missing),
        Some(raw) => raw.get(),
    };
    parse_integer_literal(literal)
}

fn parse_integer_literal(literal: &str) -> Result<u64, InputError> {
    let (negative, digits) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(InputError::NotAnInteger);
    }
    let is_zero = digits.bytes().all(|byte| byte == b'0');
    if negative || is_zero {
        return Err(InputError::NotPositive);
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= MAX_N => Ok(n),
        _ => Err(InputError::TooLarge),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_positive_integers() {
        assert_eq!(parse_n(br#"{"n": 100}"#), Ok(100));
        assert_eq!(parse_n(br#"{"n":1,"other":"x"}"#), Ok(1));
        assert_eq!(parse_n(format!(r#"{{"n":{MAX_N}}}"#).as_bytes()), Ok(MAX_N));
    }

    #[test]
    fn reports_the_original_messages() {
        assert_eq!(parse_n(b"{"), Err(InputError::InvalidJson));
        assert_eq!(parse_n(b""), Err(InputError::InvalidJson));
        assert_eq!(parse_n(b"{}"), Err(InputError::Missing));
        assert_eq!(parse_n(br#"{"n": null}"#), Err(InputError::Missing));
        assert_eq!(parse_n(b"[1]"), Err(InputError::Missing));
        assert_eq!(parse_n(br#"{"n": "5"}"#), Err(InputError::NotAnInteger));
        assert_eq!(parse_n(br#"{"n": 5.0}"#), Err(InputError::NotAnInteger));
        assert_eq!(parse_n(br#"{"n": 1e3}"#), Err(InputError::NotAnInteger));
        assert_eq!(parse_n(br#"{"n": true}"#), Err(InputError::NotAnInteger));
        assert_eq!(parse_n(br#"{"n": 0}"#), Err(InputError::NotPositive));
        assert_eq!(parse_n(br#"{"n": -3}"#), Err(InputError::NotPositive));
        assert_eq!(
            parse_n(br#"{"n": -99999999999999999999999}"#),
            Err(InputError::NotPositive)
        );
    }

    #[test]
    fn rejects_n_whose_sum_overflows_instead_of_answering_wrongly() {
        let just_over = format!(r#"{{"n":{}}}"#, MAX_N + 1);
        assert_eq!(parse_n(just_over.as_bytes()), Err(InputError::TooLarge));
        assert_eq!(
            parse_n(br#"{"n": 99999999999999999999999}"#),
            Err(InputError::TooLarge)
        );
        let max = u128::from(MAX_N);
        assert!(max * (max + 1) / 2 <= u128::from(u64::MAX));
        assert!((max + 1) * (max + 2) / 2 > u128::from(u64::MAX));
    }
}
