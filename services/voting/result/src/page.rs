use askama::Template;

use crate::scores::Snapshot;

pub const STYLESHEET: &str = include_str!("../static/style.css");
pub const APP_SCRIPT: &str = include_str!("../static/app.js");
/// socket.io-client 4.8.4 (MIT), the browser build from its npm package, served by the
/// binary so the page needs no CDN.
pub const SOCKET_IO_CLIENT: &str = include_str!("../static/socket.io.min.js");

#[derive(Template)]
#[template(path = "index.html")]
struct ResultPage<'a> {
    option_a: &'a str,
    option_b: &'a str,
    a: i64,
    b: i64,
    a_percent: i64,
    b_percent: i64,
    total_line: String,
    stale: bool,
}

/// Shares as whole percentages that add up to 100, 50/50 before any vote (as the
/// original page computes them).
pub fn percentages(a: i64, b: i64) -> (i64, i64) {
    if a + b > 0 {
        let a_percent = ((a as f64 / (a + b) as f64) * 100.0).round() as i64;
        (a_percent, 100 - a_percent)
    } else {
        (50, 50)
    }
}

pub fn total_line(total: i64) -> String {
    match total {
        0 => "No votes yet".to_owned(),
        1 => "1 vote".to_owned(),
        n => format!("{n} votes"),
    }
}

pub fn render(option_a: &str, option_b: &str, snapshot: Snapshot) -> askama::Result<String> {
    let Snapshot {
        counts,
        stale,
        loaded,
    } = snapshot;
    let (a_percent, b_percent) = percentages(counts.a, counts.b);
    ResultPage {
        option_a,
        option_b,
        a: counts.a,
        b: counts.b,
        a_percent,
        b_percent,
        total_line: total_line(counts.total()),
        stale: stale || !loaded,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_total_line_match_the_original() {
        assert_eq!(percentages(0, 0), (50, 50));
        assert_eq!(percentages(1, 0), (100, 0));
        assert_eq!(percentages(2, 1), (67, 33));
        assert_eq!(total_line(0), "No votes yet");
        assert_eq!(total_line(1), "1 vote");
        assert_eq!(total_line(3000), "3000 votes");
    }
}
