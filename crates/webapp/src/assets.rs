//! The embedded files and this build's asset version (a hash of all of them).

use std::sync::OnceLock;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/assets/{version}/`.
pub(crate) const ALL: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("time.js", JS),
    asset!("auth.js", JS),
    asset!("tasks.js", JS),
    asset!("editor.js", JS),
    asset!("settings.js", JS),
    asset!("live.js", JS),
    asset!("inbox.js", JS),
    asset!("chat.js", JS),
];

const INDEX: &str = include_str!("../assets/index.html");

/// The asset named `name`, if embedded.
pub fn find(name: &str) -> Option<&'static Asset> {
    ALL.iter().find(|a| a.name == name)
}

/// This build's asset version: 16 hex digits of a 64-bit FNV-1a hash over every asset and the page.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let parts = ALL.iter().flat_map(|a| [a.name.as_bytes(), a.bytes]);
        for byte in parts.chain([INDEX.as_bytes()]).flatten() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    })
}

/// The page, naming this build's assets.
pub(crate) fn index_html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| INDEX.replace("__VERSION__", version()))
}
