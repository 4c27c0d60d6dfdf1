//! The native builder (reproducibility, layer contents, config, base images,
//! multi-platform), buildah on a real Containerfile, docker's typed errors;
//! every builder through the builder conformance suite.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use paragon_core::conformance;
use paragon_core::model::oci::{OciLayout, Platform};
use paragon_core::plugin::build::{
    BaseImage, BuildSpec, Builder, ImageConfig, LayerCopy, LayerSpec,
};
use paragon_core::{CallContext, Error};
use paragon_registry::{BuildahBuilder, DockerBuilder, NativeBuilder};

use crate::support::{demo_app, tool};

fn layer_entries(
    layout: &OciLayout,
    digest: &paragon_core::Digest,
) -> BTreeMap<String, (u32, u64, u64, String)> {
    let bytes = layout.read_blob(digest).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut out = BTreeMap::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().display().to_string();
        let mut content = String::new();
        if h.entry_type().is_file() {
            e.read_to_string(&mut content).unwrap();
        } else if h.entry_type().is_symlink() {
            content = format!("-> {}", e.link_name().unwrap().unwrap().display());
        }
        out.insert(
            path,
            (
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
                content,
            ),
        );
    }
    out
}

#[tokio::test]
async fn native_builds_are_reproducible() {
    let src = tempfile::tempdir().unwrap();
    demo_app(src.path(), "1.0.0");
    let out = tempfile::tempdir().unwrap();
    let build = |dir: &str| BuildSpec::new(src.path(), out.path().join(dir)).with_ref_name("1.0.0");
    let b = NativeBuilder::new().with_epoch(1_700_000_000);
    let one = b.build(&build("a"), &CallContext::new()).await.unwrap();
    let two = b.build(&build("b"), &CallContext::new()).await.unwrap();
    assert_eq!(one.digest, two.digest, "same inputs, same digest");
    assert_eq!(one.config_digest, two.config_digest);
    // Touching a file's time changes nothing; changing one byte changes the digest.
    let f = src.path().join("config.toml");
    std::fs::write(&f, "port = 8080\n").unwrap();
    let three = b.build(&build("c"), &CallContext::new()).await.unwrap();
    assert_eq!(three.digest, one.digest);
    std::fs::write(&f, "port = 8081\n").unwrap();
    let four = b.build(&build("d"), &CallContext::new()).await.unwrap();
    assert_ne!(four.digest, one.digest, "one byte changed");
    // Another epoch is another image.
    std::fs::write(&f, "port = 8080\n").unwrap();
    let five = NativeBuilder::new()
        .with_epoch(1)
        .build(&build("e"), &CallContext::new())
        .await
        .unwrap();
    assert_ne!(five.digest, one.digest);
}

/// The native builder works on a blocking thread; what it logs there
/// reaches the subscriber the caller set, inside the caller's span.
#[tokio::test]
async fn native_build_logs_reach_the_callers_subscriber() {
    let src = tempfile::tempdir().unwrap();
    demo_app(src.path(), "1.0.0");
    let out = tempfile::tempdir().unwrap();
    let spec = BuildSpec::new(src.path(), out.path()).with_ref_name("1.0.0");
    let (built, logs) = crate::support::logs_of(async {
        let (builder, ctx) = (NativeBuilder::new(), CallContext::new());
        let span = tracing::info_span!("release", app = "shop");
        tracing::Instrument::instrument(builder.build(&spec, &ctx), span).await
    })
    .await;
    let built = built.unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("image built"))
        .unwrap_or_else(|| panic!("no build line:\n{logs}"));
    assert!(line.contains(built.digest.as_str()), "{line}");
    assert!(line.contains("release{app=\"shop\"}"), "{line}");
}

