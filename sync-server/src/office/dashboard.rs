//! The dashboard (概览): the fleet at a glance. Visits per day by kind and
//! by agent over the last 30 days, the review backlog and its age, SIM
//! expiries per week for the next 12 weeks, the register by lifecycle
//! state, the terminals with repeat faults, and the time from arrival to
//! completion. Each chart is SVG drawn on the server by plotters (no
//! script), with its numbers in a table beside it and as CSV.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use plotters::prelude::*;
use posfield_shared::lifecycle::TerminalState;
use posfield_shared::vocab::Term;
use posfield_shared::{CalendarDate, Timestamp, VisitKind};

use super::PageError;
use super::i18n::Lang;
use super::pages::{Chrome, html};
use super::session::Officer;
use crate::store::{BEIJING_OFFSET_SECS, DashboardFigures, DashboardWindow};

/// Days of visits the dashboard shows.
pub const DAYS: i64 = 30;
/// Weeks of SIM expiries it shows.
pub const WEEKS: i64 = 12;
/// Agents the per-agent chart names (the rest are summed as one).
const AGENTS_SHOWN: usize = 12;

/// One chart: its id, title, the labels along it, and its series (a name
/// and a value per label); the page shows it drawn and as a table.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Its id (`kind`, `agent`, `backlog`, `sim`, `states`).
    pub id: &'static str,
    /// Its title, in words.
    pub title: String,
    /// The labels along the axis.
    pub labels: Vec<String>,
    /// The series: a name and a value per label.
    pub series: Vec<(String, Vec<i64>)>,
    /// The chart as inline SVG.
    pub svg: String,
}

impl Chart {
    /// The values of each label across the series, for the table.
    pub fn rows(&self) -> Vec<(String, Vec<i64>)> {
        self.labels
            .iter()
            .enumerate()
            .map(|(i, label)| (label.clone(), self.series.iter().map(|(_, v)| v[i]).collect()))
            .collect()
    }

    /// The chart's numbers as CSV: a label column, then a column a series.
    pub fn csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = vec![String::new()];
        header.extend(self.series.iter().map(|(name, _)| super::import::spreadsheet_safe(name).into_owned()));
        let mut result = writer.write_record(&header);
        for (label, values) in self.rows() {
            let mut record = vec![super::import::spreadsheet_safe(&label).into_owned()];
            record.extend(values.iter().map(i64::to_string));
            result = result.and_then(|()| writer.write_record(&record));
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "writing a chart's CSV failed");
        }
        format!("\u{feff}{}", String::from_utf8_lossy(&writer.into_inner().unwrap_or_default()))
    }
}

/// The colours of the series, in order (then again).
const PALETTE: [RGBColor; 8] = [
    RGBColor(11, 99, 206),
    RGBColor(31, 122, 63),
    RGBColor(178, 94, 0),
    RGBColor(180, 35, 24),
    RGBColor(110, 73, 180),
    RGBColor(0, 128, 128),
    RGBColor(120, 120, 120),
    RGBColor(200, 150, 0),
];

/// A bar chart of the series stacked per label, as SVG text.
fn stacked_bars(labels: &[String], series: &[(String, Vec<i64>)]) -> Result<String, PageError> {
    let fail = |e: &dyn std::fmt::Display| PageError::internal(format!("drawing a chart: {e}"));
    let top =
        (0..labels.len()).map(|i| series.iter().map(|(_, v)| v[i]).sum::<i64>()).max().unwrap_or(0).max(1);
    let count = u32::try_from(labels.len()).unwrap_or(u32::MAX);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(44)
            .build_cartesian_2d((0u32..count).into_segmented(), 0i64..top + top / 10 + 1)
            .map_err(|e| fail(&e))?;
        let step = (labels.len() / 10).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len().min(31))
            .x_label_formatter(&|value| match value {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    let i = *i as usize;
                    if i.is_multiple_of(step) {
                        labels.get(i).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                }
                SegmentValue::Last => String::new(),
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| fail(&e))?;
        let mut base = vec![0i64; labels.len()];
        for (n, (name, values)) in series.iter().enumerate() {
            let colour = PALETTE[n % PALETTE.len()];
            let bars: Vec<Rectangle<(SegmentValue<u32>, i64)>> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0)
                .map(|(i, v)| {
                    let at = u32::try_from(i).unwrap_or(u32::MAX);
                    Rectangle::new(
                        [(SegmentValue::Exact(at), base[i]), (SegmentValue::Exact(at + 1), base[i] + v)],
                        colour.filled(),
                    )
                })
                .collect();
            for (i, v) in values.iter().enumerate() {
                base[i] += v;
            }
            chart
                .draw_series(bars)
                .map_err(|e| fail(&e))?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 13))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.2))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| fail(&e))?;
        }
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}

/// A chart of the series, drawn.
fn chart(
    id: &'static str,
    title: String,
    labels: Vec<String>,
    series: Vec<(String, Vec<i64>)>,
) -> Result<Chart, PageError> {
    let svg = stacked_bars(&labels, &series)?;
    Ok(Chart { id, title, labels, series, svg })
}

