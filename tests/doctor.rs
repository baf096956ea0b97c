//! `ddim-sweep doctor`: runs anywhere (no GPU, no data, no network) and says what it found.

mod common;
use common::*;

#[test]
fn doctor_runs_without_gpu_or_data_and_names_what_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("no-data");
    let o = cmd(&["doctor"])
        .env("DDIM_DATA", &empty)
        .env("DDIM_INCEPTION", d.path().join("nowhere.pt"))
        .env("CUDA_VISIBLE_DEVICES", "")
        .env("ONEDNN_MAX_CPU_ISA", "AVX2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "CPU: ",
        "instruction sets: AVX2 ",
        "AVX-512 ",
        "AVX512-BF16 ",
        "AMX-BF16 ",
        "oneDNN ISA limit: ONEDNN_MAX_CPU_ISA=AVX2",
        "bf16: emulated",
        "CUDA: no devices",
        "device=auto    -> cpu",
        "precision=auto -> fp32",
        "libtorch 2.11.0",
        "flowers  not fetched: ddim-sweep data fetch flowers",
        "pets     not fetched",
        "0 file(s)",
        "Inception network (KID/FID): ",
        "missing",
    ] {
        assert!(out.contains(want), "`{want}` in:\n{out}");
    }
    assert!(!empty.exists(), "doctor creates nothing");

    let o = cmd(&["doctor", "--json"])
        .env("DDIM_DATA", &empty)
        .env("CUDA_VISIBLE_DEVICES", "")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["device_auto"], "cpu");
    assert_eq!(v["cuda"].as_array().unwrap().len(), 0);
    assert!(v["cpu"]["logical"].as_u64().unwrap() >= 1);
    assert_eq!(v["datasets"][0]["present"], false);
    let p = v["precision_auto"].as_str().unwrap();
    assert_eq!(p == "bf16", v["cpu"]["native_bf16"].as_bool().unwrap());
    // The project's environment has the real network (tests run after setup).
    assert_eq!(v["inception"]["found"], true, "{v}");
    assert_eq!(v["inception"]["checksum_ok"], true, "{v}");
}