#[tokio::test]
async fn native_layers_hold_files_modes_owners_and_symlinks() {
    let src = tempfile::tempdir().unwrap();
    demo_app(src.path(), "1.0.0");
    std::fs::write(src.path().join("extra.txt"), "extra").unwrap();
    let out = tempfile::tempdir().unwrap();
    let spec = BuildSpec::new(src.path(), out.path())
        .with_layer(LayerSpec::copy(".", "/app"))
        .with_layer(
            LayerSpec::copy("extra.txt", "/etc/app/extra.txt").and(
                LayerCopy::new("config.toml", "/etc/app/config.toml")
                    .with_owner(1000, 1000)
                    .with_mode(0o600),
            ),
        )
        .with_config(
            ImageConfig::default()
                .with_entrypoint(["/app/start"])
                .with_cmd(["--serve"])
                .with_env("APP_ENV", "prod")
                .with_workdir("/app")
                .with_user("1000:1000")
                .with_exposed_port("8080"),
        )
        .with_label("org.example.team", "shop")
        .with_annotation("org.opencontainers.image.version", "1.0.0")
        .with_annotation("org.opencontainers.image.revision", "abc123");
    let image = NativeBuilder::new()
        .with_epoch(1_700_000_000)
        .build(&spec, &CallContext::new())
        .await
        .unwrap();
    let layout = OciLayout::open(&image.layout).unwrap();
    let manifest = layout.manifest(&image.digest).unwrap();
    assert_eq!(manifest.layers.len(), 2);
    assert_eq!(
        manifest.annotations["org.opencontainers.image.revision"],
        "abc123"
    );
    assert_eq!(
        manifest.annotations["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    let app = layer_entries(&layout, &manifest.layers[0].digest);
    let names: Vec<&str> = app.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "app/",
            "app/bin/",
            "app/bin/server",
            "app/config.toml",
            "app/extra.txt",
            "app/start"
        ]
    );
    assert_eq!(app["app/bin/server"].0 & 0o777, 0o755);
    assert_eq!(app["app/start"].3, "-> bin/server");
    assert!(app.values().all(|e| e.1 == 0 && e.2 == 1_700_000_000));
    let etc = layer_entries(&layout, &manifest.layers[1].digest);
    assert_eq!(
        etc.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "etc/",
            "etc/app/",
            "etc/app/config.toml",
            "etc/app/extra.txt"
        ]
    );
    assert_eq!(etc["etc/app/config.toml"].0, 0o600);
    assert_eq!(etc["etc/app/config.toml"].1, 1000);
    let config: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&image.config_digest).unwrap()).unwrap();
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/app/start"]));
    assert_eq!(c["Cmd"], serde_json::json!(["--serve"]));
    assert_eq!(c["Env"], serde_json::json!(["APP_ENV=prod"]));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    assert!(c["ExposedPorts"].get("8080/tcp").is_some());
    assert_eq!(c["Labels"]["org.example.team"], "shop");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn native_builds_on_a_base_image_and_for_several_platforms() {
    let base_src = tempfile::tempdir().unwrap();
    std::fs::write(base_src.path().join("busybox"), "not really").unwrap();
    let out = tempfile::tempdir().unwrap();
    let base = NativeBuilder::new()
        .build(
            &BuildSpec::new(base_src.path(), out.path().join("base"))
                .with_layer(LayerSpec::copy("busybox", "/bin/busybox"))
                .with_config(
                    ImageConfig::default()
                        .with_env("PATH", "/bin")
                        .with_cmd(["/bin/sh"]),
                ),
            &CallContext::new(),
        )
        .await
        .unwrap();
    let app_src = tempfile::tempdir().unwrap();
    demo_app(app_src.path(), "2.0.0");
    let spec = BuildSpec::new(app_src.path(), out.path().join("app"))
        .with_base(BaseImage {
            layout: base.layout.clone(),
            ref_name: None,
        })
        .with_config(ImageConfig::default().with_env("APP", "1"))
        .with_platforms(vec![
            Platform::linux("amd64"),
            "linux/arm64/v8".parse().unwrap(),
        ]);
    let image = NativeBuilder::new()
        .build(&spec, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(image.manifests.len(), 2, "an index of two platforms");
    let layout = OciLayout::open(&image.layout).unwrap();
    let index = layout.image_index(&image.digest).unwrap();
    let arm = index
        .manifests
        .iter()
        .find(|m| m.platform.as_ref().unwrap().architecture == "arm64")
        .unwrap();
    let m = layout.manifest(&arm.digest).unwrap();
    assert_eq!(m.layers.len(), 2, "base layer + app layer");
    let config: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&m.config.digest).unwrap()).unwrap();
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["variant"], "v8");
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["PATH=/bin", "APP=1"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(config["history"].as_array().unwrap().len(), 2);
}

