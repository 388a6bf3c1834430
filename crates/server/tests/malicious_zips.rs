//! Hostile packages are refused, nothing is written outside the code directory, and the server
//! stays healthy.

mod support;

use std::io::Write;

use serde_json::Value;
use support::{create_body, hello_zip, tree, zip_of, TestServer};
use zip::write::SimpleFileOptions;

const UNZIP: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

/// Uploads `zip` as a new function; it must be refused with `message`, and afterwards the only
/// files under the server's directory are its own (no stray file anywhere, no package kept).
#[track_caller]
fn refused(zip: &[u8], status: u16, ty: &str, message: &str) {
    let s = TestServer::start();
    let before = tree(s.dir.path());
    let r = s.call_json("POST", "/2015-03-31/functions", &create_body("evil", zip));
    assert_eq!(
        (r.status, r.error_type.as_deref()),
        (status, Some(ty)),
        "{}",
        r.body
    );
    assert!(r.message().starts_with(message), "{}", r.body);
    let after = tree(s.dir.path());
    assert_eq!(before, after, "the refused upload left files behind");
    assert!(!s.dir.path().join("evil.txt").exists());
    assert_eq!(s.function_count(), 0);
    // Still healthy: a good function goes through.
    s.create("good", &hello_zip());
}

#[test]
fn zip_slip_parent_directory() {
    let zip = zip_of(&[("app.py", b"x"), ("../../evil.txt", b"owned")]);
    refused(&zip, 400, "InvalidParameterValueException", UNZIP);
}

#[test]
fn absolute_path() {
    let target = std::env::temp_dir().join("nimbus-evil-absolute.txt");
    let zip = zip_of(&[(target.to_str().expect("utf-8"), b"owned")]);
    refused(&zip, 400, "InvalidParameterValueException", UNZIP);
    assert!(!target.exists());
}

#[test]
fn symlink_to_etc() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.add_symlink("etc", "/etc", SimpleFileOptions::default())
        .expect("link");
    w.start_file("app.py", SimpleFileOptions::default())
        .expect("file");
    w.write_all(b"x").expect("write");
    let zip = w.finish().expect("finish").into_inner();
    refused(&zip, 400, "InvalidParameterValueException", UNZIP);
}

#[test]
fn symlink_then_write_through_it() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.add_symlink("up", "..", SimpleFileOptions::default())
        .expect("link");
    w.start_file("up/evil.txt", SimpleFileOptions::default())
        .expect("file");
    w.write_all(b"owned").expect("write");
    let zip = w.finish().expect("finish").into_inner();
    refused(&zip, 400, "InvalidParameterValueException", UNZIP);
}

#[test]
fn one_hundred_thousand_entries() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..100_000 {
        w.start_file(format!("f{i}"), opts).expect("file");
    }
    let zip = w.finish().expect("finish").into_inner();
    refused(&zip, 400, "InvalidParameterValueException", UNZIP);
}

/// 300 MB of zeros, with the sizes in the headers telling the truth (caught before writing) and
/// with the sizes lied about (caught by counting what is written).
#[test]
fn bomb_of_zeros() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("zeros.bin", opts).expect("file");
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..300 {
        w.write_all(&chunk).expect("write");
    }
    let zip = w.finish().expect("finish").into_inner();
    assert!(
        zip.len() < 2 << 20,
        "the bomb is small: {} bytes",
        zip.len()
    );
    refused(
        &zip,
        400,
        "InvalidParameterValueException",
        "Unzipped size must be smaller than 262144000 bytes",
    );
}

#[test]
fn unzipped_limit_counts_bytes_written_not_headers() {
    // Many small files whose total passes the limit: each header is honest, the sum is not small.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let chunk = vec![0u8; 30 << 20];
    for i in 0..9 {
        w.start_file(format!("part{i}"), opts).expect("file");
        w.write_all(&chunk).expect("write");
    }
    let zip = w.finish().expect("finish").into_inner();
    refused(
        &zip,
        400,
        "InvalidParameterValueException",
        "Unzipped size must be smaller than 262144000 bytes",
    );
}

#[test]
fn zipped_over_50_mib() {
    // Incompressible bytes, stored: just over the direct-upload limit.
    let mut data = vec![0u8; 52_428_800];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let zip = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        w.start_file("blob", opts).expect("file");
        w.write_all(&data).expect("write");
        w.finish().expect("finish").into_inner()
    };
    refused(
        &zip,
        413,
        "RequestEntityTooLargeException",
        "Zipped size must be smaller than 52428800 bytes",
    );
}

#[test]
fn links_inside_the_package_are_kept() {
    let s = TestServer::start();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("lib/real.py", SimpleFileOptions::default())
        .expect("file");
    w.write_all(b"x = 1\n").expect("write");
    w.add_symlink("app.py", "lib/real.py", SimpleFileOptions::default())
        .expect("link");
    let zip = w.finish().expect("finish").into_inner();
    let cfg: Value = s.create("linked", &zip);
    assert_eq!(cfg["State"], "Active");
}

/// Free blocks and free inodes of the file system holding `path` (`stat -f`).
fn free_space(path: &std::path::Path) -> (u64, u64) {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%f %d"])
        .arg(path)
        .output()
        .expect("stat -f");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|n| n.parse::<u64>().expect("number"));
    (it.next().expect("blocks"), it.next().expect("inodes"))
}

#[test]
fn directory_and_link_bombs_cost_no_disk() {
    let s = TestServer::start();
    // 20,000 files each in a directory of its own (long names); and 30,000 links with
    // 1,000-byte targets beside 130 MB of file, under the 250 MB limit only if links cost
    // nothing: each refused before a byte is written.
    let names: Vec<String> = (0..20_000)
        .map(|i| format!("{}{i}/f", "d".repeat(200)))
        .collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    let dir_bomb = zip_of(&entries);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let target = "t/".repeat(500);
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..30_000 {
        w.add_symlink(format!("l{i}"), &target, deflated)
            .expect("link");
    }
    w.start_file("big", deflated.large_file(true))
        .expect("file");
    let mb = vec![0u8; 1 << 20];
    for _ in 0..130 {
        w.write_all(&mb).expect("write");
    }
    let link_bomb = w.finish().expect("finish").into_inner();
    let before = free_space(s.dir.path());
    for (zip, message) in [
        (dir_bomb, "more than 10000 directories"),
        (
            link_bomb,
            "Unzipped size must be smaller than 262144000 bytes",
        ),
    ] {
        let r = s.call_json("POST", "/2015-03-31/functions", &create_body("bomb", &zip));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.message().contains(message), "{}", r.body);
    }
    let after = free_space(s.dir.path());
    eprintln!("free (blocks, inodes) before {before:?}, after {after:?}");
    // Other processes share the disk: allow a little noise, far below the bombs' size.
    assert!(
        before.1.abs_diff(after.1) < 100,
        "inodes {before:?} -> {after:?}"
    );
    assert!(
        before.0.abs_diff(after.0) < 2_000,
        "blocks {before:?} -> {after:?}"
    );
    assert_eq!(s.function_count(), 0);
}

#[test]
fn clashing_entries_answer_400() {
    let zip = zip_of(&[("app.py", b"x"), ("app.py/inner", b"y")]);
    refused(&zip, 400, "InvalidParameterValueException", UNZIP);
}
