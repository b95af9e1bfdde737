//! What really happens with Docker API versions, checked on the running
//! engine: the harness's client (bollard 0.21 through
//! `harness::docker::connect`) sends no API version in its request paths
//! (`/version`, not `/v1.53/version`: bollard issue #736), the engine
//! answers at its own, and an engine older than bollard's nominal version
//! would refuse a request that did carry it.
//!
//! The client talks to a recording Unix-socket proxy in front of the
//! engine, so the paths checked are the bytes on the wire. Only read-only
//! calls are made (ping, version, info). The engine test points
//! `DOCKER_HOST` of this process at the proxy: no other test here uses
//! Docker.

use harness::runner;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// Forwards one client connection to the engine, recording what the
/// client sent.
async fn pipe(client: UnixStream, engine: PathBuf, sent: Arc<Mutex<Vec<u8>>>) {
    let Ok(server) = UnixStream::connect(&engine).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let mut buf = [0u8; 8192];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sent.lock().unwrap().extend_from_slice(&buf[..n]);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    tokio::join!(up, down);
}

/// The request targets (`GET /version` -> `/version`) in what was sent.
fn request_paths(sent: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(sent)
        .lines()
        .filter(|l| l.ends_with(" HTTP/1.1") || l.ends_with(" HTTP/1.0"))
        .filter_map(|l| l.split(' ').nth(1))
        .map(String::from)
        .collect()
}

/// Whether a request path starts with an API version (`/v1.41/...`).
fn versioned(path: &str) -> bool {
    path.strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.chars().all(|c| c.is_ascii_digit())
                && minor.chars().all(|c| c.is_ascii_digit())
        })
}

fn parse_api(v: &str) -> Option<(usize, usize)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// A raw `GET path` on the engine's socket: the status line and the body.
async fn raw_get(engine: &Path, path: &str) -> (String, String) {
    let mut s = UnixStream::connect(engine)
        .await
        .expect("the engine's socket");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_client_sends_no_api_version_and_the_engine_answers_at_its_own() {
    let test = "the_client_sends_no_api_version_and_the_engine_answers_at_its_own";
    if !runner::docker_or_skip(test) {
        return;
    }
    let endpoint = harness::docker::endpoint();
    let Some(engine) = endpoint.strip_prefix("unix://").map(PathBuf::from) else {
        runner::loud(&format!(
            "SKIPPED {test}: DOCKER_HOST is {endpoint}; the check records requests on a unix socket"
        ));
        return;
    };
    let dir = std::env::temp_dir().join(format!("docker-api-version-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let proxy = dir.join("docker.sock");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let (engine_api, nominal) = rt.block_on(async {
        let listener = UnixListener::bind(&proxy).expect("bind the proxy socket");
        let recorder = sent.clone();
        let upstream = engine.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pipe(client, upstream.clone(), recorder.clone()));
            }
        });
        // No other test in this binary reads DOCKER_HOST.
        std::env::set_var("DOCKER_HOST", format!("unix://{}", proxy.display()));
        let docker = harness::docker::connect()
            .await
            .expect("the harness connects through the proxy");
        let version = docker.version().await.expect("GET version");
        docker.info().await.expect("GET info");
        let engine_api = version
            .api_version
            .expect("the engine names its API version");
        (engine_api, docker.client_version())
    });
    let _ = std::fs::remove_dir_all(&dir);
    let paths = request_paths(&sent.lock().unwrap());
    for want in ["/_ping", "/version", "/info"] {
        assert!(
            paths.iter().any(|p| p == want),
            "the harness asked for {want} unversioned; it sent {paths:?}"
        );
    }
    let with_version: Vec<&String> = paths.iter().filter(|p| versioned(p)).collect();
    assert!(
        with_version.is_empty(),
        "the client sent an API version ({with_version:?}): bollard no longer drops it \
         (issue #736), so an engine older than API {nominal} would refuse it; \
         negotiate the version in harness::docker::connect and fix its docs and doctor's line"
    );
    // The number bollard would have sent, and what the engine does with it.
    let nominal_api = (nominal.major_version, nominal.minor_version);
    let engine_api_n = parse_api(&engine_api).expect("an API version like 1.41");
    let (status, body) = rt.block_on(raw_get(&engine, &format!("/v{nominal}/version")));
    if engine_api_n < nominal_api {
        assert!(
            status.contains(" 400 ") && body.contains("too new"),
            "engine API {engine_api} < bollard's {nominal}: a versioned request is refused \
             (status `{status}`, body `{body}`)"
        );
        runner::loud(&format!(
            "{test}: the engine (API {engine_api}) refuses /v{nominal}/..., and serves the harness, which sent {}",
            paths.join(" ")
        ));
    } else {
        assert!(status.contains(" 200 "), "{status}: {body}");
    }
}

#[test]
fn versioned_paths_are_recognised() {
    assert!(versioned("/v1.53/version"));
    assert!(versioned("/v1.41/containers/json?all=true"));
    assert!(!versioned("/version"));
    assert!(!versioned("/volumes"));
    assert!(!versioned("/v1/x"));
    assert!(!versioned("/_ping"));
    assert_eq!(
        request_paths(b"GET /version HTTP/1.1\r\nhost: d\r\n\r\nHEAD /_ping HTTP/1.1\r\n\r\n"),
        vec!["/version", "/_ping"]
    );
}
