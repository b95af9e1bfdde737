//! The timeline picture of one incident (`<incident>/timeline.svg`):
//! throughput, error rate and latency per second from the history, the
//! report's own series as extra panels, fault windows as labelled shaded
//! bands, phases, leader changes, OOM kills and mitigations as markers,
//! and under it the postmortem's own timeline on its own clock.
//!
//! Drawn with plotters' SVG backend and its built-in text metrics: text is
//! written as SVG `<text>` elements, so no font files or fontconfig are
//! needed.
//!
//! One concept, one file: one picture's layout, panel by panel; a tenth of
//! it is tests.

use super::Report;
use crate::history::{History, OpStatus};
use crate::postmortem::Dossier;
use crate::timeline::EventKind;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1200;
const Y_LABELS: u32 = 70;
const FONT: &str = "sans-serif";
/// Per-second buckets further apart than this have a hole between them.
const BUCKET_GAP: f64 = 1.5;

/// The picture's file name inside the incident's directory.
pub const FILE: &str = "timeline.svg";

/// Per-second figures computed from a history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    /// Acknowledged operations completed in each second.
    pub ok_per_sec: Vec<(f64, f64)>,
    /// Failed or unknown operations completed in each second.
    pub errors_per_sec: Vec<(f64, f64)>,
    /// Share of completed operations that did not succeed, in percent.
    pub error_pct: Vec<(f64, f64)>,
    /// Median latency of acknowledged operations, in ms.
    pub p50_ms: Vec<(f64, f64)>,
    /// 99th percentile latency of acknowledged operations, in ms.
    pub p99_ms: Vec<(f64, f64)>,
}

/// Buckets a history by completion second, up to `duration_secs`.
pub fn buckets(history: &History, duration_secs: f64) -> Buckets {
    let last = history
        .ops
        .iter()
        .map(|o| o.complete.as_secs_f64())
        .fold(duration_secs, f64::max);
    let n = last.ceil().max(1.0) as usize;
    let mut ok = vec![0u64; n];
    let mut bad = vec![0u64; n];
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); n];
    for op in &history.ops {
        let i = (op.complete.as_secs_f64() as usize).min(n - 1);
        match op.status {
            OpStatus::Ok => {
                ok[i] += 1;
                lat[i].push(op.latency().as_secs_f64() * 1000.0);
            }
            OpStatus::Fail | OpStatus::Unknown => bad[i] += 1,
        }
    }
    let mut b = Buckets::default();
    for i in 0..n {
        let t = i as f64 + 0.5;
        b.ok_per_sec.push((t, ok[i] as f64));
        b.errors_per_sec.push((t, bad[i] as f64));
        let total = ok[i] + bad[i];
        if total > 0 {
            b.error_pct.push((t, 100.0 * bad[i] as f64 / total as f64));
        }
        let l = &mut lat[i];
        if !l.is_empty() {
            l.sort_by(|a, b| a.total_cmp(b));
            let pick = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize];
            b.p50_ms.push((t, pick(0.5)));
            b.p99_ms.push((t, pick(0.99)));
        }
    }
    b
}

/// Splits points into runs whose consecutive x differ by at most `max_gap`.
pub fn segments(points: &[(f64, f64)], max_gap: f64) -> Vec<&[(f64, f64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0 - points[i - 1].0 > max_gap {
            out.push(&points[start..i]);
            start = i;
        }
    }
    if start < points.len() {
        out.push(&points[start..]);
    }
    out
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the timeline: {e}")
}

const FAULT: RGBColor = RGBColor(214, 39, 40);
const OK: RGBColor = RGBColor(31, 119, 180);
const P99: RGBColor = RGBColor(255, 127, 14);
const MITIGATION: RGBColor = RGBColor(44, 160, 44);
const LEADER: RGBColor = RGBColor(148, 103, 189);
const PHASE_COLORS: [RGBColor; 4] = [
    RGBColor(230, 236, 245),
    RGBColor(245, 238, 225),
    RGBColor(230, 245, 232),
    RGBColor(242, 230, 242),
];

/// A fault window: label, start and end (seconds).
struct Window {
    label: String,
    start: f64,
    end: f64,
}