/// A context with a file of pseudo-random bytes (stored blocks) and text
/// (deflated blocks), several compression blocks long.
fn mixed_context(dir: &Path) {
    demo_app(dir, "2.0.0");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let noise: Vec<u8> = (0..600_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("noise.bin"), &noise).unwrap();
    let text: String = (0..40_000)
        .map(|i| format!("line {i} of the log\n"))
        .collect();
    std::fs::write(dir.join("app.log"), text).unwrap();
}

/// Each layer compression gives one digest whatever the number of
/// threads, names its media type, and unpacks (gzip by the system's
/// `gzip`, zstd by libzstd) to the same files.
#[tokio::test]
async fn native_layer_compressions_do_not_depend_on_threads() {
    use paragon_core::model::oci::{
        MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_LAYER_ZSTD,
    };
    use paragon_registry::LayerCompression;
    let src = tempfile::tempdir().unwrap();
    mixed_context(src.path());
    let out = tempfile::tempdir().unwrap();
    let mut choices = vec![
        ("gzip:1", MEDIA_TYPE_LAYER_GZIP),
        ("gzip", MEDIA_TYPE_LAYER_GZIP),
        ("none", MEDIA_TYPE_LAYER_TAR),
    ];
    if cfg!(feature = "zstd") {
        choices.push(("zstd:3", MEDIA_TYPE_LAYER_ZSTD));
    }
    let mut digests = Vec::new();
    for (choice, media_type) in choices {
        let compression: LayerCompression = choice.parse().unwrap();
        let mut built = Vec::new();
        for threads in [1, 3] {
            let dir = out.path().join(format!("{choice}-{threads}"));
            let image = NativeBuilder::new()
                .with_compression(compression)
                .with_threads(threads)
                .build(&BuildSpec::new(src.path(), &dir), &CallContext::new())
                .await
                .unwrap();
            built.push((dir, image));
        }
        let ((dir, one), (_, three)) = (&built[0], &built[1]);
        assert_eq!(one.digest, three.digest, "{choice}");
        let layout = OciLayout::open(dir).unwrap();
        let manifest = layout.manifest(&one.digest).unwrap();
        let layer = &manifest.layers[0];
        assert_eq!(layer.media_type, media_type, "{choice}");
        let path = layout.blob_path(&layer.digest);
        let tar = match media_type {
            MEDIA_TYPE_LAYER_GZIP => {
                let out = std::process::Command::new("gzip")
                    .arg("-dc")
                    .arg(&path)
                    .output()
                    .expect("gzip is on PATH");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
            MEDIA_TYPE_LAYER_TAR => std::fs::read(&path).unwrap(),
            _ => decode_zstd(&path),
        };
        let mut names = Vec::new();
        let mut archive = tar::Archive::new(&tar[..]);
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            if name == "app/noise.bin" {
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                assert_eq!(bytes, std::fs::read(src.path().join("noise.bin")).unwrap());
            }
            names.push(name);
        }
        assert!(names.contains(&"app/app.log".to_owned()), "{names:?}");
        digests.push(one.digest.clone());
    }
    digests.dedup();
    assert!(digests.len() >= 3, "each compression is its own image");
    let err = "gzip:12".parse::<LayerCompression>().unwrap_err();
    assert!(err.contains("between 1 and 9"), "{err}");
}

#[cfg(feature = "zstd")]
fn decode_zstd(path: &Path) -> Vec<u8> {
    zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap()
}

#[cfg(not(feature = "zstd"))]
fn decode_zstd(path: &Path) -> Vec<u8> {
    unreachable!("no zstd layer without the zstd feature: {}", path.display())
}