/// The dashboard's window as of `now`.
pub fn window(now: Timestamp) -> DashboardWindow {
    let today = now.beijing_date();
    DashboardWindow {
        now: now.seconds(),
        since: today.add_days(1 - DAYS).beijing_start().seconds(),
        sim_from: today.to_string(),
        sim_until: today.add_days(WEEKS * 7 - 1).to_string(),
        repairs_since: super::queries::alert_window(now).repairs_since,
    }
}

/// The figures, in charts and words.
pub struct Dashboard {
    /// The charts, in the page's order.
    pub charts: Vec<Chart>,
    /// Visits waiting for review.
    pub waiting: i64,
    /// Days the longest-waiting visit has waited.
    pub oldest_days: Option<i64>,
    /// Terminals with repeat faults.
    pub repeated_faults: i64,
    /// Visits counted for the time from arrival to completion.
    pub completed_counted: i64,
    /// Their average time from arrival to completion, in minutes.
    pub arrival_to_completion_minutes: Option<i64>,
}

/// The figures as charts, in `lang`.
pub fn charts(lang: Lang, now: Timestamp, figures: &DashboardFigures) -> Result<Dashboard, PageError> {
    let today = now.beijing_date();
    let first_day = (today.add_days(1 - DAYS).beijing_start().seconds() + BEIJING_OFFSET_SECS) / 86_400;
    let days: Vec<String> = (0..DAYS)
        .map(|i| today.add_days(i + 1 - DAYS).to_string().get(5..).unwrap_or_default().to_owned())
        .collect();
    let slot = |day: i64| usize::try_from(day - first_day).ok().filter(|i| *i < days.len());

    // Visits per day by kind: every kind, in the vocabulary's order.
    let by_kind: Vec<(String, Vec<i64>)> = VisitKind::ALL
        .iter()
        .map(|kind| {
            let mut values = vec![0; days.len()];
            for (day, code, n) in &figures.per_day_kind {
                if code == kind.code()
                    && let Some(i) = slot(*day)
                {
                    values[i] += n;
                }
            }
            (lang.term(*kind).to_owned(), values)
        })
        .filter(|(_, values)| values.iter().any(|v| *v > 0))
        .collect();

    // Visits per day by agent: the busiest agents by name, the rest as one.
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, agent, n) in &figures.per_day_agent {
        *totals.entry(agent.as_str()).or_default() += n;
    }
    let mut busiest: Vec<(&str, i64)> = totals.into_iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: Vec<&str> = busiest.iter().take(AGENTS_SHOWN).map(|(a, _)| *a).collect();
    let others = lang.t("dashboard_other_agents").to_owned();
    let mut by_agent: Vec<(String, Vec<i64>)> =
        named.iter().map(|a| ((*a).to_owned(), vec![0; days.len()])).collect();
    if busiest.len() > AGENTS_SHOWN {
        by_agent.push((others, vec![0; days.len()]));
    }
    for (day, agent, n) in &figures.per_day_agent {
        let Some(i) = slot(*day) else { continue };
        let row = named.iter().position(|a| a == agent).unwrap_or(AGENTS_SHOWN.min(by_agent.len() - 1));
        by_agent[row].1[i] += n;
    }

    let backlog_labels = ["backlog_under_day", "backlog_1_3", "backlog_3_7", "backlog_over_7"]
        .map(|key| lang.t(key).to_owned())
        .to_vec();

    // SIM expiries per week from today.
    let mut weeks = vec![0; usize::try_from(WEEKS).unwrap_or(12)];
    for (day, n) in &figures.sim_expiries {
        if let Ok(day) = CalendarDate::parse(day)
            && let Some(week) = usize::try_from(today.days_until(day) / 7).ok().filter(|w| *w < weeks.len())
        {
            weeks[week] += n;
        }
    }
    let week_labels: Vec<String> = (0..WEEKS)
        .map(|w| today.add_days(w * 7).to_string().get(5..).unwrap_or_default().to_owned())
        .collect();

    let state_label = |code: &str| match TerminalState::from_code(code) {
        Some(state) => lang.term(state).to_owned(),
        None if code.is_empty() => lang.t("state_unknown").to_owned(),
        None => code.to_owned(),
    };
    let mut states = figures.states.clone();
    states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let (counted, seconds) = figures.arrival_to_completion;
    let charts = vec![
        chart("kind", lang.t("dashboard_per_day_kind").to_owned(), days.clone(), by_kind)?,
        chart("agent", lang.t("dashboard_per_day_agent").to_owned(), days, by_agent)?,
        chart(
            "backlog",
            lang.t("dashboard_backlog").to_owned(),
            backlog_labels,
            vec![(lang.t("waiting_review").to_owned(), figures.backlog.to_vec())],
        )?,
        chart(
            "sim",
            lang.t("dashboard_sim_weeks").to_owned(),
            week_labels,
            vec![(lang.t("dashboard_sim_series").to_owned(), weeks)],
        )?,
        chart(
            "states",
            lang.t("dashboard_states").to_owned(),
            states.iter().map(|(code, _)| state_label(code)).collect(),
            vec![(lang.t("dashboard_terminals").to_owned(), states.iter().map(|(_, n)| *n).collect())],
        )?,
    ];
    Ok(Dashboard {
        charts,
        waiting: figures.backlog.iter().sum(),
        oldest_days: figures.oldest_waiting.map(|at| (now.seconds() - at) / 86_400),
        repeated_faults: figures.repeated_faults,
        completed_counted: counted,
        arrival_to_completion_minutes: (counted > 0).then(|| seconds / counted / 60),
    })
}

