//! Writes the seed corpora under `fuzz/corpus/<target>/` from the gateway
//! fixtures (`tests/fixtures/gateways/`), and runs every seed through its
//! target's check once. Run from the repository root:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus
//! ```
//!
//! The corpora are not committed (they grow while fuzzing); this is.

use std::path::{Path, PathBuf};

use gancho::inbound::normalize::GatewayKind;
use gancho::standard_webhooks;
use gancho_fuzz::{GatewayCase, SignedCase};
use serde_json::{json, Value};

/// The signing time of the fixtures that carry none.
const FIXTURE_NOW: i64 = 1_736_955_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ is inside the repository")
        .to_path_buf()
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = root().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), data).expect("seed written");
}

fn string_pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every fixture as a `gateways` seed (and its body as a `form_body` seed).
fn fixture_seeds() -> usize {
    let dir = root().join("tests/fixtures/gateways");
    let mut metas: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).expect("gateway dir"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
        .collect();
    metas.sort();
    for meta_path in &metas {
        let meta: Value =
            serde_json::from_slice(&std::fs::read(meta_path).expect("meta")).expect("meta json");
        let gateway_dir = meta_path.parent().expect("in a gateway dir");
        let body = std::fs::read(gateway_dir.join(meta["body_file"].as_str().expect("body_file")))
            .expect("body file");
        let kind = GatewayKind::parse(meta["gateway"].as_str().expect("gateway"))
            .expect("a known gateway");
        let case = GatewayCase {
            kind,
            now: meta["signing_timestamp"].as_i64().unwrap_or(FIXTURE_NOW),
            secrets: vec![meta["secret"].as_str().expect("secret").to_string()],
            headers: string_pairs(&meta["headers"])
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            query: string_pairs(&meta["query"]),
            body: body.clone(),
        };
        let encoded = case.encode();
        assert_eq!(GatewayCase::decode(&encoded).as_ref(), Some(&case));
        gancho_fuzz::check_gateway(&case);
        let name = format!(
            "{}-{}",
            gateway_dir.file_name().expect("dir name").to_string_lossy(),
            meta_path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .trim_end_matches(".meta.json")
        );
        write("gateways", &name, &encoded);
        gancho_fuzz::check_form_body(&body);
        write("form_body", &name, &body);
    }
    metas.len()
}

/// gancho's own `generic` format, Standard Webhooks-signed: the fixtures
/// have no directory for it.
fn generic_seeds() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = serde_json::to_vec(&json!({
        "id": "evt_01", "type": "purchase.approved", "created_at": "2026-11-23T15:00:00Z",
        "data": {"gateway": "generic", "transaction_id": "T-1001", "status": "approved",
            "customer": {"email": "ana@example.com", "name": "Ana", "phone": "+5511912345678"},
            "product": {"id": "EXT-42", "name": "Curso"}, "amount_cents": 49700,
            "currency": "BRL", "subscription_id": null, "recurrence": null,
            "occurred_at": "2026-11-23T14:59:58Z", "access_ends_at": "2026-12-23T14:59:58Z"}
    }))
    .expect("JSON");
    let signature =
        standard_webhooks::sign(secret, "msg_abc", FIXTURE_NOW, &body).expect("signable");
    let case = GatewayCase {
        kind: GatewayKind::Generic,
        now: FIXTURE_NOW,
        secrets: vec![secret.to_string()],
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), "msg_abc".into()),
            ("webhook-timestamp".into(), FIXTURE_NOW.to_string()),
            ("webhook-signature".into(), signature.clone()),
        ],
        query: vec![],
        body: body.clone(),
    };
    gancho_fuzz::check_gateway(&case);
    write("gateways", "generic-purchase_approved", &case.encode());

    let spec = SignedCase {
        secret: secret.into(),
        id: "msg_p5jXN8AQM9LWM0D4loKWxJek".into(),
        timestamp: "1614265330".into(),
        now: "1614265340".into(),
        signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
        flip: "3".into(),
        body: br#"{"test": 2432232314}"#.to_vec(),
    };
    let ours = SignedCase {
        timestamp: FIXTURE_NOW.to_string(),
        now: String::new(),
        signature: String::new(),
        id: "msg_abc".into(),
        body,
        ..spec.clone()
    };
    let rotated = SignedCase {
        signature: format!("v2,abc {signature} v1,bm90LWl0"),
        secret: "plain-secret-not-base64".into(),
        ..ours.clone()
    };
    for (name, case) in [("spec", spec), ("generic", ours), ("rotated", rotated)] {
        assert_eq!(SignedCase::decode(&case.encode()), case);
        gancho_fuzz::check_standard_webhooks(&case);
        write("standard_webhooks", name, &case.encode());
    }
}

fn log_filter_seeds() {
    let queries = [
        "",
        "direction=in&status=success",
        "direction=out&status=failure&limit=500",
        "email=%20Ana%40Example.COM%20&event_type=purchase.approved",
        "from=2026-11-23T15:00:00Z&to=2026-11-24T15:00:00-03:00",
        "from=2026-11-24T00:00:00Z&to=2026-11-23T00:00:00Z",
        "limit=0",
        "cursor=MTczNjk1NTAwMDAwMC5sb2dfMDFKSDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA",
        "cursor=not-a-cursor&limit=10",
    ];
    for (i, q) in queries.iter().enumerate() {
        gancho_fuzz::check_log_filter(q.as_bytes());
        write("log_filter", &format!("query-{i}"), q.as_bytes());
    }
}

fn main() {
    let fixtures = fixture_seeds();
    generic_seeds();
    log_filter_seeds();
    // Small hand-made form bodies next to the fixtures' own.
    for (i, body) in ["a=1&b=%20x%20", "&&=&a", "k=%zz&k=v+w", "  \n=x"]
        .iter()
        .enumerate()
    {
        gancho_fuzz::check_form_body(body.as_bytes());
        write("form_body", &format!("form-{i}"), body.as_bytes());
    }
    eprintln!(
        "wrote seeds for {fixtures} fixtures under {}",
        root().join("fuzz/corpus").display()
    );
}
