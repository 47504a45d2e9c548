//! Times on the command line: seconds ("83.5") or clock form ("1:23.5", "00:01:23").

pub fn parse_time(s: &str) -> Result<f64, String> {
    let bad = || format!("'{s}' is not a time (use seconds like 83.5 or H:MM:SS.s)");
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let mut seconds = 0.0;
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        let value: f64 = part.parse().map_err(|_| bad())?;
        if !value.is_finite() || value < 0.0 || (!last && value.fract() != 0.0) {
            return Err(bad());
        }
        if i > 0 && value >= 60.0 {
            return Err(bad());
        }
        seconds = seconds * 60.0 + value;
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn parses_seconds_and_clock_times() {
        assert_eq!(parse_time("83.5"), Ok(83.5));
        assert_eq!(parse_time("1:23.5"), Ok(83.5));
        assert_eq!(parse_time("01:00:02"), Ok(3602.0));
        assert!(parse_time("-1").is_err());
        assert!(parse_time("1:75").is_err());
        assert!(parse_time("abc").is_err());
        assert!(parse_time("1::2").is_err());
    }
}
