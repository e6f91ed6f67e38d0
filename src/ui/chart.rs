//! The events-per-day chart, drawn on the server as inline SVG (readable
//! without script): a success line and a failure line over the period,
//! each point with a `<title>` tooltip and `data-` attributes, and the same
//! numbers as a table for screen readers.

use maud::{html, Markup};

use super::i18n::{Lang, M};
use crate::logs::DayStats;

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 28.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;

/// A round upper bound for the y axis: 1, 2, 5, 10, 20, 50, …
fn nice_max(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max.max(1) {
                return m * step;
            }
        }
        step *= 10;
    }
}

/// The y axis's labelled values: 0, the middle when it is whole, the top.
fn ticks(top: i64) -> Vec<i64> {
    if top % 2 == 0 {
        vec![0, top / 2, top]
    } else {
        vec![0, top]
    }
}

pub fn chart(lang: Lang, days: &[DayStats]) -> Markup {
    let n = days.len().max(1);
    let top = nice_max(
        days.iter()
            .map(|d| d.success.max(d.failure))
            .max()
            .unwrap_or(0),
    );
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| {
        if n == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: i64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let line = |pick: fn(&DayStats) -> i64| {
        days.iter()
            .enumerate()
            .map(|(i, d)| format!("{:.1},{:.1}", x(i), y(pick(d))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // At most about 10 date labels, whatever the period.
    let every = n.div_ceil(10).max(1);
    let success = lang.t(M::Success);
    let failure = lang.t(M::Failure);
    html! {
        figure class="chart-box" {
            svg class="chart" viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby="chart-title" {
                title id="chart-title" { (lang.t(M::ChartTitle)) }
                @for v in ticks(top) {
                    line class="grid" x1=(LEFT) x2=(W - RIGHT) y1=(y(v)) y2=(y(v)) {}
                    text class="axis" x=(LEFT - 6.0) y=(y(v) + 4.0) text-anchor="end" { (lang.int(v)) }
                }
                @for (i, d) in days.iter().enumerate() {
                    @if i.is_multiple_of(every) || i + 1 == n {
                        text class="axis" x=(x(i)) y=(H - 10.0) text-anchor="middle" { (lang.day(d.date)) }
                    }
                }
                polyline class="success" points=(line(|d| d.success)) {}
                polyline class="failure" points=(line(|d| d.failure)) {}
                @for (i, d) in days.iter().enumerate() {
                    circle class="point success" cx=(x(i)) cy=(y(d.success)) r="3.5"
                        data-date=(d.date) data-success=(d.success) data-failure=(d.failure) {
                        title { (lang.day(d.date)) ": " (d.success) " " (success) ", " (d.failure) " " (failure) }
                    }
                    circle class="point failure" cx=(x(i)) cy=(y(d.failure)) r="3.5" {
                        title { (lang.day(d.date)) ": " (d.failure) " " (failure) }
                    }
                }
            }
            figcaption class="legend" {
                span class="key success" { (success) } " "
                span class="key failure" { (failure) }
            }
            table class="visually-hidden" {
                caption { (lang.t(M::ChartTitle)) }
                thead { tr { th scope="col" { (lang.t(M::Date)) } th scope="col" { (success) } th scope="col" { (failure) } } }
                tbody {
                    @for d in days {
                        tr { th scope="row" { (lang.day(d.date)) } td { (d.success) } td { (d.failure) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_axis_top_is_round_and_not_below_the_data() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(120), 200);
    }

    #[test]
    fn each_day_has_a_point_with_its_counts() {
        let day = |d: u32, s, f| DayStats {
            date: NaiveDate::from_ymd_opt(2026, 12, d).unwrap_or_default(),
            total: s + f,
            success: s,
            failure: f,
        };
        let svg = chart(Lang::Pt, &[day(1, 0, 0), day(2, 4, 1)]).into_string();
        assert!(svg.contains(r#"data-date="2026-12-02" data-success="4" data-failure="1""#));
        assert!(svg.contains("02/12: 4 Sucesso, 1 Falha"));
        assert_eq!(svg.matches("<circle").count(), 4);
    }
}