#[tokio::test]
async fn native_build_errors_are_typed() {
    let out = tempfile::tempdir().unwrap();
    let err = NativeBuilder::new()
        .build(
            &BuildSpec::new("/nonexistent/paragon", out.path().join("x")),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TargetNotFound { .. }), "{err}");
    // A context that is a file is not "missing": it says what it is.
    let file = out.path().join("context.txt");
    std::fs::write(&file, "not a directory").unwrap();
    for builder in [
        Box::new(NativeBuilder::new()) as Box<dyn Builder>,
        Box::new(BuildahBuilder::new()),
        Box::new(DockerBuilder::new()),
    ] {
        let err = builder
            .build(
                &BuildSpec::new(&file, out.path().join("f")),
                &CallContext::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("context.txt` is a file, not a directory"),
            "{err}"
        );
    }
    let src = tempfile::tempdir().unwrap();
    let err = NativeBuilder::new()
        .build(
            &BuildSpec::new(src.path(), out.path().join("y"))
                .with_layer(LayerSpec::copy("missing.txt", "/x")),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.txt"), "{err}");
    let err = NativeBuilder::new()
        .build(
            &BuildSpec::new(src.path(), out.path().join("z"))
                .with_layer(LayerSpec::copy(".", "/app/../../etc")),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
    let ctx = CallContext::new();
    ctx.cancel.cancel();
    demo_app(src.path(), "1");
    let err = NativeBuilder::new()
        .build(&BuildSpec::new(src.path(), out.path().join("c")), &ctx)
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
}

#[tokio::test]
#[ignore = "needs buildah"]
async fn buildah_builds_from_scratch() {
    tool("buildah", "buildah");
    let src = tempfile::tempdir().unwrap();
    demo_app(src.path(), "3.0.0");
    std::fs::write(
        src.path().join("Containerfile"),
        "FROM scratch AS base\nCOPY bin/server /app/server\nFROM base\nARG VERSION=0\nLABEL version=$VERSION\nCOPY config.toml /app/config.toml\nENTRYPOINT [\"/app/server\"]\n",
    )
    .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let builder =
        BuildahBuilder::new().with_storage(storage.path().join("root"), storage.path().join("run"));
    let spec = BuildSpec::new(src.path(), out.path().join("layout"))
        .with_ref_name("3.0.0")
        .with_build_arg("VERSION", "3.0.0")
        .with_label("org.example.built-by", "buildah");
    let image = builder.build(&spec, &CallContext::new()).await.unwrap();
    let layout = OciLayout::open(&image.layout).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&image.config_digest).unwrap()).unwrap();
    assert_eq!(config["config"]["Labels"]["version"], "3.0.0");
    assert_eq!(
        config["config"]["Labels"]["org.example.built-by"],
        "buildah"
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/server"])
    );
    let m = layout.manifest(&image.digest).unwrap();
    assert!(!m.layers.is_empty());
    // A missing Containerfile and a failing build are typed errors.
    let err = builder
        .build(
            &BuildSpec::new(src.path(), out.path().join("x")).with_containerfile("Nope"),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Nope"), "{err}");
    std::fs::write(
        src.path().join("Broken"),
        "FROM scratch\nCOPY missing-file /x\n",
    )
    .unwrap();
    let err = builder
        .build(
            &BuildSpec::new(src.path(), out.path().join("y")).with_containerfile("Broken"),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ToolFailed { .. }), "{err}");
}

#[tokio::test]
async fn missing_builders_are_typed_errors() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let spec = BuildSpec::new(src.path(), out.path().join("l"));
    for builder in [
        Box::new(BuildahBuilder::new().with_program("/nonexistent/buildah")) as Box<dyn Builder>,
        Box::new(DockerBuilder::new().with_program("/nonexistent/docker")),
    ] {
        let err = builder.build(&spec, &CallContext::new()).await.unwrap_err();
        assert!(
            matches!(err, Error::ToolNotFound { .. }),
            "{}: {err}",
            builder.name()
        );
    }
}

#[tokio::test]
#[ignore = "needs the docker client"]
async fn docker_without_a_daemon_fails_with_its_message() {
    let docker = tool("docker", "docker.io");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("Dockerfile"),
        "FROM scratch\nCOPY Dockerfile /x\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let spec = BuildSpec::new(src.path(), out.path().join("l"));
    match DockerBuilder::new()
        .with_program(docker)
        .build(&spec, &CallContext::new())
        .await
    {
        // A machine with a daemon and buildx builds it.
        Ok(image) => assert!(image.layout.join("index.json").is_file()),
        Err(Error::ToolFailed { tool, .. }) => assert_eq!(tool, "docker"),
        Err(e) => panic!("unexpected error: {e:?}"),
    }
}

