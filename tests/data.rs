//! Datasets in their official layouts, the decoded cache, and `data fetch` against a local
//! HTTP server.

mod common;
use common::*;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn rgb(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 + seed * 31) as u8,
            (y * 5 + seed) as u8,
            ((x + y) * 3) as u8,
        ])
    })
}

fn save_jpeg(img: &image::DynamicImage, path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save_with_format(path, image::ImageFormat::Jpeg)
        .unwrap();
}

/// Oxford Flowers layout: jpg/image_00001.jpg ...; image 3 is greyscale, image 5 truncated.
fn flowers_fixture(dir: &Path, n: u32) {
    for i in 1..=n {
        let p = dir.join(format!("jpg/image_{i:05}.jpg"));
        let img = if i == 3 {
            image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(40, 30, |x, _| {
                image::Luma([(x * 5) as u8])
            }))
        } else {
            image::DynamicImage::ImageRgb8(rgb(30 + i * 3, 24 + i * 2, i))
        };
        save_jpeg(&img, &p);
        if i == 5 {
            let bytes = fs::read(&p).unwrap();
            fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
        }
    }
}

fn info(args: &[&str]) -> String {
    let mut v = vec!["data", "info"];
    v.extend_from_slice(args);
    let o = run(&v);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn line_value<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in {out}"))[prefix.len()..]
        .trim()
}

#[test]
fn flowers_layout_split_skipped_and_cache() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("flowers");
    flowers_fixture(&dir, 10);
    let dd = format!("data_dir={}", dir.display());
    let args = ["dataset_name=flowers", dd.as_str(), "image_size=16"];
    let out = info(&args);
    // 10 files: 8 train / 2 validation by the seeded draw; the truncated one is skipped.
    let train: i64 = line_value(&out, "train:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let valid: i64 = line_value(&out, "valid:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(train + valid, 9, "{out}");
    assert!(train == 7 || train == 8, "{out}");
    assert_eq!(line_value(&out, "skipped (unreadable):"), "1");
    assert!(
        out.contains("image_00005.jpg"),
        "the skipped file is named: {out}"
    );
    assert!(out.contains("train mean (R, G, B):"));
    // The same again reads the cache: same numbers, same file.
    let prep = |extra: &[&str]| {
        let mut v = vec!["data", "prepare"];
        v.extend_from_slice(&args);
        v.extend_from_slice(extra);
        let o = run(&v);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    assert!(prep(&[]).contains("(read from the cache)"));
    assert_eq!(info(&args), out, "deterministic");
    let caches = |root: &Path| {
        fs::read_dir(root.join("cache/datasets"))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().unwrap() == "safetensors")
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(caches(&test_data_root()), caches(&test_data_root()));
    // A changed file makes a new cache.
    std::thread::sleep(Duration::from_millis(20));
    save_jpeg(
        &image::DynamicImage::ImageRgb8(rgb(33, 33, 99)),
        &dir.join("jpg/image_00002.jpg"),
    );
    assert!(
        prep(&[]).contains("(decoded)"),
        "a changed file set decodes again"
    );
    assert!(prep(&[]).contains("(read from the cache)"));
    // Another size is another cache entry; antialias too.
    assert!(prep(&["antialias=true"]).contains("(decoded)"));

    // A run on it: the skipped file is in run.json.
    let rd = d.path().join("run");
    let mut a = train_args(
        rd.to_str().unwrap(),
        &[
            "epochs=1",
            "dataset_name=flowers",
            dd.as_str(),
            "batch_size=4",
        ],
    );
    a.retain(|x| *x != "dataset_name=shapes");
    let o = run(&a);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("skipped 1 unreadable image file(s)"),
        "{}",
        text(&o)
    );
    let info = read_json(&rd.join("run.json"));
    assert_eq!(info["skipped_images"].as_array().unwrap().len(), 1);
    assert_eq!(
        info["train_images"].as_i64().unwrap() + info["valid_images"].as_i64().unwrap(),
        9
    );
}

