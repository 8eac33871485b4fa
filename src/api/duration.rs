//! Durations as users write them in specs: `30d`, `12h`, `2w`, `1h30m`, `500ms`. One parser for
//! `pointInTime.offsetFromEnd` and `retention.maxAge`, used by the webhook and the data plane
//! alike; each field's schema pattern says which units it admits.

/// Milliseconds of a duration made of `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`, `w`.
pub fn parse_millis(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 6] =
        [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)];
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration: write a number and a unit, e.g. 2h or 30d".into());
    }
    let mut total = 0i64;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: expected a number at `{rest}` (e.g. 2h or 1h30m)"))?;
        rest = &rest[digits..];
        let (unit, ms) = UNITS
            .iter()
            .find(|(u, _)| rest.starts_with(u))
            .ok_or_else(|| format!("`{text}`: the unit after {n} must be one of ms, s, m, h, d, w"))?;
        let part = n.checked_mul(*ms).ok_or_else(|| format!("`{text}` is too long"))?;
        total = total.checked_add(part).ok_or_else(|| format!("`{text}` is too long"))?;
        rest = &rest[unit.len()..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_millis;

    #[test]
    fn units_and_combinations() {
        assert_eq!(parse_millis("2h"), Ok(7_200_000));
        assert_eq!(parse_millis("1h30m"), Ok(5_400_000));
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("1m500ms"), Ok(60_500));
        assert_eq!(parse_millis("1d"), Ok(86_400_000));
        assert_eq!(parse_millis("2w"), Ok(1_209_600_000));
    }

    #[test]
    fn garbage_is_named() {
        assert!(parse_millis("2 hours").is_err_and(|e| e.contains("unit")));
        assert!(parse_millis("").is_err());
        assert!(parse_millis("h").is_err_and(|e| e.contains("number")));
        assert!(parse_millis("99999999999999999w").is_err_and(|e| e.contains("too long")));
    }
}