/// The dashboard page.
#[derive(Template)]
#[template(path = "office/dashboard.html")]
pub struct DashboardPage {
    c: Chrome,
    d: Dashboard,
}

/// GET /office/dashboard.
pub async fn dashboard(
    State(state): State<Arc<crate::State>>,
    officer: Officer,
    lang: Lang,
) -> Result<Response, PageError> {
    let now = Timestamp::from_seconds(state.clock.now());
    let figures = state.store.dashboard(&officer.principal(), &window(now)).await?;
    html(&DashboardPage {
        c: Chrome::new(&officer, lang, "dashboard", "/office/dashboard".into()),
        d: charts(lang, now, &figures)?,
    })
}

/// Which chart's numbers to download.
#[derive(Debug, serde::Deserialize)]
pub struct ChartQuery {
    chart: String,
}

/// GET /office/dashboard.csv?chart=ID: one chart's numbers.
pub async fn dashboard_csv(
    State(state): State<Arc<crate::State>>,
    officer: Officer,
    lang: Lang,
    Query(query): Query<ChartQuery>,
) -> Result<Response, PageError> {
    let now = Timestamp::from_seconds(state.clock.now());
    let figures = state.store.dashboard(&officer.principal(), &window(now)).await?;
    let dashboard = charts(lang, now, &figures)?;
    let chart = dashboard
        .charts
        .into_iter()
        .find(|c| c.id == query.chart)
        .ok_or_else(|| PageError::BadRequest(format!("no chart {:?}", query.chart)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"dashboard-{}.csv\"", chart.id)),
        ],
        chart.csv(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charts_put_each_count_on_its_day_week_and_state() {
        let now = CalendarDate::parse("2026-11-10").unwrap().beijing_start();
        let today = (now.seconds() + BEIJING_OFFSET_SECS) / 86_400;
        let figures = DashboardFigures {
            per_day_kind: vec![
                (today, "repair".into(), 3),
                (today - 1, "repair".into(), 1),
                (today - 40, "repair".into(), 9),
            ],
            per_day_agent: vec![(today, "wang".into(), 2), (today, "li".into(), 1)],
            backlog: [1, 2, 0, 4],
            oldest_waiting: Some(now.seconds() - 9 * 86_400),
            sim_expiries: vec![("2026-11-10".into(), 2), ("2026-11-17".into(), 5), ("2027-06-01".into(), 1)],
            states: vec![("installed".into(), 7), (String::new(), 1)],
            arrival_to_completion: (2, 7200),
            repeated_faults: 3,
        };
        let d = charts(Lang::Zh, now, &figures).unwrap();
        let kind = &d.charts[0];
        assert_eq!(kind.labels.len(), 30);
        assert_eq!(kind.labels.last().map(String::as_str), Some("11-10"));
        assert_eq!(kind.series.len(), 1, "only kinds with visits");
        assert_eq!(kind.series[0].1[29], 3);
        assert_eq!(kind.series[0].1[28], 1);
        assert_eq!(kind.series[0].1.iter().sum::<i64>(), 4, "a day before the window is not counted");
        let agent = &d.charts[1];
        assert_eq!(agent.series[0].0, "wang", "the busiest agent first");
        let sim = &d.charts[3];
        assert_eq!(&sim.series[0].1[..2], &[2, 5]);
        assert_eq!(sim.series[0].1.iter().sum::<i64>(), 7, "beyond 12 weeks is not counted");
        let states = &d.charts[4];
        assert_eq!(states.labels, ["已安装", "未登记状态"]);
        assert_eq!((d.waiting, d.oldest_days, d.arrival_to_completion_minutes), (7, Some(9), Some(60)));
        assert!(kind.svg.starts_with("<svg") && kind.svg.contains("<rect"), "{}", kind.svg);
        assert_eq!(states.csv(), "\u{feff},终端数\n已安装,7\n未登记状态,1\n");
    }

    #[test]
    fn a_name_in_a_chart_is_text_not_markup() {
        let labels = vec!["<script>alert(1)</script>".to_owned()];
        let svg =
            stacked_bars(&labels, &[("a&b<i>".to_owned(), vec![1]), ("x".to_owned(), vec![2])]).unwrap();
        assert!(!svg.contains("<script>") && !svg.contains("<i>"), "{svg}");
        // Shown, as text: the label on its axis, the series in the legend.
        assert!(svg.contains("&lt;script&gt;") && svg.contains("a&amp;b&lt;i&gt;"), "{svg}");
    }
}