#[test]
fn pets_layout_with_rgba_and_lists() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("pets");
    let names = [
        "Abyssinian_1",
        "Abyssinian_2",
        "beagle_1",
        "beagle_2",
        "beagle_3",
    ];
    for (i, n) in names.iter().enumerate() {
        let p = dir.join(format!("images/{n}.jpg"));
        if i == 1 {
            // An RGBA image (PNG bytes under a .jpg name, as some of the real set has).
            let img = image::RgbaImage::from_fn(20, 20, |x, _| {
                image::Rgba([200, 0, 0, if x < 10 { 0 } else { 255 }])
            });
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            img.save_with_format(&p, image::ImageFormat::Png).unwrap();
        } else {
            save_jpeg(&image::DynamicImage::ImageRgb8(rgb(24, 20, i as u32)), &p);
        }
    }
    fs::create_dir_all(dir.join("annotations")).unwrap();
    fs::write(dir.join("annotations/trainval.txt"), "#Image CLASS-ID SPECIES BREED ID\nAbyssinian_1 1 1 1\nAbyssinian_2 1 1 1\nbeagle_1 2 2 1\n").unwrap();
    fs::write(
        dir.join("annotations/test.txt"),
        "beagle_2 2 2 1\nbeagle_3 2 2 1\n",
    )
    .unwrap();
    let dd = format!("data_dir={}", dir.display());
    let out = info(&["dataset_name=pets", dd.as_str(), "image_size=16"]);
    assert_eq!(line_value(&out, "train:"), "3 images");
    assert_eq!(line_value(&out, "valid:"), "2 images");
    assert_eq!(line_value(&out, "skipped (unreadable):"), "0");
    // Missing data: the error names the path, the layout and the fetch command.
    let o = run(&[
        "data",
        "info",
        "dataset_name=pets",
        "data_dir=/nonexistent/pets",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dataset `pets` not found at /nonexistent/pets"),
        "{err}"
    );
    assert!(
        err.contains("annotations/trainval.txt") && err.contains("ddim-sweep data fetch pets"),
        "{err}"
    );
}

#[test]
fn folder_dataset_trains_and_concurrent_prepares_decode_once() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("imgs");
    for i in 0..40u32 {
        let sub = if i % 2 == 0 { "a" } else { "b/c" };
        let p = dir.join(sub).join(format!("{i}.png"));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        rgb(20 + i % 5, 18, i).save(&p).unwrap();
    }
    let data = d.path().join("data");
    let dd = format!("data_dir={}", dir.display());
    let args = [
        "data",
        "prepare",
        "dataset_name=folder",
        dd.as_str(),
        "image_size=16",
    ];
    let spawn_prepare = || {
        cmd(&args)
            .env("DDIM_DATA", &data)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn_prepare(), spawn_prepare());
    let outs: Vec<String> = [a, b]
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success());
            String::from_utf8_lossy(&o.stdout).to_string()
        })
        .collect();
    assert!(
        outs.iter().all(|o| o.contains("32 train / 8 validation")),
        "{outs:?}"
    );
    assert_eq!(
        outs.iter().filter(|o| o.contains("(decoded)")).count(),
        1,
        "exactly one decoded: {outs:?}"
    );
    let files: Vec<PathBuf> = fs::read_dir(data.join("cache/datasets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files
            .iter()
            .filter(|p| p.extension().unwrap() == "safetensors")
            .count(),
        1
    );
    assert!(
        !files.iter().any(|p| p.to_string_lossy().ends_with(".tmp")),
        "no temporary files left"
    );

    let rd = d.path().join("run");
    let mut a = train_args(
        rd.to_str().unwrap(),
        &["epochs=1", "dataset_name=folder", dd.as_str()],
    );
    a.retain(|x| *x != "dataset_name=shapes");
    let o = cmd(&a).env("DDIM_DATA", &data).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read_json(&rd.join("run.json"))["train_images"], 32);
    // folder without data_dir is refused up front
    let o = run(&["data", "info", "dataset_name=folder"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dataset_name=folder needs data_dir=PATH"),
        "{}",
        text(&o)
    );
}