fn fault_windows(report: &Report) -> Vec<Window> {
    report
        .faults
        .iter()
        .filter_map(|f| {
            // From the call: the effect begins before inject verifies it.
            let start = f.invoked_at.as_secs_f64();
            let end = f
                .healed_at
                .map(|h| h.as_secs_f64())
                .unwrap_or(report.duration_secs);
            (end >= start).then(|| Window {
                label: f.kind.clone(),
                start,
                end: end.max(start + 0.2),
            })
        })
        .collect()
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Line colours of a series panel, in order.
const SERIES_COLORS: [RGBColor; 4] = [LEADER, OK, P99, MITIGATION];

/// Separates a series' panel from its line: `raft term · consul-1` and
/// `raft term · consul-2` are two lines of one panel, `raft term`.
pub const SERIES_PANEL_SEPARATOR: &str = " · ";

/// A series panel: its caption and its named lines.
pub type Panel<'s> = (String, Vec<(&'s str, &'s [(f64, f64)])>);

/// The report's series as panels: a series named `<panel> · <line>` joins
/// the other lines of `<panel>`; any other series is a panel of its own.
/// Empty series are left out.
pub fn series_panels(
    series: &std::collections::BTreeMap<String, Vec<(f64, f64)>>,
) -> Vec<Panel<'_>> {
    let mut panels: Vec<Panel> = Vec::new();
    for (name, points) in series.iter().filter(|(_, v)| !v.is_empty()) {
        let (panel, line) = match name.split_once(SERIES_PANEL_SEPARATOR) {
            Some((panel, line)) => (panel, line),
            None => (name.as_str(), name.as_str()),
        };
        match panels.iter_mut().find(|(p, _)| p == panel) {
            Some((_, lines)) if panel != name => lines.push((line, points.as_slice())),
            _ => panels.push((panel.to_string(), vec![(line, points.as_slice())])),
        }
    }
    panels
}

/// A named line of points in one colour.
type Line<'p> = (&'p str, &'p [(f64, f64)], RGBColor);

