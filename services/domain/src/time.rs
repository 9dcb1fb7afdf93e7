use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: the unit of every timestamp the pipeline stores.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The UTC calendar date of an epoch-ms time (Howard Hinnant's days-to-civil algorithm).
fn civil(epoch_ms: i64) -> (i64, i64, i64) {
    let z = epoch_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `2026-12-01`.
pub fn utc_date(epoch_ms: i64) -> String {
    let (year, month, day) = civil(epoch_ms);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `2026-12-01T10:00:00.123Z`.
pub fn rfc3339(epoch_ms: i64) -> String {
    let rest = epoch_ms.rem_euclid(86_400_000) / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        utc_date(epoch_ms),
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        epoch_ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_and_times() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_796_083_200_000), "2026-12-01");
        assert_eq!(utc_date(1_796_083_200_000 - 1), "2026-11-30");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(rfc3339(1_796_083_200_000 + 3_723_004), "2026-12-01T01:02:03.004Z");
    }
}
