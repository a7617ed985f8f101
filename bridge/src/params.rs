//! Client-supplied parameters that more than one transport reads the same
//! way: history slices and display names.

use hubbub_core::HistoryQuery;

/// Messages returned by a history query when no limit is given.
pub const DEFAULT_HISTORY_LIMIT: usize = 50;
/// The largest history page.
pub const MAX_HISTORY_LIMIT: usize = 500;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Turns `before`/`after`/`limit` into a query, or explains what is wrong.
pub fn history_query(
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
) -> Result<HistoryQuery, String> {
    let limit = limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
        return Err(format!("limit must be 1 to {MAX_HISTORY_LIMIT}"));
    }
    match (before, after) {
        (Some(_), Some(_)) => Err("give before or after, not both".into()),
        (Some(seq), None) => Ok(HistoryQuery::Before { seq, limit }),
        (None, Some(seq)) => Ok(HistoryQuery::After { seq, limit }),
        (None, None) => Ok(HistoryQuery::Latest { limit }),
    }
}

/// Checks a display name (a nick, an HTTP `from`).
pub fn check_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0
        || chars > MAX_NAME_CHARS
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        Err(format!(
            "a name is 1 to {MAX_NAME_CHARS} characters, no control characters, no leading or trailing spaces"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_params() {
        assert_eq!(
            history_query(None, None, None),
            Ok(HistoryQuery::Latest { limit: 50 })
        );
        assert_eq!(
            history_query(Some(9), None, Some(3)),
            Ok(HistoryQuery::Before { seq: 9, limit: 3 })
        );
        assert!(history_query(Some(1), Some(2), None).is_err());
        assert!(history_query(None, None, Some(0)).is_err());
        assert!(history_query(None, None, Some(501)).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("bob").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" bob").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(33)).is_err());
    }
}
