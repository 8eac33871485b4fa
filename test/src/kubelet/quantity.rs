//! Test-only code that stands in for a kubelet: parsing of Kubernetes resource quantities
//! (`500m`, `2`, `24Gi`, `1e3`) for the downward API's `resourceFieldRef` and memory limits.
//!
//! Values are held as an exact count of nano-units in an `i128`, so `0.1` divided by `1m` is
//! exactly 100 (no floating-point rounding).

/// Parses a quantity into nano-units (rounded up to the next nano-unit, like the apiserver).
pub fn parse_nanos(input: &str) -> Result<i128, String> {
    let s = input.trim();
    let bad = || format!("invalid quantity {input:?}");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1i128, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        Some(_) => (1, s),
        None => return Err(bad()),
    };
    let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_len);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad());
    }
    let digits = format!("{int_part}{frac_part}");
    let mantissa: i128 = digits.parse().map_err(|_| bad())?;
    let frac_digits = u32::try_from(frac_part.len()).map_err(|_| bad())?;

    // value = mantissa * 2^bin * 10^dec / 10^frac_digits, in nano-units: dec += 9.
    let (bin, dec): (u32, i32) = match suffix {
        "" => (0, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        exp if exp.starts_with(['e', 'E']) => (0, exp[1..].parse::<i32>().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    let dec = dec + 9 - i32::try_from(frac_digits).map_err(|_| bad())?;
    let mut numerator = mantissa.checked_mul(1i128 << bin).ok_or_else(bad)?;
    let mut denominator: i128 = 1;
    if dec >= 0 {
        numerator =
            numerator.checked_mul(10i128.checked_pow(dec.unsigned_abs()).ok_or_else(bad)?).ok_or_else(bad)?;
    } else {
        denominator = 10i128.checked_pow(dec.unsigned_abs()).ok_or_else(bad)?;
    }
    Ok(sign * div_ceil(numerator, denominator))
}

/// A memory quantity in bytes (a fraction of a byte rounds up, like the apiserver's `Value()`).
pub fn parse_bytes(quantity: &str) -> Result<u64, String> {
    let nanos = parse_nanos(quantity)?;
    u64::try_from(div_ceil(nanos, 1_000_000_000)).map_err(|_| format!("invalid memory quantity {quantity:?}"))
}

/// `ceil(quantity / divisor)` as the downward API prints it (an integer).
pub fn divide_ceil(quantity: &str, divisor: &str) -> Result<i128, String> {
    let q = parse_nanos(quantity)?;
    let d = parse_nanos(divisor)?;
    if d <= 0 {
        return Err(format!("invalid divisor {divisor:?}: must be greater than zero"));
    }
    Ok(div_ceil(q, d))
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a > 0) == (b > 0)) { q + 1 } else { q }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nano-units in one unit.
    const NANO: i128 = 1_000_000_000;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse_nanos("1"), Ok(NANO));
        assert_eq!(parse_nanos("500m"), Ok(NANO / 2));
        assert_eq!(parse_nanos("0.1"), Ok(NANO / 10));
        assert_eq!(parse_nanos("2k"), Ok(2000 * NANO));
        assert_eq!(parse_nanos("1Ki"), Ok(1024 * NANO));
        assert_eq!(parse_nanos("24Gi"), Ok(24 * (1i128 << 30) * NANO));
        assert_eq!(parse_nanos("1e3"), Ok(1000 * NANO));
        assert_eq!(parse_nanos("1E"), Ok(1_000_000_000_000_000_000 * NANO));
        assert_eq!(parse_nanos("5n"), Ok(5));
        assert!(parse_nanos("").is_err());
        assert!(parse_nanos("abc").is_err());
        assert!(parse_nanos("1x").is_err());
    }

    #[test]
    fn memory_in_bytes() {
        assert_eq!(parse_bytes("64Mi"), Ok(64 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("128974848"), Ok(128_974_848));
        assert_eq!(parse_bytes("129e6"), Ok(129_000_000));
        assert_eq!(parse_bytes("0.5Ki"), Ok(512));
        assert_eq!(parse_bytes("1500m"), Ok(2));
        assert!(parse_bytes("-1Mi").is_err());
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn divides_rounding_up() {
        assert_eq!(divide_ceil("0.1", "1m"), Ok(100));
        assert_eq!(divide_ceil("250m", "1"), Ok(1));
        assert_eq!(divide_ceil("2", "1"), Ok(2));
        assert_eq!(divide_ceil("128Mi", "1Mi"), Ok(128));
        assert_eq!(divide_ceil("1Gi", "1"), Ok(1 << 30));
        assert!(divide_ceil("1", "0").is_err());
    }
}