/// Draws one line panel with the fault bands behind the lines.
fn line_panel(
    area: &Area,
    caption: &str,
    unit: &str,
    x_max: f64,
    lines: &[Line],
    windows: &[Window],
    max_gap: f64,
) -> anyhow::Result<()> {
    let y_max = lines
        .iter()
        .flat_map(|(_, pts, _)| pts.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = if y_max <= 0.0 { 1.0 } else { y_max * 1.1 };
    let mut chart = ChartBuilder::on(area)
        .margin_right(20)
        .margin_top(4)
        .caption(caption, (FONT, 15))
        .x_label_area_size(22)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .y_desc(unit)
        .x_labels(12)
        .y_labels(5)
        .label_style((FONT, 11))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            windows.iter().map(|w| {
                Rectangle::new([(w.start, 0.0), (w.end, y_max)], FAULT.mix(0.12).filled())
            }),
        )
        .map_err(err)?;
    // Each band says which fault it is, at the top of the panel.
    chart
        .draw_series(windows.iter().map(|w| {
            Text::new(
                format!("fault: {}", w.label),
                (w.start + x_max * 0.004, y_max * 0.97),
                TextStyle::from((FONT, 11).into_font()).color(&FAULT),
            )
        }))
        .map_err(err)?;
    let mut any = false;
    for (name, pts, color) in lines {
        if pts.is_empty() {
            continue;
        }
        any = true;
        let color = *color;
        // Seconds without data (no acknowledged op) break the line rather
        // than bridging the gap with a straight segment.
        let segments = segments(pts, max_gap);
        let mut first = true;
        for seg in segments {
            let drawn = chart
                .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))
                .map_err(err)?;
            if first {
                drawn
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
                first = false;
            }
        }
    }
    if any {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 11))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
    } else {
        chart
            .draw_series(std::iter::once(Text::new(
                "no operations recorded",
                (x_max * 0.42, y_max * 0.5),
                (FONT, 13),
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// A strip with spans (phases or faults) and point markers with labels.
struct Strip<'s> {
    caption: &'s str,
    spans: Vec<(String, f64, f64, RGBAColor)>,
    marks: Vec<(String, f64, RGBColor)>,
    /// The x axis: its end, its description, how a tick reads.
    axis: Axis,
}

/// A strip's own time axis (the run's seconds, or the postmortem's clock).
struct Axis {
    x_max: f64,
    desc: &'static str,
    tick: fn(&f64) -> String,
}

impl Axis {
    /// Seconds since the lab started, as the panels above.
    fn run(x_max: f64) -> Axis {
        Axis {
            x_max,
            desc: "seconds since the lab started",
            tick: |x| format!("{x:.0}"),
        }
    }
}

/// `1:05` (hours:minutes) for a tick of the postmortem's clock in seconds.
fn hours_minutes(secs: &f64) -> String {
    let m = (secs / 60.0).round() as u64;
    format!("{}:{:02}", m / 60, m % 60)
}

fn strip_panel(area: &Area, strip: &Strip) -> anyhow::Result<()> {
    let x_max = strip.axis.x_max;
    let rows = 3.0;
    let mut chart = ChartBuilder::on(area)
        .margin_right(20)
        .margin_top(4)
        .caption(strip.caption, (FONT, 15))
        .x_label_area_size(38)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0f64..x_max, 0f64..(rows + 1.0))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels(12)
        .x_label_formatter(&strip.axis.tick)
        .label_style((FONT, 11))
        .x_desc(strip.axis.desc)
        .draw()
        .map_err(err)?;
    // Spans fill the top row band; their names sit inside.
    chart
        .draw_series(
            strip
                .spans
                .iter()
                .map(|(_, s, e, c)| Rectangle::new([(*s, rows), (*e, rows + 1.0)], c.filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(strip.spans.iter().map(|(name, s, _, _)| {
            Text::new(
                shorten(name, 28),
                (*s + x_max * 0.003, rows + 0.75),
                (FONT, 11),
            )
        }))
        .map_err(err)?;
    // Markers: a vertical tick and a label, staggered over three rows.
    for (i, (label, at, color)) in strip.marks.iter().enumerate() {
        let row = rows - 1.0 - (i % 3) as f64;
        let color = *color;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(*at, row + 0.05), (*at, rows + 1.0)],
                color.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(TriangleMarker::new(
                (*at, row + 0.2),
                5,
                color.filled(),
            )))
            .map_err(err)?;
        let anchor = if *at > x_max * 0.7 {
            // Keep labels near the right edge inside the picture.
            (*at - x_max * 0.005, row + 0.55)
        } else {
            (*at + x_max * 0.005, row + 0.55)
        };
        let style = TextStyle::from((FONT, 11).into_font()).color(&color);
        let style = if *at > x_max * 0.7 {
            style.pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Right,
                plotters::style::text_anchor::VPos::Center,
            ))
        } else {
            style.pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ))
        };
        chart
            .draw_series(std::iter::once(Text::new(
                shorten(label, 48),
                anchor,
                style,
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// The observed events: phases as spans; faults, leader changes, OOM
/// kills, deaths and mitigations as markers.
fn observed_strip(report: &Report, windows: &[Window], x_max: f64) -> Strip<'static> {
    let mut spans: Vec<(String, f64, f64, RGBAColor)> = report
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("phase {}", p.name),
                p.start.as_secs_f64(),
                p.end.as_secs_f64(),
                PHASE_COLORS[i % PHASE_COLORS.len()].to_rgba(),
            )
        })
        .collect();
    if spans.is_empty() {
        spans.push((
            "no phases".into(),
            0.0,
            report.duration_secs,
            PHASE_COLORS[0].to_rgba(),
        ));
    }
    let mut marks: Vec<(String, f64, RGBColor)> = windows
        .iter()
        .map(|w| (format!("fault {}", w.label), w.start, FAULT))
        .collect();
    for e in &report.timeline {
        let at = e.at.as_secs_f64();
        let node = e.node.clone().unwrap_or_default();
        let mark = match &e.kind {
            EventKind::LeaderChanged { to, .. } => Some((
                format!("leader → {}", to.as_deref().unwrap_or("none")),
                LEADER,
            )),
            EventKind::OomKilled => Some((format!("OOM kill {node}"), FAULT)),
            EventKind::NodeDied { exit_code } => Some((
                format!(
                    "{node} died{}",
                    exit_code.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
                BLACK,
            )),
            EventKind::Mitigation { description } => Some((description.clone(), MITIGATION)),
            _ => None,
        };
        if let Some((label, color)) = mark {
            marks.push((label, at, color));
        }
    }
    marks.sort_by(|a, b| a.1.total_cmp(&b.1));
    Strip {
        caption: "Observed: phases, faults, leader changes, OOM kills, mitigations",
        spans,
        marks,
        axis: Axis::run(x_max),
    }
}

/// The postmortem's timeline scaled so its last entry lands at the end of
/// the run.
/// The postmortem's own timeline on its own clock (hours:minutes since
/// its first entry), not squeezed onto the run's seconds: a multi-hour
/// outage whose fault story sits in its first minutes stays readable, and
/// the lane above says what the run did. Without offsets, entries are
/// spaced evenly.
fn postmortem_strip(dossier: &Dossier) -> Strip<'static> {
    let span = dossier.span().as_secs_f64();
    let n = dossier.timeline.len().max(1) as f64;
    let (x_max, timed) = if span > 0.0 {
        (span * 1.08, true)
    } else {
        (n, false)
    };
    let at = |i: usize, offset: f64| if timed { offset } else { i as f64 };
    let mut spans = Vec::new();
    let mut open: Option<(String, f64)> = None;
    let mut color_i = 0;
    for (i, e) in dossier.timeline.iter().enumerate() {
        if let Some(p) = &e.phase {
            let x = at(i, e.offset_duration().as_secs_f64());
            if let Some((name, start)) = open.take().filter(|(_, start)| *start < x) {
                spans.push((name, start, x, PHASE_COLORS[color_i % 4].to_rgba()));
                color_i += 1;
            }
            open = Some((format!("phase {p}"), x));
        }
    }
    if let Some((name, start)) = open {
        spans.push((name, start, x_max, PHASE_COLORS[color_i % 4].to_rgba()));
    }
    let marks = dossier
        .timeline
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let color = if e.fault.is_some() { FAULT } else { BLACK };
            (
                format!("{}: {}", e.offset, e.what),
                at(i, e.offset_duration().as_secs_f64()),
                color,
            )
        })
        .collect();
    Strip {
        caption: "Postmortem (as told, on its own clock)",
        spans,
        marks,
        axis: if timed {
            Axis {
                x_max,
                desc: "hours:minutes since the postmortem's first entry",
                tick: hours_minutes,
            }
        } else {
            Axis {
                x_max,
                desc: "the postmortem's entries, in order",
                tick: |x| format!("{}", *x as u64 + 1),
            }
        },
    }
}

