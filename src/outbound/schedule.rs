//! When a delivery is tried again (DESIGN.md § Outbound): after each failed
//! attempt, the next delay of `GANCHO_RETRY_SCHEDULE`; `Retry-After` on a
//! 429/503 is honoured within [the scheduled delay, twice it]. Pure functions.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    Retry { at: DateTime<Utc> },
    GaveUp,
}

/// The next step after a failed attempt. `attempts_in_cycle` counts the
/// attempts of the current schedule run, including the one that just failed;
/// `schedule[0]` was the delay before the first.
pub fn after_failure(
    schedule: &[Duration],
    attempts_in_cycle: u32,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
) -> Next {
    let Some(delay) = schedule.get(attempts_in_cycle as usize).copied() else {
        return Next::GaveUp;
    };
    let delay = match retry_after {
        Some(asked) => asked.clamp(delay, delay.saturating_mul(2)),
        None => delay,
    };
    match chrono::Duration::from_std(delay) {
        Ok(d) => Next::Retry { at: now + d },
        Err(_) => Next::GaveUp,
    }
}

/// Reads `Retry-After`: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    (at - now).to_std().ok().or(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secs(s: &[u64]) -> Vec<Duration> {
        s.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn each_failure_waits_the_next_delay_then_gives_up() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let schedule = secs(&[0, 60, 300]);

        assert_eq!(
            after_failure(&schedule, 1, now, None),
            Next::Retry {
                at: now + chrono::Duration::seconds(60)
            }
        );
        assert_eq!(
            after_failure(&schedule, 2, now, None),
            Next::Retry {
                at: now + chrono::Duration::seconds(300)
            }
        );
        assert_eq!(after_failure(&schedule, 3, now, None), Next::GaveUp);
    }

    #[test]
    fn retry_after_is_bounded_by_the_schedule() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let schedule = secs(&[0, 60]);
        let at = |d: Option<u64>| after_failure(&schedule, 1, now, d.map(Duration::from_secs));

        assert_eq!(
            at(Some(10)),
            Next::Retry {
                at: now + chrono::Duration::seconds(60)
            }
        );
        assert_eq!(
            at(Some(90)),
            Next::Retry {
                at: now + chrono::Duration::seconds(90)
            }
        );
        assert_eq!(
            at(Some(1000)),
            Next::Retry {
                at: now + chrono::Duration::seconds(120)
            }
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
