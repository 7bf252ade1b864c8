//! Per-plugin counters in Prometheus's text format, and a minimal HTTP
//! endpoint that serves them (`GET /metrics`) on a loopback address.

use crate::engine::{Engine, PluginStats};
use crate::ingest::counters::{IngestCounters, IngestResult};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use plexus_actors::histogram::HistogramSnapshot;
use plexus_proto::PluginKind;
use std::fmt::Write as _;
use std::sync::Arc;

/// Renders every plugin's counters.
pub fn render(stats: &[PluginStats]) -> String {
    type Pick = fn(&PluginStats) -> u64;
    let families: [(&str, &str, &str, Pick); 17] = [
        (
            "plexus_events_delivered_total",
            "counter",
            "Events the plugin acknowledged.",
            |s| s.counters.delivered,
        ),
        (
            "plexus_delivery_failures_total",
            "counter",
            "Delivery attempts that failed.",
            |s| s.counters.failed,
        ),
        (
            "plexus_events_queued_total",
            "counter",
            "Events written to the retry queue.",
            |s| s.counters.queued,
        ),
        (
            "plexus_events_overflowed_total",
            "counter",
            "Events spilled to disk: the mailbox stayed full past overflow_wait, or a shutdown cut their delivery short.",
            |s| s.counters.overflowed,
        ),
        (
            "plexus_events_redriven_total",
            "counter",
            "Queued events delivered by a re-drive.",
            |s| s.counters.redriven,
        ),
        (
            "plexus_events_dropped_too_old_total",
            "counter",
            "Events dropped as older than retry_max_time.",
            |s| s.counters.dropped_too_old,
        ),
        (
            "plexus_events_dropped_queue_full_total",
            "counter",
            "Events dropped because the retry and spill queues held retry_queue_max_size events.",
            |s| s.counters.dropped_queue_full,
        ),
        (
            "plexus_events_dropped_no_retry_total",
            "counter",
            "Failed events dropped because retries are off.",
            |s| s.counters.dropped_no_retry,
        ),
        (
            "plexus_queue_errors_total",
            "counter",
            "Events lost to queue errors.",
            |s| s.counters.queue_errors,
        ),
        (
            "plexus_events_dropped_by_operator_total",
            "counter",
            "Queued events an operator dropped (plexus queue drop on a live daemon).",
            |s| s.counters.dropped_by_operator,
        ),
        (
            "plexus_queue_flush_errors_total",
            "counter",
            "Queue flushes that failed after their events were accepted (not durable until a later flush).",
            |s| s.counters.flush_errors,
        ),
        (
            "plexus_plugin_restarts_total",
            "counter",
            "Plugin process restarts.",
            |s| s.counters.restarts,
        ),
        (
            "plexus_plugin_hung_restarts_total",
            "counter",
            "Restarts of plugins that stopped answering their health checks.",
            |s| s.counters.hung_restarts,
        ),
        (
            "plexus_queue_length",
            "gauge",
            "Events waiting in the retry queue.",
            |s| s.counters.queue_len,
        ),
        (
            "plexus_spill_length",
            "gauge",
            "Events waiting in the spill queue for their first delivery.",
            |s| s.counters.spill_len,
        ),
        (
            "plexus_events_in_flight",
            "gauge",
            "Events handed to the plugin and not answered yet.",
            |s| s.in_flight,
        ),
        (
            "plexus_plugin_up",
            "gauge",
            "1 while the plugin process runs.",
            |s| u64::from(s.counters.pid != 0),
        ),
    ];
    let mut text = String::new();
    render_histogram(
        &mut text,
        "plexus_delivery_call_seconds",
        "How long a notifier delivery call took, from send to answer.",
        stats,
        |s| s.call_latency.as_ref(),
    );
    render_histogram(
        &mut text,
        "plexus_delivery_call_events",
        "Events per notifier delivery call (1 for SFTPGo's unary service).",
        stats,
        |s| s.batch_size.as_ref(),
    );
    for (name, kind, help, pick) in families {
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for plugin in stats {
            let _ = writeln!(text, "{name}{{{}}} {}", labels(plugin), pick(plugin));
        }
    }
    let name = "plexus_retry_queue_oldest_age_seconds";
    let _ = writeln!(
        text,
        "# HELP {name} Age of the oldest event in the retry queue (0 when it is empty)."
    );
    let _ = writeln!(text, "# TYPE {name} gauge");
    for plugin in stats.iter().filter(|s| s.kind == PluginKind::Notifier) {
        let age = plugin.oldest_retry_age.unwrap_or_default().as_secs_f64();
        let _ = writeln!(text, "{name}{{{}}} {age:.3}", labels(plugin));
    }
    text
}

/// A plugin's labels: its short label (`<type>.<basename>`, bounded by the
/// config) and its kind.
fn labels(plugin: &PluginStats) -> String {
    format!(
        "plugin=\"{}\",kind=\"{}\"",
        escape(&plugin.label),
        plugin.kind
    )
}

/// The queue store's health: how long its writes have been stuck (0 when
/// they move). Minutes mean sled has stopped: see the error in the log.
pub fn render_storage(stalled_for: Option<std::time::Duration>) -> String {
    let name = "plexus_storage_stalled_seconds";
    let seconds = stalled_for.map_or(0.0, |d| d.as_secs_f64());
    format!(
        "# HELP {name} How long the queue store's writes and flushes have been in progress with none finishing (0: none in progress).\n\
         # TYPE {name} gauge\n\
         {name} {seconds:.3}\n"
    )
}

