//! Turning raw queue entries into ballots: malformed entries become dead letters, and
//! within a batch a voter's latest entry wins.

use std::collections::HashMap;

use serde::Deserialize;
use voting_store::Ballot;

/// Longest voter id the `votes.id` column holds.
const MAX_VOTER_ID: usize = 255;

#[derive(Debug, Deserialize)]
struct Entry {
    voter_id: Option<serde_json::Value>,
    vote: Option<serde_json::Value>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// One ballot per voter, the latest in queue order.
    pub ballots: Vec<Ballot>,
    /// The raw queue entry each ballot came from (same index), for dead-lettering it.
    pub sources: Vec<String>,
    /// Entries that are not votes, verbatim, with the reason.
    pub dead_letters: Vec<(String, String)>,
    /// Valid entries before de-duplication.
    pub valid_entries: usize,
}

pub fn parse(entries: &[String]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut position: HashMap<String, usize> = HashMap::new();
    for raw in entries {
        match ballot(raw) {
            Ok(ballot) => {
                parsed.valid_entries += 1;
                match position.get(&ballot.voter_id) {
                    Some(&index) => {
                        parsed.ballots[index] = ballot;
                        parsed.sources[index] = raw.clone();
                    }
                    None => {
                        position.insert(ballot.voter_id.clone(), parsed.ballots.len());
                        parsed.ballots.push(ballot);
                        parsed.sources.push(raw.clone());
                    }
                }
            }
            Err(reason) => parsed.dead_letters.push((raw.clone(), reason)),
        }
    }
    parsed
}

fn ballot(raw: &str) -> Result<Ballot, String> {
    let entry: Entry =
        serde_json::from_str(raw).map_err(|err| format!("not a JSON vote: {err}"))?;
    let voter_id = match entry.voter_id {
        Some(serde_json::Value::String(id)) if !id.is_empty() && id.len() <= MAX_VOTER_ID => id,
        Some(serde_json::Value::String(id)) if id.is_empty() => return Err("empty voter_id".into()),
        Some(serde_json::Value::String(_)) => return Err("voter_id longer than 255".into()),
        Some(_) => return Err("voter_id is not a string".into()),
        None => return Err("missing voter_id".into()),
    };
    let vote = match entry.vote {
        Some(serde_json::Value::String(vote)) if vote == "a" || vote == "b" => vote,
        Some(other) => return Err(format!("unknown vote {other}")),
        None => return Err("missing vote".into()),
    };
    Ok(Ballot { voter_id, vote })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(voter: &str, vote: &str) -> String {
        format!(r#"{{"voter_id":"{voter}","vote":"{vote}"}}"#)
    }

    #[test]
    fn latest_vote_of_a_voter_wins_within_a_batch() {
        let parsed = parse(&[entry("v1", "a"), entry("v2", "b"), entry("v1", "b")]);
        assert_eq!(parsed.valid_entries, 3);
        assert_eq!(
            parsed.ballots,
            vec![
                Ballot {
                    voter_id: "v1".into(),
                    vote: "b".into()
                },
                Ballot {
                    voter_id: "v2".into(),
                    vote: "b".into()
                },
            ]
        );
        assert!(parsed.dead_letters.is_empty());
        assert_eq!(parsed.sources, vec![entry("v1", "b"), entry("v2", "b")]);
    }

    #[test]
    fn malformed_entries_become_dead_letters() {
        let bad = [
            "not json".to_owned(),
            r#"{"vote":"a"}"#.to_owned(),
            r#"{"voter_id":"v","vote":"c"}"#.to_owned(),
            r#"{"voter_id":7,"vote":"a"}"#.to_owned(),
            r#"{"voter_id":"","vote":"a"}"#.to_owned(),
            r#"{"voter_id":"v"}"#.to_owned(),
            format!(r#"{{"voter_id":"{}","vote":"a"}}"#, "x".repeat(300)),
            r#"[1,2]"#.to_owned(),
        ];
        let parsed = parse(&bad);
        assert!(parsed.ballots.is_empty());
        assert_eq!(parsed.dead_letters.len(), bad.len());
        assert_eq!(parsed.dead_letters[0].0, "not json");
    }
}
