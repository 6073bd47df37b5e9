//! REST credentials: `X-LC-Id` with `X-LC-Key: <key>[,master]` or
//! `X-LC-Sign: md5(timestamp + key),timestamp[,master]`, whatever header bytes a client
//! sends.
//!
//! Input: up to three lines, the values of `X-LC-Id`, `X-LC-Key` and `X-LC-Sign` (an empty
//! or missing line leaves the header out; the seeds in `corpus/lc_sign` are what the SDKs
//! send). A sign line `@<timestamp>[,master]` stands for the honest signature of that
//! timestamp, computed here.
//!
//! Checked: nothing panics; an honest `X-LC-Sign` whose timestamp is within the window of
//! the server's clock is accepted with the right kind of key (when the app id is right and
//! no `X-LC-Key` is sent); nothing is accepted that was not made with one of the app's keys,
//! and no `X-LC-Sign` outside the window.
#![no_main]

use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use libfuzzer_sys::fuzz_target;
use md5::{Digest, Md5};
use xinshi::config::AppConfig;
use xinshi::gateway::rest::{Key, credential_at};

/// The server's clock (the seeds' timestamps are near it) and the `X-LC-Sign` window.
const NOW: i64 = 1_795_641_565_576;
const WINDOW: i64 = 15 * 60 * 1000;

fn md5_hex(text: &str) -> String {
    Md5::digest(text).iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let app = AppConfig { id: "fuzz-app".into(), key: "fuzz-app-key".into(), master_key: "fuzz-master-key".into() };
    let mut lines = data.splitn(3, |b| *b == b'\n');
    let (id, key, sign) = (lines.next(), lines.next(), lines.next());
    let mut honest = None;
    let sign: Option<Vec<u8>> = sign.map(|line| match line.strip_prefix(b"@").map(String::from_utf8_lossy) {
        Some(rest) => {
            let (ts, master) = match rest.strip_suffix(",master") {
                Some(ts) => (ts.to_owned(), true),
                None => (rest.into_owned(), false),
            };
            let key = if master { &app.master_key } else { &app.key };
            honest = Some((ts.clone(), master));
            format!("{},{ts}{}", md5_hex(&format!("{ts}{key}")), if master { ",master" } else { "" }).into_bytes()
        }
        None => line.to_vec(),
    });

    let value = |v: Option<&[u8]>| v.filter(|v| !v.is_empty()).and_then(|v| HeaderValue::from_bytes(v).ok());
    let (id, key, sign) = (value(id), value(key), value(sign.as_deref()));
    let mut req = TestRequest::default();
    for (name, value) in [("x-lc-id", &id), ("x-lc-key", &key), ("x-lc-sign", &sign)] {
        if let Some(value) = value {
            req = req.insert_header((name, value.clone()));
        }
    }
    let got = credential_at(&req.to_http_request(), &app, NOW, WINDOW);

    let text = |v: &Option<HeaderValue>| v.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (id, key, sign) = (text(&id), text(&key), text(&sign));
    if let (Some((ts, master)), Some(_), None) = (&honest, &sign, &key)
        && id.as_deref() == Some("fuzz-app")
        && !ts.contains(',')
        && ts.trim().parse::<i64>().is_ok_and(|t| NOW.abs_diff(t) <= WINDOW as u64)
    {
        let want = if *master { Key::Master } else { Key::App };
        assert_eq!(got, Some(want), "an honest X-LC-Sign was refused");
    }
    let Some(kind) = got else { return };
    assert_eq!(id.as_deref(), Some("fuzz-app"), "accepted without the app id");
    if let Some(key) = key {
        let want = if kind == Key::Master { format!("{},master", app.master_key) } else { app.key.clone() };
        assert_eq!(key, want, "accepted a wrong X-LC-Key");
        return;
    }
    let sign = sign.expect("accepted with neither X-LC-Key nor X-LC-Sign");
    let mut parts = sign.split(',');
    let (digest, ts) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let key = if kind == Key::Master { &app.master_key } else { &app.key };
    assert!(digest.eq_ignore_ascii_case(&md5_hex(&format!("{ts}{key}"))), "accepted a forged X-LC-Sign");
    let made: i64 = ts.trim().parse().expect("accepted an X-LC-Sign whose timestamp is no number");
    assert!(NOW.abs_diff(made) <= WINDOW as u64, "accepted an X-LC-Sign outside the window");
});
