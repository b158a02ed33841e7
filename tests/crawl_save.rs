//! Saving bodies with `--out` fails loudly and safely: a body that cannot be saved is named in
//! its record and counted; nothing is written through a symlink or outside the directory; only
//! 2xx bodies unless asked; a failed fetch leaves no file behind.
#![cfg(feature = "crawl")]

mod common;

use std::path::Path;

use common::crawl_server::*;
use wisp::crawl::Config;

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

async fn site() -> Server {
    let (listener, _) = bind().await;
    serve(listener, |t| match t {
        "/" => html_page(&["/a", "/gone", "/broken", "/r1", "/r2"]),
        "/a" => html_page(&[]),
        "/broken" => Reply::Reset,
        "/r1" | "/r2" => Reply::Bytes(response("302 Found", "text/html", "Location: /t\r\n", b"")),
        "/t" => html_page(&[]),
        _ => not_found(),
    })
}

fn out_config(dir: &Path) -> Config {
    Config {
        out_dir: Some(dir.to_path_buf()),
        ..Config::default()
    }
}

#[test]
fn only_whole_2xx_bodies_are_saved_once_each() {
    run(|| async {
        let server = site().await;
        let dir = TempDir::new("save-ok");
        let (summary, records, _) = crawl_all(
            &out_config(dir.path()),
            vec![server.root.clone()],
            no_stop(),
        )
        .await;
        assert_eq!(summary.save_errors, 0, "{records:#?}");
        let host = format!("127.0.0.1_{}", server.port);
        // The 404 and the broken body are not saved, no temporary file is left, and /t (the
        // target of two redirects) is saved once.
        assert_eq!(
            files(dir.path()),
            [
                format!("{host}/a"),
                format!("{host}/index.html"),
                format!("{host}/t"),
            ]
        );
        assert_eq!(server.hits_of("/t"), 1);
        assert!(records.iter().all(|r| r.save_error.is_none()));
    });
}

#[test]
fn save_errors_keeps_the_bodies_of_other_statuses() {
    run(|| async {
        let server = site().await;
        let dir = TempDir::new("save-errors");
        let config = Config {
            save_errors: true,
            ..out_config(dir.path())
        };
        let (_, _, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        let host = format!("127.0.0.1_{}", server.port);
        assert!(
            files(dir.path()).contains(&format!("{host}/gone")),
            "{:?}",
            files(dir.path())
        );
    });
}

#[test]
fn an_out_dir_that_is_a_file_is_an_error_in_each_record() {
    run(|| async {
        let server = site().await;
        let dir = TempDir::new("save-file");
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let (summary, records, _) =
            crawl_all(&out_config(&file), vec![server.root.clone()], no_stop()).await;
        // /, /a, /t (through /r1 or /r2) and /broken (a 200 whose body breaks off).
        let ok: Vec<_> = records.iter().filter(|r| r.status == Some(200)).collect();
        assert_eq!(ok.len(), 4, "{records:#?}");
        for r in &ok {
            let e = r.save_error.as_deref().unwrap_or_else(|| panic!("{r:?}"));
            assert!(e.contains("not-a-dir"), "{e}");
        }
        assert_eq!(summary.save_errors, 4);
        assert!(
            summary.to_string().contains("4 bodies not saved"),
            "{summary}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    });
}

#[test]
fn a_symlink_under_the_out_dir_is_never_followed() {
    run(|| async {
        let server = site().await;
        let dir = TempDir::new("save-link");
        let elsewhere = TempDir::new("save-elsewhere");
        let host = format!("127.0.0.1_{}", server.port);
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(&host)).unwrap();
        let (summary, records, _) = crawl_all(
            &out_config(dir.path()),
            vec![server.root.clone()],
            no_stop(),
        )
        .await;
        assert!(
            files(elsewhere.path()).is_empty(),
            "written through the link"
        );
        assert_eq!(summary.save_errors, 4, "{records:#?}");
        let e = records[0].save_error.as_deref().unwrap();
        assert!(e.contains("symlink"), "{e}");
    });
}