/// A file truncated while the build reads it fails the build, naming the
/// file; the build never succeeds with a layer whose tar is cut short.
/// (When the truncation lands before the file is opened, the build sees
/// the short file whole and succeeds: the layer is then read back entry by
/// entry.)
#[tokio::test]
async fn a_file_truncated_during_the_build_fails_it_never_a_corrupt_layer() {
    let mut failed = 0;
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        demo_app(&src, "1.0.0");
        let big = src.join("zz-big.bin");
        std::fs::write(&big, vec![0x5a; 96 << 20]).unwrap();
        let truncate = {
            let big = big.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(30 + 40 * round));
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&big)
                    .unwrap()
                    .set_len(1 << 20)
                    .unwrap();
            })
        };
        let result = NativeBuilder::new()
            .build(
                &BuildSpec::new(&src, dir.path().join("layout")),
                &CallContext::new(),
            )
            .await;
        truncate.join().unwrap();
        match result {
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("zz-big.bin") && text.contains("changed while it was read"),
                    "{text}"
                );
                failed += 1;
            }
            Ok(image) => {
                let layout = OciLayout::open(&image.layout).unwrap();
                let manifest = layout.manifest(&image.digest).unwrap();
                let entries = layer_entries(&layout, &manifest.layers[0].digest);
                let size = entries
                    .iter()
                    .find(|(path, _)| path.ends_with("zz-big.bin"))
                    .map(|(_, e)| e.3.len())
                    .unwrap();
                assert_eq!(size, 1 << 20, "round {round}: the layer holds a cut file");
            }
        }
    }
    assert!(failed > 0, "no truncation landed during a read");
}

#[tokio::test]
async fn native_builder_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::builder::all(
        &NativeBuilder::new(),
        dir.path(),
        conformance::builder::Capabilities::full(),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs buildah"]
async fn buildah_builder_conforms() {
    tool("buildah", "buildah");
    let dir = tempfile::tempdir().unwrap();
    let builder =
        BuildahBuilder::new().with_storage(dir.path().join("root"), dir.path().join("run"));
    conformance::builder::all(
        &builder,
        &dir.path().join("scratch"),
        conformance::builder::Capabilities::full().reproducible(false),
    )
    .await;
}

/// A `docker` that builds with buildah: it takes the command line the
/// docker builder gives (`buildx build --file F --output
/// type=oci,dest=ARCHIVE … CONTEXT`) and writes the OCI archive docker
/// would, so the adapter's own work (its arguments, unpacking the archive
/// into the layout, errors, timeouts, cancellation) runs without a daemon.
fn docker_on_buildah(dir: &Path) -> PathBuf {
    let buildah = tool("buildah", "buildah");
    let script = dir.join("docker");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
set -e
[ "$1 $2" = "buildx build" ] || {{ echo "unexpected: $*" >&2; exit 2; }}
shift 2
file= dest= context=
while [ $# -gt 0 ]; do
  case "$1" in
    --file) file=$2; shift 2 ;;
    --output) dest=${{2#type=oci,dest=}}; shift 2 ;;
    --build-arg|--label|--annotation|--platform|--target|--builder) shift 2 ;;
    *) context=$1; shift ;;
  esac
done
b="{buildah} --storage-driver vfs --root {root} --runroot {run}"
$b bud --quiet --isolation chroot -f "$file" -t paragon-docker-stand-in "$context" >/dev/null
$b push --quiet paragon-docker-stand-in "oci-archive:$dest"
"#,
            buildah = buildah.display(),
            root = dir.join("root").display(),
            run = dir.join("run").display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
#[ignore = "needs buildah"]
async fn docker_builder_conforms_on_a_docker_that_builds_with_buildah() {
    let dir = tempfile::tempdir().unwrap();
    let builder = DockerBuilder::new().with_program(docker_on_buildah(dir.path()));
    conformance::builder::all(
        &builder,
        &dir.path().join("scratch"),
        conformance::builder::Capabilities::full().reproducible(false),
    )
    .await;
}
