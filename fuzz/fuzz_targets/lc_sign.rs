//! REST credentials: `X-LC-Id` with `X-LC-Key: <key>[,master]` or
//! `X-LC-Sign: md5(timestamp + key),timestamp[,master]`, any header bytes a client sends.
//!
//! Checked: nothing panics; an honest `X-LC-Sign` (either hex case) is accepted with the
//! right key kind; a header that was not made with a key is never accepted.
#![no_main]

use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use md5::{Digest, Md5};
use xinshi::config::AppConfig;
use xinshi::gateway::rest::{Key, credential};

#[derive(Debug, Arbitrary)]
struct Input {
    id: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    sign: Option<Vec<u8>>,
    /// Sign honestly: (timestamp, master, upper-case hex).
    honest: Option<(String, bool, bool)>,
}

fn app() -> AppConfig {
    AppConfig { id: "fuzz-app".into(), key: "fuzz-app-key".into(), master_key: "fuzz-master-key".into() }
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text).iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|input: Input| {
    let app = app();
    let mut req = TestRequest::default();
    for (name, value) in [("x-lc-id", &input.id), ("x-lc-key", &input.key), ("x-lc-sign", &input.sign)] {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_bytes(v).ok()) {
            req = req.insert_header((name, value));
        }
    }
    let got = credential(&req.to_http_request(), &app);

    if let Some((ts, master, upper)) = &input.honest {
        let key = if *master { &app.master_key } else { &app.key };
        let digest = md5_hex(&format!("{ts}{key}"));
        let digest = if *upper { digest.to_ascii_uppercase() } else { digest };
        let sign = format!("{digest},{ts}{}", if *master { ",master" } else { "" });
        let Ok(value) = HeaderValue::from_str(&sign) else { return };
        if value.to_str().is_err() || ts.contains(',') {
            return;
        }
        let req = TestRequest::default().insert_header(("x-lc-id", "fuzz-app")).insert_header(("x-lc-sign", value));
        let want = if *master { Key::Master } else { Key::App };
        assert_eq!(credential(&req.to_http_request(), &app), Some(want), "an honest X-LC-Sign was refused");
        return;
    }

    let Some(kind) = got else { return };
    assert_eq!(input.id.as_deref(), Some(app.id.as_bytes()), "accepted without the app id");
    let key = input.key.as_deref().and_then(|k| HeaderValue::from_bytes(k).ok());
    if let Some(key) = key.as_ref().and_then(|k| k.to_str().ok()) {
        let want = if kind == Key::Master { format!("{},master", app.master_key) } else { app.key.clone() };
        assert_eq!(key, want, "accepted a wrong X-LC-Key");
        return;
    }
    let sign = input.sign.as_deref().map(|s| String::from_utf8_lossy(s).into_owned()).expect("accepted with no key");
    let mut parts = sign.split(',');
    let (digest, ts) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let key = if kind == Key::Master { &app.master_key } else { &app.key };
    assert!(digest.eq_ignore_ascii_case(&md5_hex(&format!("{ts}{key}"))), "accepted a forged X-LC-Sign");
});