/// The ingestion API's requests by result (`plexus serve`).
pub fn render_ingest(counters: &IngestCounters) -> String {
    let name = "plexus_ingest_requests_total";
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP {name} Ingestion API requests (Publish, PublishBatch) by result."
    );
    let _ = writeln!(text, "# TYPE {name} counter");
    for result in IngestResult::ALL {
        let _ = writeln!(
            text,
            "{name}{{result=\"{}\"}} {}",
            result.label(),
            counters.get(result)
        );
    }
    text
}

/// One histogram family; plugins without one (not notifiers) are left out.
fn render_histogram(
    text: &mut String,
    name: &str,
    help: &str,
    stats: &[PluginStats],
    pick: fn(&PluginStats) -> Option<&HistogramSnapshot>,
) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} histogram");
    for plugin in stats {
        let Some(histogram) = pick(plugin) else {
            continue;
        };
        let labels = labels(plugin);
        let bounds = histogram
            .bounds
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_owned()]);
        for (bound, count) in bounds.zip(&histogram.cumulative) {
            let _ = writeln!(text, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(text, "{name}_sum{{{labels}}} {}", histogram.sum);
        let _ = writeln!(text, "{name}_count{{{labels}}} {}", histogram.count);
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `GET /metrics` until `shutdown` resolves; `sources` are the
/// daemon's sources (`engine.sources`), rendered after the plugins.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    sources: Vec<Arc<crate::sources::counters::SourceCounters>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let sources = Arc::new(sources);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let engine = engine.clone();
        let sources = sources.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let engine = engine.clone();
                    let sources = sources.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(respond(&request, &engine, &sources))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(
    request: &Request<hyper::body::Incoming>,
    engine: &Engine,
    sources: &[Arc<crate::sources::counters::SourceCounters>],
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method().as_str(), request.uri().path()) {
        ("GET", "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render(&engine.stats())
                + &render_ingest(engine.ingest_counters())
                + &render_storage(engine.storage_stalled_for())
                + &crate::sources::counters::render(sources),
        ),
        ("GET", _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics\n".to_owned(),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_actors::CounterSnapshot;
    use std::time::Duration;

    #[test]
    fn renders_one_sample_per_plugin_and_family() {
        let stats = vec![PluginStats {
            name: "/bin/my \"odd\" plugin".into(),
            label: "notifier.my \"odd\" plugin".into(),
            kind: PluginKind::Notifier,
            in_flight: 5,
            oldest_retry_age: Some(Duration::from_millis(2500)),
            last_error: None,
            counters: CounterSnapshot {
                delivered: 7,
                queue_len: 3,
                pid: 42,
                ..Default::default()
            },
            call_latency: Some(HistogramSnapshot {
                bounds: &[0.01, 0.1],
                cumulative: vec![2, 3, 4],
                sum: 1.5,
                count: 4,
            }),
            batch_size: None,
        }];
        let text = render(&stats);
        assert!(text.contains("plexus_events_delivered_total{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\"} 7"), "{text}");
        assert!(text.contains(
            "plexus_queue_length{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\"} 3"
        ));
        assert!(text.contains(
            "plexus_plugin_up{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\"} 1"
        ));
        assert!(text.contains(
            "plexus_events_in_flight{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\"} 5"
        ));
        assert!(text.contains(
            "plexus_retry_queue_oldest_age_seconds{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\"} 2.500"
        ), "{text}");
        assert_eq!(text.matches("# TYPE").count(), 20);
        assert!(text.contains("plexus_delivery_call_seconds_bucket{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\",le=\"0.1\"} 3"), "{text}");
        assert!(text.contains("plexus_delivery_call_seconds_bucket{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\",le=\"+Inf\"} 4"), "{text}");
        assert!(text.contains("plexus_delivery_call_seconds_count{plugin=\"notifier.my \\\"odd\\\" plugin\",kind=\"notifier\"} 4"), "{text}");
    }

    #[test]
    fn the_grafana_dashboard_uses_only_metrics_that_exist() {
        let dashboard = include_str!("../../contrib/grafana-dashboard.json");
        let stats = vec![PluginStats {
            name: "/bin/p".into(),
            label: "notifier.p".into(),
            kind: PluginKind::Notifier,
            in_flight: 0,
            oldest_retry_age: None,
            last_error: None,
            counters: CounterSnapshot::default(),
            call_latency: Some(HistogramSnapshot {
                bounds: &[1.0],
                cumulative: vec![0, 0],
                sum: 0.0,
                count: 0,
            }),
            batch_size: Some(HistogramSnapshot {
                bounds: &[1.0],
                cumulative: vec![0, 0],
                sum: 0.0,
                count: 0,
            }),
        }];
        let text = render(&stats) + &render_ingest(&IngestCounters::default());
        let mut checked = 0;
        for (start, _) in dashboard.match_indices("plexus_") {
            let name: String = dashboard[start..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name.ends_with('_') {
                // A regex prefix such as plexus_events_dropped_.*
                assert!(text.contains(&name), "no metric starts with {name}");
            } else {
                assert!(
                    text.contains(&format!("{name}{{")),
                    "{name} is not rendered"
                );
            }
            checked += 1;
        }
        assert!(checked >= 8, "{checked}");
    }
}