/// Renders the picture of `report` as SVG text.
pub fn render(
    report: &Report,
    history: &History,
    dossier: Option<&Dossier>,
) -> anyhow::Result<String> {
    let b = buckets(history, report.duration_secs);
    let x_max = report
        .duration_secs
        .max(b.ok_per_sec.last().map(|p| p.0 + 0.5).unwrap_or(1.0));
    let windows = fault_windows(report);
    let series = series_panels(&report.series);
    let mut heights = vec![180u32, 130, 180];
    heights.extend(series.iter().map(|_| 130u32));
    heights.push(150);
    if dossier.is_some() {
        heights.push(150);
    }
    let title_h = 46u32;
    let total: u32 = title_h + heights.iter().sum::<u32>();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, total)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (title, rest) = root.split_vertically(title_h);
        let recovery = report
            .recovery_secs()
            .map(|r| format!("recovered in {r:.1}s"))
            .unwrap_or_else(|| "recovery not measured".into());
        title
            .draw(&Text::new(
                format!(
                    "{} ({} variant of {}): verdict {:?}",
                    report.incident, report.variant, report.postmortem, report.verdict
                ),
                (10, 6),
                (FONT, 18).into_font().style(FontStyle::Bold),
            ))
            .map_err(err)?;
        title
            .draw(&Text::new(
                format!(
                    "budget {:.0}s, {recovery}, ran {:.1}s, seed {}, ops ok {} / fail {} / unknown {}",
                    report.budget_secs,
                    report.duration_secs,
                    report.seed,
                    report.ops.ok,
                    report.ops.fail,
                    report.ops.unknown
                ),
                (10, 28),
                (FONT, 12),
            ))
            .map_err(err)?;
        let mut breaks = Vec::new();
        let mut y = 0u32;
        for h in &heights[..heights.len() - 1] {
            y += h;
            breaks.push(y);
        }
        let areas = rest.split_by_breakpoints(Vec::<u32>::new(), breaks);
        let mut areas = areas.iter();
        let mut next = || areas.next().expect("one area per panel");
        line_panel(
            next(),
            "Throughput (completed ops per second)",
            "ops/s",
            x_max,
            &[
                ("ok", &b.ok_per_sec, OK),
                ("fail+unknown", &b.errors_per_sec, FAULT),
            ],
            &windows,
            BUCKET_GAP,
        )?;
        line_panel(
            next(),
            "Error rate",
            "% of ops",
            x_max,
            &[("errors %", &b.error_pct, FAULT)],
            &windows,
            BUCKET_GAP,
        )?;
        line_panel(
            next(),
            "Latency of acknowledged ops",
            "ms",
            x_max,
            &[("p50", &b.p50_ms, OK), ("p99", &b.p99_ms, P99)],
            &windows,
            BUCKET_GAP,
        )?;
        for (panel, lines) in &series {
            let lines: Vec<Line> = lines
                .iter()
                .enumerate()
                .map(|(i, (name, pts))| (*name, *pts, SERIES_COLORS[i % SERIES_COLORS.len()]))
                .collect();
            line_panel(next(), panel, "", x_max, &lines, &windows, f64::INFINITY)?;
        }
        strip_panel(next(), &observed_strip(report, &windows, x_max))?;
        if let Some(d) = dossier {
            strip_panel(next(), &postmortem_strip(d))?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Writes `timeline.svg` into `dir`, reading the history written beside
/// the report and the dossier from `postmortems/<id>.toml` if present.
pub fn write(report: &Report, dir: &Path) -> anyhow::Result<()> {
    let history = std::fs::read_to_string(dir.join("history.jsonl"))
        .ok()
        .and_then(|t| History::read_jsonl(&t).ok())
        .unwrap_or_default();
    let dossier = Dossier::find(&report.postmortem);
    let svg = render(report, &history, dossier.as_ref())?;
    std::fs::write(dir.join(FILE), svg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use std::time::Duration;

    /// The lane that squashed the story: Roblox's 73 hours were scaled onto
    /// a 3-minute run, so the fault (23 h) and the slow leaders (30 h) sat
    /// seconds apart at the run's scale, unreadable beside the run's own
    /// phases. On its own clock each entry sits at its offset, labelled in
    /// hours:minutes.
    #[test]
    fn the_postmortem_lane_keeps_its_own_clock() {
        let path = crate::paths::workspace_root().join("postmortems/roblox-2021-consul.toml");
        let d = Dossier::load(&path).unwrap();
        let strip = postmortem_strip(&d);
        let hours: Vec<f64> = strip.marks.iter().map(|m| m.1 / 3600.0).collect();
        assert_eq!(hours[..3], [0.0, 23.0, 30.0]);
        assert!((strip.axis.x_max / 3600.0 - 73.0 * 1.08).abs() < 1e-6);
        assert_eq!((strip.axis.tick)(&(23.0 * 3600.0 + 5.0 * 60.0)), "23:05");
        assert!(strip
            .axis
            .desc
            .contains("since the postmortem's first entry"));
        assert!(strip
            .spans
            .iter()
            .any(|s| s.0 == "phase fault" && s.1 == 23.0 * 3600.0));
    }

    #[test]
    fn series_named_panel_dot_line_share_a_panel() {
        let mut series = std::collections::BTreeMap::new();
        series.insert("raft term · consul-1".to_string(), vec![(0.0, 2.0)]);
        series.insert("raft term · consul-2".to_string(), vec![(0.0, 3.0)]);
        series.insert("freelist bytes consul-1".to_string(), vec![(0.0, 1.0)]);
        series.insert("empty".to_string(), vec![]);
        let panels = series_panels(&series);
        let shape: Vec<(String, Vec<&str>)> = panels
            .iter()
            .map(|(p, lines)| (p.clone(), lines.iter().map(|l| l.0).collect()))
            .collect();
        assert_eq!(
            shape,
            [
                (
                    "freelist bytes consul-1".to_string(),
                    vec!["freelist bytes consul-1"]
                ),
                ("raft term".to_string(), vec!["consul-1", "consul-2"]),
            ]
        );
    }

    #[test]
    fn buckets_count_per_second_and_rate_errors() {
        let ms = Duration::from_millis;
        let h = History::new(vec![
            Op::ok("add").at(ms(100), ms(200)),
            Op::ok("add").at(ms(300), ms(700)),
            Op::fail("add", "x").at(ms(1100), ms(1200)),
            Op::ok("add").at(ms(1300), ms(1310)),
        ]);
        let b = buckets(&h, 2.0);
        assert_eq!(b.ok_per_sec, vec![(0.5, 2.0), (1.5, 1.0)]);
        assert_eq!(b.errors_per_sec, vec![(0.5, 0.0), (1.5, 1.0)]);
        assert_eq!(b.error_pct, vec![(0.5, 0.0), (1.5, 50.0)]);
        assert_eq!(b.p99_ms[0].1.round(), 400.0);
        assert_eq!(b.p50_ms[1].1.round(), 10.0);
    }

    #[test]
    fn lines_break_at_holes() {
        let pts = [(0.5, 1.0), (1.5, 1.0), (4.5, 2.0), (5.5, 2.0)];
        let segs = segments(&pts, BUCKET_GAP);
        assert_eq!(segs, vec![&pts[..2], &pts[2..]]);
        assert_eq!(segments(&pts, f64::INFINITY).len(), 1);
        assert!(segments(&[], 1.0).is_empty());
    }
}
