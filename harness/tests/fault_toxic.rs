//! Link toxics through a real Toxiproxy container: measured added latency
//! within ±20 % of the setting, a timeout toxic black-holes, reset_peer
//! resets, and nothing is left after heal.

mod fault_support;

use fault_support::*;
use harness::fault::toxic::LinkToxic;
use harness::runner;
use harness::spec::Requirement;
use harness::toxiproxy::{Toxic, ToxiproxyError};
use harness::Outcome;
use std::time::{Duration, Instant};

/// One fresh connection per request, so each sees the toxics in force.
fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(timeout)
        .build()
        .unwrap()
}

async fn median_ms(url: &str, n: usize) -> anyhow::Result<f64> {
    let c = client(Duration::from_secs(5));
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        c.get(url).send().await?.error_for_status()?.text().await?;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Ok(v[n / 2])
}

#[test]
fn toxics_act_as_set_and_heal_leaves_nothing() {
    runner::run(spec("fault_toxics", &[Requirement::Toxiproxy]), |lab| {
        Box::pin(async move {
            let (_node, tp) = toxiproxy(lab).await?;
            // The link: the test process -> toxiproxy:20000 -> the server's
            // own HTTP API over the lab network.
            tp.create_proxy("api", "0.0.0.0:20000", "toxiproxy:8474")
                .await?;
            let url = format!("http://{}/version", _node.addr(20000));
            let base = median_ms(&url, 15).await?;

            for (ms, stream) in [(200u32, "downstream"), (300, "upstream")] {
                let toxic = if stream == "upstream" {
                    Toxic::latency(ms, 0).upstream()
                } else {
                    Toxic::latency(ms, 0)
                };
                let guard = lab.inject(LinkToxic::new(tp.clone(), "api", toxic)).await?;
                let with = median_ms(&url, 15).await?;
                let added = with - base;
                lab.figure(format!("toxic.latency_{stream}_{ms}ms.added_ms"), added);
                require(
                    lab,
                    &format!("toxic.latency.{stream}"),
                    (added - ms as f64).abs() <= 0.2 * ms as f64,
                    format!("set {ms} ms, measured +{added:.1} ms (base {base:.1} ms)"),
                );
                guard.heal().await?;
            }

            // A black hole: the request times out, the connection is not refused.
            let guard = lab
                .inject(LinkToxic::new(tp.clone(), "api", Toxic::black_hole()))
                .await?;
            let r = client(Duration::from_secs(2)).get(&url).send().await;
            let timed_out = matches!(&r, Err(e) if e.is_timeout());
            require(
                lab,
                "toxic.timeout.black_holes",
                timed_out,
                format!("{r:?}"),
            );
            guard.heal().await?;

            // reset_peer: the connection ends at once with no data. (Seen
            // from the test process through Docker's userland proxy, the RST
            // arrives as a close; the real RST is checked on a peer link below.)
            let guard = lab
                .inject(LinkToxic::new(
                    tp.clone(),
                    "api",
                    Toxic::reset_peer(0).upstream(),
                ))
                .await?;
            let t = Instant::now();
            let r = async {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut s = tokio::net::TcpStream::connect(_node.addr(20000)).await?;
                let _ = s.write_all(b"GET /version HTTP/1.0\r\n\r\n").await;
                let mut buf = Vec::new();
                tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await?
            }
            .await;
            let ended = match &r {
                Ok(0) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                Ok(_) => false,
            };
            require(
                lab,
                "toxic.reset_peer.ends",
                ended && t.elapsed() < Duration::from_secs(2),
                format!("{r:?} after {:?}", t.elapsed()),
            );
            guard.heal().await?;

            // limit_data: the response is cut short.
            let guard = lab
                .inject(LinkToxic::new(tp.clone(), "api", Toxic::limit_data(10)))
                .await?;
            let r = client(Duration::from_secs(5)).get(&url).send().await;
            let cut = match r {
                Ok(resp) => resp.text().await.is_err(),
                Err(_) => true,
            };
            require(
                lab,
                "toxic.limit_data.cuts",
                cut,
                "a 10-byte limit cuts an HTTP response",
            );
            guard.heal().await?;

            // Every other kind is accepted and verified by the server.
            for toxic in [
                Toxic::bandwidth(64),
                Toxic::slow_close(100),
                Toxic::slicer(8, 2, 100),
                Toxic::latency(50, 10).with_toxicity(0.5),
            ] {
                let guard = lab.inject(LinkToxic::new(tp.clone(), "api", toxic)).await?;
                guard.heal().await?;
            }

            // A second toxic of the same type and stream is refused, typed.
            let guard = lab
                .inject(LinkToxic::new(tp.clone(), "api", Toxic::latency(10, 0)))
                .await?;
            let dup = tp.add_toxic("api", &Toxic::latency(20, 0)).await;
            let reset = lab
                .inject(LinkToxic::new(
                    tp.clone(),
                    "api",
                    Toxic::reset_peer(0).upstream(),
                ))
                .await?;
            let dup_reset = tp.add_toxic("api", &Toxic::reset_peer(5).upstream()).await;
            reset.heal().await?;
            require(
                lab,
                "toxic.duplicate_refused",
                matches!(dup, Err(ToxiproxyError::ToxicExists { .. }))
                    && matches!(dup_reset, Err(ToxiproxyError::ToxicExists { .. })),
                format!("{dup:?} / {dup_reset:?}"),
            );
            guard.heal().await?;

            // A proxy that does not exist is named as such, whichever path
            // adds the toxic (the crate's, or our own request for reset_peer).
            let missing = tp.add_toxic("no-such-proxy", &Toxic::latency(10, 0)).await;
            let missing_reset = tp.add_toxic("no-such-proxy", &Toxic::reset_peer(0)).await;
            require(
                lab,
                "toxic.missing_proxy_named",
                matches!(&missing, Err(ToxiproxyError::NoSuchProxy(p)) if p == "no-such-proxy")
                    && matches!(&missing_reset, Err(ToxiproxyError::NoSuchProxy(_))),
                format!("{missing:?} / {missing_reset:?}"),
            );

            let left = tp.toxics("api").await?;
            require(
                lab,
                "toxic.nothing_left",
                left.is_empty(),
                format!("{left:?}"),
            );
            let after = median_ms(&url, 15).await?;
            require(
                lab,
                "toxic.latency_back",
                after < base + 50.0,
                format!("{after:.1} ms vs base {base:.1} ms"),
            );

            // A peer link: a node dials toxiproxy:21000 instead of the server.
            let n1 = listener(lab, "n1").await?;
            tp.create_proxy("peer", "0.0.0.0:21000", "toxiproxy:8474")
                .await?;
            let curl = |lab: harness::LabCtx, n1: harness::Node| async move {
                lab.exec(
                    &n1,
                    &[
                        "curl",
                        "-sS",
                        "--max-time",
                        "2",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{time_total}",
                        "http://toxiproxy:21000/version",
                    ],
                )
                .await
            };
            let ok = curl(lab.ctx(), n1.clone()).await?;
            let guard = lab
                .inject(LinkToxic::new(tp.clone(), "peer", Toxic::black_hole()))
                .await?;
            let holed = curl(lab.ctx(), n1.clone()).await?;
            guard.heal().await?;
            require(
                lab,
                "toxic.peer_link",
                ok.success() && !holed.success(),
                format!("{} / {}", ok.stdout, holed.stderr.trim()),
            );
            // Between containers the reset is a real RST.
            let guard = lab
                .inject(LinkToxic::new(
                    tp.clone(),
                    "peer",
                    Toxic::reset_peer(0).upstream(),
                ))
                .await?;
            let reset = curl(lab.ctx(), n1.clone()).await?;
            guard.heal().await?;
            require(
                lab,
                "toxic.reset_peer.resets",
                reset.stderr.contains("reset by peer"),
                reset.stderr.trim().to_string(),
            );
            Outcome::Ok(())
        })
    });
}
