//! "Did you mean …?" for unknown keys: the closest known key by edit
//! distance (insertions, deletions, substitutions and swaps of two adjacent
//! characters each cost 1).
//!
//! Cold path: only runs while reporting config and model-artifact errors.

/// The candidate closest to `key` ignoring ASCII case, if it is close
/// enough to be a typo: at most 2 edits, or a third of the key's length for
/// longer keys.
pub fn closest(key: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    let limit = (key.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|&c| (edit_distance(&key, &c.to_ascii_lowercase()), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance between `a` and `b` (by `char`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j] = distance between a[..i] and b[..j]; three rolling rows.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("max_daily_los_pct", "max_daily_loss_pct"), 1);
        assert_eq!(edit_distance("z_mxa", "z_max"), 1, "adjacent swap costs 1");
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggests_only_close_keys() {
        let keys = ["max_daily_loss_pct", "max_drawdown_pct", "max_position_pct"];
        assert_eq!(
            closest("max_daily_los_pct", &keys),
            Some("max_daily_loss_pct")
        );
        assert_eq!(closest("MAX_DRAWDOWN_PCT", &keys), Some("max_drawdown_pct"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest("x", &[]), None);
    }
}
