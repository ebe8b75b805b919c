use askama::Template;

#[derive(Template)]
#[template(path = "index.html")]
pub struct VotePage<'a> {
    pub option_a: &'a str,
    pub option_b: &'a str,
    pub hostname: &'a str,
    /// The choice just made, marked on its button.
    pub vote: Option<&'a str>,
}

impl VotePage<'_> {
    pub fn chose(&self, option: &str) -> bool {
        self.vote == Some(option)
    }
}

pub const STYLESHEET: &str = include_str!("../static/style.css");