/// A tar.gz with `jpg/image_00001.jpg` .. for the fetch tests.
fn flowers_archive(path: &Path, n: u32) -> String {
    let src = path.parent().unwrap().join("src");
    flowers_fixture(&src, n);
    // drop the truncated one: the archive holds good images
    let f = fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("jpg", src.join("jpg")).unwrap();
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    let bytes = fs::read(path).unwrap();
    use md5::Digest;
    md5::Md5::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `data fetch flowers` into `root` from `base`.
fn fetch(root: &Path, base: &str, extra: &[&str]) -> std::process::Output {
    let mut v = vec![
        "data",
        "fetch",
        "flowers",
        "--data-root",
        root.to_str().unwrap(),
        "--base-url",
        base,
    ];
    v.extend_from_slice(extra);
    run(&v)
}

/// Serves `root` on 127.0.0.1 (Range-capable); returns (child, base URL).
fn serve(root: &Path, cut_first: Option<usize>) -> (std::process::Child, String) {
    let port_file = root
        .parent()
        .unwrap()
        .join(format!("port-{}", cut_first.unwrap_or(0)));
    fs::remove_file(&port_file).ok();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/range_server.py");
    let mut c = std::process::Command::new(python());
    c.arg(script).arg(root).arg(&port_file);
    if let Some(n) = cut_first {
        c.args(["--cut-first", &n.to_string()]);
    }
    let child = c.spawn().unwrap();
    wait_for("the server's port", Duration::from_secs(30), || {
        port_file.exists()
    });
    let port = fs::read_to_string(&port_file).unwrap();
    (child, format!("http://127.0.0.1:{}", port.trim()))
}

#[test]
fn fetch_resumes_verifies_and_refuses_a_bad_checksum() {
    let d = tempfile::tempdir().unwrap();
    let www = d.path().join("www");
    let archive = www.join("flowers/102/102flowers.tgz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let md5 = flowers_archive(&archive, 6);
    let size = fs::metadata(&archive).unwrap().len();
    let (mut server, base) = serve(&www, Some(1000));
    let root = d.path().join("data");
    let md5_arg = format!("102flowers.tgz={md5}");
    // A wrong checksum: error, nothing extracted, no partial file kept.
    let o = fetch(
        &root,
        &base,
        &["--md5", "102flowers.tgz=00000000000000000000000000000000"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = fetch(
        &root,
        &base,
        &["--md5", "102flowers.tgz=00000000000000000000000000000000"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("checksum mismatch") && err.contains("nothing was extracted"),
        "{err}"
    );
    assert!(!root.join("flowers/jpg").exists());
    assert!(!root.join("flowers/102flowers.tgz.part").exists());
    server.kill().unwrap();
    server.wait().unwrap();

    // The first download is cut after 1000 bytes: an error that says to run again; then the
    // second call resumes with a Range request and completes.
    fs::remove_file(d.path().join("requests.log")).ok();
    let (mut server, base2) = serve(&www, Some(1000));
    let o = fetch(&root, &base2, &["--md5", &md5_arg]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("run the command again to resume"),
        "{}",
        text(&o)
    );
    assert_eq!(
        fs::metadata(root.join("flowers/102flowers.tgz.part"))
            .unwrap()
            .len(),
        1000
    );
    let o = fetch(&root, &base2, &["--md5", &md5_arg]);
    assert!(o.status.success(), "{}", text(&o));
    let log = fs::read_to_string(d.path().join("requests.log")).unwrap();
    assert!(
        log.contains("Range: ") || log.contains("bytes=1000-"),
        "{log}"
    );
    assert!(
        log.lines().last().unwrap().ends_with("bytes=1000-"),
        "{log}"
    );
    assert_eq!(
        fs::metadata(root.join("flowers/102flowers.tgz"))
            .unwrap()
            .len(),
        size
    );
    assert_eq!(fs::read_dir(root.join("flowers/jpg")).unwrap().count(), 6);
    // A good copy is left alone.
    let o = fetch(&root, &base2, &["--md5", &md5_arg]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to do"),
        "{}",
        text(&o)
    );
    server.kill().unwrap();
    server.wait().unwrap();
    // And the data is usable.
    let out = cmd(&["data", "info", "dataset_name=flowers", "image_size=16"])
        .env("DDIM_DATA", &root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    let n = |p: &str| {
        line_value(&out, p)
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(
        n("train:") + n("valid:"),
        5,
        "6 images, one truncated: {out}"
    );
}

/// Datasets before runs: a sweep needing a missing official dataset is refused as a whole
/// (exit 3, one message naming the dataset, where it looked and how to fetch it, no run
/// created) when the download cannot be had; when it can, two sweeps started together fetch
/// it once and train.
#[test]
fn a_sweep_fetches_its_missing_dataset_once_or_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let www = d.path().join("www");
    let archive = www.join("flowers/102/102flowers.tgz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let md5 = flowers_archive(&archive, 30);
    let root = d.path().join("data");
    let runs = d.path().join("runs");
    let sweep = |label: &str| {
        let p = d.path().join(format!("{label}.yaml"));
        fs::write(
            &p,
            format!(
                "label: {label}\nflags:\n  dataset_name: flowers\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  kid_images: 0\n  max_images: 20\n  epochs: 1\n  dataset_repetitions: 1\ngrid:\n  loss_on: [noise, image]\n"
            ),
        )
        .unwrap();
        p.to_str().unwrap().to_string()
    };
    let (a, b) = (sweep("fa"), sweep("fb"));
    let md5_env = format!("102flowers.tgz={md5}");
    let with = |args: &[&str], base: &str| {
        let mut c = cmd(args);
        c.env("DDIM_DATA", &root)
            .env("DDIM_DATA_BASE_URL", base)
            .env("DDIM_DATA_MD5", &md5_env);
        c
    };
    let no_runs = || {
        ["fa", "fb"].iter().all(|l| {
            fs::read_dir(runs.join(l))
                .map(|rd| rd.flatten().all(|e| !e.path().join("run.json").exists()))
                .unwrap_or(true)
        })
    };

    // Unreachable: refused before any run starts, named once.
    let o = with(&run_args(&a, &runs, &[]), "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        all.matches("dataset `flowers` is not available").count(),
        1,
        "{all}"
    );
    assert!(
        all.contains(&root.join("flowers").display().to_string()),
        "{all}"
    );
    assert!(all.contains("ddim-sweep data fetch flowers"), "{all}");
    assert!(no_runs(), "no run created, none failed");
    // Downloads forbidden.
    let o = with(&run_args(&a, &runs, &[]), "http://127.0.0.1:1")
        .env("DDIM_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("downloads are off"),
        "{}",
        text(&o)
    );
    let o = with(&run_args(&a, &runs, &["--offline"]), "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(no_runs());

    // Reachable: two sweeps at once, one download.
    let (mut server, base) = serve(&www, None);
    let spawn_with = |s: &str| {
        with(&run_args(s, &runs, &[]), &base)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn_with(&a), spawn_with(&b));
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    server.kill().ok();
    assert!(oa.status.success(), "{}", text(&oa));
    assert!(ob.status.success(), "{}", text(&ob));
    let fetched = [&oa, &ob]
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("fetching it once"))
        .count();
    assert_eq!(fetched, 1, "one of the two sweeps fetched");
    let log = fs::read_to_string(d.path().join("requests.log")).unwrap();
    assert_eq!(
        log.matches("102flowers.tgz").count(),
        1,
        "one download: {log}"
    );
    for l in ["fa", "fb"] {
        let o = run(&[
            "runs",
            "--runs-dir",
            runs.to_str().unwrap(),
            "--label",
            l,
            "--format",
            "csv",
        ]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(out.matches(",completed,").count(), 2, "{out}");
    }
}
