//! The comparison drawn as one SVG: events/s, latency and CPU per event,
//! side by side, Plexus against the Go host for each target plugin.
//!
//! Written by hand (a few rectangles and labels) rather than with a plotting
//! crate: the figure is simple, and the benchmarks should not pull a font
//! stack into the workspace's build.

use crate::report::Report;
use std::fmt::Write;

const PLEXUS: &str = "#2b6cb0";
const PLEXUS_LIGHT: &str = "#90cdf4";
const GO: &str = "#dd6b20";
const GO_LIGHT: &str = "#fbd38d";

const PANEL_WIDTH: f64 = 380.0;
const PLOT_TOP: f64 = 90.0;
const PLOT_HEIGHT: f64 = 260.0;
const LEFT_MARGIN: f64 = 50.0;

struct Bar {
    value: f64,
    label: String,
    color: &'static str,
}

struct Group {
    name: String,
    bars: Vec<Bar>,
}

/// The figure for a report.
pub fn render(report: &Report) -> String {
    let throughput: Vec<Group> = report
        .comparisons
        .iter()
        .map(|c| Group {
            name: format!("{} ({:.2}×)", c.name(), c.throughput_ratio),
            bars: vec![
                bar(
                    c.plexus.events_per_sec,
                    format!("{:.0}", c.plexus.events_per_sec),
                    PLEXUS,
                ),
                bar(
                    c.go.events_per_sec,
                    format!("{:.0}", c.go.events_per_sec),
                    GO,
                ),
            ],
        })
        .collect();
    let ms = |ns: u64| ns as f64 / 1e6;
    // Only where Plexus latency is measured (not in daemon mode).
    let latency: Vec<Group> = report
        .comparisons
        .iter()
        .filter(|c| c.p99_ratio.is_some())
        .map(|c| Group {
            name: c.name(),
            bars: vec![
                bar(
                    ms(c.plexus.latency_ns.p50),
                    format!("{:.1}", ms(c.plexus.latency_ns.p50)),
                    PLEXUS,
                ),
                bar(
                    ms(c.plexus.latency_ns.p99),
                    format!("{:.1}", ms(c.plexus.latency_ns.p99)),
                    PLEXUS_LIGHT,
                ),
                bar(
                    ms(c.go.latency_ns.p50),
                    format!("{:.1}", ms(c.go.latency_ns.p50)),
                    GO,
                ),
                bar(
                    ms(c.go.latency_ns.p99),
                    format!("{:.1}", ms(c.go.latency_ns.p99)),
                    GO_LIGHT,
                ),
            ],
        })
        .collect();
    let cpu: Vec<Group> = report
        .comparisons
        .iter()
        .map(|c| Group {
            name: c.name(),
            bars: vec![
                bar(
                    c.plexus.cpu_per_event_ns / 1e3,
                    format!("{:.1}", c.plexus.cpu_per_event_ns / 1e3),
                    PLEXUS,
                ),
                bar(
                    c.go.cpu_per_event_ns / 1e3,
                    format!("{:.1}", c.go.cpu_per_event_ns / 1e3),
                    GO,
                ),
            ],
        })
        .collect();

    let width = PANEL_WIDTH * 3.0 + 20.0;
    let height = PLOT_TOP + PLOT_HEIGHT + 70.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let s = &report.settings;
    let m = &report.machine;
    let _ = writeln!(
        svg,
        r#"<text x="10" y="20" font-size="15" font-weight="bold">Plexus vs SFTPGo-style Go host: {} events × {} rounds, ≤{} in flight (Plexus max_in_flight {}, max_calls_in_flight {}), mTLS {}, {}</text>"#,
        s.events,
        s.rounds,
        s.window,
        s.plexus_max_in_flight,
        s.plexus_max_calls_in_flight,
        if s.auto_mtls { "on" } else { "off" },
        escape(&s.durability)
    );
    let _ = writeln!(
        svg,
        r##"<text x="10" y="38" fill="#555">{} cores, {}, {} ({} build)</text>"##,
        m.cores,
        escape(&m.cpu_model),
        escape(&m.date_utc),
        escape(&s.build_profile)
    );
    legend(&mut svg, 10.0, 58.0);
    panel(&mut svg, 10.0, "events/s (higher is better)", &throughput);
    panel(
        &mut svg,
        10.0 + PANEL_WIDTH,
        "latency ms: p50 dark, p99 light (lower is better)",
        &latency,
    );
    panel(
        &mut svg,
        10.0 + 2.0 * PANEL_WIDTH,
        "CPU µs per event, host + plugin (+ emit in daemon mode)",
        &cpu,
    );
    svg.push_str("</svg>\n");
    svg
}

fn bar(value: f64, label: String, color: &'static str) -> Bar {
    Bar {
        value: if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        },
        label,
        color,
    }
}

fn legend(svg: &mut String, x: f64, y: f64) {
    let items = [
        (PLEXUS, "Plexus"),
        (GO, "Go host"),
        (PLEXUS_LIGHT, "Plexus p99"),
        (GO_LIGHT, "Go host p99"),
    ];
    for (i, (color, name)) in items.iter().enumerate() {
        let x = x + i as f64 * 120.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{name}</text>"#,
            y - 10.0,
            x + 16.0,
            y
        );
    }
}

fn panel(svg: &mut String, x0: f64, title: &str, groups: &[Group]) {
    let max = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.value))
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        PLOT_HEIGHT / (max * 1.1)
    } else {
        0.0
    };
    let base = PLOT_TOP + PLOT_HEIGHT;
    let plot_x = x0 + LEFT_MARGIN;
    let plot_width = PANEL_WIDTH - LEFT_MARGIN - 20.0;
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
        plot_x,
        PLOT_TOP - 12.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{plot_x}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/><line x1="{plot_x}" y1="{PLOT_TOP}" x2="{plot_x}" y2="{base}" stroke="#333"/>"##,
        plot_x + plot_width
    );
    // Four grid lines with their values.
    for step in 1..=4 {
        let value = max * 1.1 * step as f64 / 4.0;
        let y = base - value * scale;
        let _ = writeln!(
            svg,
            r##"<line x1="{plot_x}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555" font-size="10">{}</text>"##,
            plot_x + plot_width,
            plot_x - 4.0,
            y + 3.0,
            short(value)
        );
    }
    if groups.is_empty() {
        return;
    }
    let group_width = plot_width / groups.len() as f64;
    for (g, group) in groups.iter().enumerate() {
        let gx = plot_x + g as f64 * group_width;
        let bar_width = (group_width * 0.8) / group.bars.len().max(1) as f64;
        for (b, bar) in group.bars.iter().enumerate() {
            let h = bar.value * scale;
            let x = gx + group_width * 0.1 + b as f64 * bar_width;
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                base - h,
                bar_width - 2.0,
                bar.color,
                x + bar_width / 2.0 - 1.0,
                base - h - 4.0,
                escape(&bar.label)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + group_width / 2.0,
            base + 18.0,
            escape(&group.name)
        );
    }
}

/// 12345 -> "12.3k"; 0.5 -> "0.50".
fn short(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
