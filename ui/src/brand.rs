//! The retailer's look: name, logo, colours, hotline and the how-to-use text, from configuration
//! (the kiosk's `[brand]` table), so another retailer rebrands without a rebuild.
//!
//! A [`Brand`] exists only checked: colours must pass WCAG AA contrast where the screens put
//! them, the logo must decode, texts must fit. [`BrandSpec::check`] reports every problem with
//! the key it concerns, so a technician fixes the file in one go.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::text;

/// WCAG 2.x AA for text (button labels and the header on the primary colour).
const TEXT_CONTRAST: f64 = 4.5;
/// WCAG 2.x AA for graphics and large text (frames, the countdown digits) on the page.
const GRAPHIC_CONTRAST: f64 = 3.0;
/// The page colours the accent is drawn on (`Theme.surface`, `Theme.background`).
const PAGE_COLOURS: [(Rgb, &str); 2] = [
    (Rgb(0xff, 0xff, 0xff), "the white panels"),
    (Rgb(0xf2, 0xf4, 0xf7), "the page background"),
];
/// A logo is decoded on a small board at start: keep it a logo, not a photograph.
const MAX_LOGO_BYTES: u64 = 2 * 1024 * 1024;
const MAX_NAME_CHARS: usize = 40;
const MAX_HOW_TO_LINES: usize = 8;
/// What the how-to-use page holds on a 1280×800 panel in large print.
const MAX_HOW_TO_CHARS: usize = 800;

/// The bundled logo of the default brand.
const DEFAULT_LOGO_SVG: &[u8] = include_bytes!("../brand/default-logo.svg");

/// An sRGB colour, written `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb` (case-insensitive).
    pub fn parse(s: &str) -> Option<Rgb> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Rgb(byte(0)?, byte(2)?, byte(4)?))
    }

    /// WCAG relative luminance, 0 (black) to 1 (white).
    fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    pub(crate) fn to_slint(self) -> slint::Color {
        slint::Color::from_rgb_u8(self.0, self.1, self.2)
    }
}

impl std::fmt::Display for Rgb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// The WCAG contrast ratio of two colours, 1 (none) to 21 (black on white); symmetric.
pub fn contrast_ratio(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Where the header's logo comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Logo {
    /// The default brand's own.
    Bundled,
    /// An SVG or PNG file the config names (checked to decode).
    File(PathBuf),
    None,
}

/// A checked brand. [`Brand::default`] is the project's own look.
#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    name: String,
    show_name: bool,
    logo: Logo,
    primary: Rgb,
    text_on_primary: Rgb,
    accent: Rgb,
    hotline: String,
    how_to_use: Vec<String>,
}

impl Default for Brand {
    fn default() -> Brand {
        Brand {
            name: "Энергосбыт".into(),
            show_name: true,
            logo: Logo::Bundled,
            primary: Rgb(0x0b, 0x5c, 0xad),
            text_on_primary: Rgb(0xff, 0xff, 0xff),
            accent: Rgb(0x0b, 0x5c, 0xad),
            hotline: "8-800-000-00-00".into(),
            how_to_use: text::HOW_TO_USE.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Why a brand file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BrandFileError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Syntax(PathBuf, String),
    #[error("{0} has no [brand] table")]
    NoTable(PathBuf),
    #[error("{}", .0.iter().map(|p| format!("brand.{p}")).collect::<Vec<_>>().join("\n"))]
    Problems(Vec<BrandProblem>),
}

impl Brand {
    /// The `[brand]` table of a TOML file (a kiosk config, or a file holding only that table),
    /// checked as the kiosk checks it; a relative logo path is against the file's folder.
    pub fn from_file(path: &Path) -> Result<Brand, BrandFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| BrandFileError::Read(path.into(), e))?;
        let syntax = |e: toml::de::Error| BrandFileError::Syntax(path.into(), e.message().into());
        let mut table: toml::Table = toml::from_str(&text).map_err(syntax)?;
        let spec: BrandSpec = table
            .remove("brand")
            .ok_or_else(|| BrandFileError::NoTable(path.into()))?
            .try_into()
            .map_err(|e: toml::de::Error| {
                BrandFileError::Syntax(path.into(), format!("brand: {}", e.message().trim()))
            })?;
        spec.check(path.parent().unwrap_or(Path::new(".")))
            .map_err(BrandFileError::Problems)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The retailer's hotline, on every notice and the out-of-service screen.
    pub fn hotline(&self) -> &str {
        &self.hotline
    }

    pub(crate) fn show_name(&self) -> bool {
        self.show_name
    }

    pub(crate) fn primary(&self) -> Rgb {
        self.primary
    }

    pub(crate) fn text_on_primary(&self) -> Rgb {
        self.text_on_primary
    }

    pub(crate) fn accent(&self) -> Rgb {
        self.accent
    }

    pub(crate) fn how_to_use(&self) -> &[String] {
        &self.how_to_use
    }

    /// The logo decoded for the window (None: the header shows the name alone).
    pub(crate) fn logo_image(&self) -> Option<slint::Image> {
        match &self.logo {
            Logo::Bundled => slint::Image::load_from_svg_data(DEFAULT_LOGO_SVG).ok(),
            Logo::File(path) => match load_logo(path) {
                Ok(image) => Some(image),
                Err(reason) => {
                    // Checked at start; a file removed since costs the logo, not the kiosk.
                    tracing::warn!(path = %path.display(), %reason, "brand logo not shown");
                    None
                }
            },
            Logo::None => None,
        }
    }
}

/// The `[brand]` table as written. Every key is optional; what is left out keeps the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandSpec {
    /// The retailer's name in the header (and the logo's accessible label).
    pub name: Option<String>,
    /// `false` when the logo already spells the name.
    pub show_name: Option<bool>,
    /// An SVG or PNG file; relative paths are against the config file's folder. `""`: none.
    pub logo: Option<String>,
    /// The header and the main buttons.
    pub primary_color: Option<String>,
    /// Text on the primary colour (default white).
    pub text_on_primary: Option<String>,
    /// Frames of selected and focused items, the countdown digits, progress marks.
    pub accent_color: Option<String>,
    pub hotline: Option<String>,
    /// The lines of the «Как пользоваться» page, in order.
    pub how_to_use: Option<Vec<String>>,
}

/// One problem with a brand: the key (within `[brand]`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct BrandProblem {
    pub key: &'static str,
    pub reason: String,
}

impl BrandSpec {
    /// Checks every key and builds the brand, or lists every problem.
    pub fn check(self, base_dir: &Path) -> Result<Brand, Vec<BrandProblem>> {
        let mut problems = Vec::new();
        let mut problem = |key: &'static str, reason: String| {
            problems.push(BrandProblem { key, reason });
        };
        let default = Brand::default();
        let name = self.name.map(|n| n.trim().to_string());
        if let Some(name) = &name {
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                problem("name", format!("give 1–{MAX_NAME_CHARS} characters"));
            }
        }
        let colour = |key: &'static str, value: Option<String>, default: Rgb| match value {
            None => Ok(default),
            Some(s) => Rgb::parse(&s).ok_or(BrandProblem {
                key,
                reason: format!("expected a colour as \"#rrggbb\", got \"{s}\""),
            }),
        };
        let primary = colour("primary_color", self.primary_color, default.primary);
        let on_primary = colour(
            "text_on_primary",
            self.text_on_primary,
            default.text_on_primary,
        );
        let accent = colour("accent_color", self.accent_color, default.accent);
        for parsed in [&primary, &on_primary, &accent] {
            if let Err(e) = parsed {
                problem(e.key, e.reason.clone());
            }
        }
        if let (Ok(primary), Ok(on_primary)) = (&primary, &on_primary) {
            let ratio = contrast_ratio(*primary, *on_primary);
            if ratio < TEXT_CONTRAST {
                problem(
                    "primary_color",
                    format!(
                        "{primary} under text {on_primary} has contrast {}:1, WCAG AA needs \
                         {TEXT_CONTRAST}:1 for the button labels (darken it, or set \
                         text_on_primary)",
                        shown(ratio)
                    ),
                );
            }
        }
        if let Ok(accent) = &accent {
            for (page, where_) in PAGE_COLOURS {
                let ratio = contrast_ratio(*accent, page);
                if ratio < GRAPHIC_CONTRAST {
                    problem(
                        "accent_color",
                        format!(
                            "{accent} on {where_} ({page}) has contrast {}:1, WCAG AA needs \
                             {GRAPHIC_CONTRAST}:1 for frames and large digits (darken it)",
                            shown(ratio)
                        ),
                    );
                    break;
                }
            }
        }
        if let Some(hotline) = &self.hotline {
            if let Err(reason) = check_hotline(hotline) {
                problem("hotline", reason);
            }
        }
        if let Some(lines) = &self.how_to_use {
            if let Err(reason) = check_how_to_use(lines) {
                problem("how_to_use", reason);
            }
        }
        let logo = match self.logo.as_deref() {
            None => default.logo.clone(),
            Some("") => Logo::None,
            Some(file) => {
                let path = base_dir.join(file);
                match load_logo(&path) {
                    Ok(_) => Logo::File(path),
                    Err(reason) => {
                        problem("logo", reason);
                        Logo::None
                    }
                }
            }
        };
        let show_name = self.show_name.unwrap_or(true);
        if !show_name && logo == Logo::None {
            problem(
                "show_name",
                "false needs a logo: the header would be empty".into(),
            );
        }
        match (primary, on_primary, accent) {
            (Ok(primary), Ok(text_on_primary), Ok(accent)) if problems.is_empty() => Ok(Brand {
                name: name.unwrap_or(default.name),
                show_name,
                logo,
                primary,
                text_on_primary,
                accent,
                hotline: self
                    .hotline
                    .map_or(default.hotline, |h| h.trim().to_string()),
                how_to_use: self.how_to_use.unwrap_or(default.how_to_use),
            }),
            _ => Err(problems),
        }
    }
}

/// A ratio for a message, cut (not rounded) so a failing 4.48 never reads as "4.5".
fn shown(ratio: f64) -> String {
    format!("{:.2}", (ratio * 100.0).floor() / 100.0)
}

/// A number customers can dial: digits and the usual separators, 5–20 digits.
fn check_hotline(hotline: &str) -> Result<(), String> {
    let hotline = hotline.trim();
    let digits = hotline.chars().filter(char::is_ascii_digit).count();
    let allowed = hotline
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')'));
    if !allowed || !(5..=20).contains(&digits) {
        return Err(format!(
            "expected a phone number such as \"8-800-000-00-00\", got \"{hotline}\""
        ));
    }
    Ok(())
}

fn check_how_to_use(lines: &[String]) -> Result<(), String> {
    if lines.is_empty() || lines.len() > MAX_HOW_TO_LINES {
        return Err(format!("give 1–{MAX_HOW_TO_LINES} lines"));
    }
    if let Some(n) = lines.iter().position(|l| l.trim().is_empty()) {
        return Err(format!("line {} is empty", n + 1));
    }
    let chars: usize = lines.iter().map(|l| l.chars().count()).sum();
    if chars > MAX_HOW_TO_CHARS {
        return Err(format!(
            "{chars} characters do not fit on the page; keep it within {MAX_HOW_TO_CHARS}"
        ));
    }
    Ok(())
}

/// Decodes a logo file the way the window will.
fn load_logo(path: &Path) -> Result<slint::Image, String> {
    let kind = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(kind.as_deref(), Some("svg" | "png")) {
        return Err(format!("{}: expected an .svg or .png file", path.display()));
    }
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > MAX_LOGO_BYTES {
        return Err(format!(
            "{} is {size} bytes; a logo may have at most {MAX_LOGO_BYTES}",
            path.display()
        ));
    }
    let image = slint::Image::load_from_path(path)
        .map_err(|_| format!("{} is not a readable SVG or PNG image", path.display()))?;
    let px = image.size();
    if px.width == 0 || px.height == 0 {
        return Err(format!("{} has no size", path.display()));
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(primary: &str, accent: &str) -> BrandSpec {
        BrandSpec {
            primary_color: Some(primary.into()),
            accent_color: Some(accent.into()),
            ..BrandSpec::default()
        }
    }

    fn keys(result: Result<Brand, Vec<BrandProblem>>) -> Vec<&'static str> {
        result
            .err()
            .unwrap_or_default()
            .iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn contrast_matches_the_wcag_reference_values() {
        let white = Rgb(255, 255, 255);
        assert!((contrast_ratio(Rgb(0, 0, 0), white) - 21.0).abs() < 1e-9);
        // #777777 on white is the classic just-failing grey: 4.48:1.
        let grey = contrast_ratio(Rgb(0x77, 0x77, 0x77), white);
        assert!(grey > 4.47 && grey < 4.49, "{grey}");
        assert_eq!(shown(grey), "4.47");
    }

    #[test]
    fn the_default_brand_passes_its_own_checks() {
        let checked = BrandSpec::default().check(Path::new(".")).unwrap();
        assert_eq!(checked, Brand::default());
        assert!(checked.logo_image().is_some(), "the bundled logo decodes");
    }

    #[test]
    fn a_pale_primary_under_white_text_is_refused_naming_the_key() {
        let problems = spec("#ffcc00", "#0b5cad")
            .check(Path::new("."))
            .unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "primary_color");
        assert!(problems[0].to_string().contains("4.5:1"), "{}", problems[0]);
        // The same yellow is fine under dark text.
        let dark_text = BrandSpec {
            text_on_primary: Some("#1a1a1a".into()),
            ..spec("#ffcc00", "#0b5cad")
        };
        assert!(dark_text.check(Path::new(".")).is_ok());
    }

    #[test]
    fn an_accent_lost_on_the_page_is_refused() {
        // A bright orange frames nothing a low-vision customer can see on white.
        assert_eq!(
            keys(spec("#0b5cad", "#f39200").check(Path::new("."))),
            ["accent_color"]
        );
        assert!(spec("#0b5cad", "#b85c00").check(Path::new(".")).is_ok());
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let spec = BrandSpec {
            name: Some("  ".into()),
            primary_color: Some("blue".into()),
            accent_color: Some("#fff".into()),
            hotline: Some("call us".into()),
            how_to_use: Some(vec!["1. Оплатите.".into(), " ".into()]),
            logo: Some("missing.svg".into()),
            show_name: Some(false),
            ..BrandSpec::default()
        };
        let mut found = keys(spec.check(Path::new("/nonexistent")));
        found.sort_unstable();
        assert_eq!(
            found,
            [
                "accent_color",
                "hotline",
                "how_to_use",
                "logo",
                "name",
                "primary_color",
                "show_name"
            ]
        );
    }

    #[test]
    fn a_logo_must_be_an_image_that_decodes() {
        let dir = std::env::temp_dir().join(format!("brand-logo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("fake.png"), b"not a png").unwrap();
        std::fs::write(dir.join("logo.txt"), b"text").unwrap();
        std::fs::write(dir.join("logo.svg"), DEFAULT_LOGO_SVG).unwrap();
        let with_logo = |file: &str| BrandSpec {
            logo: Some(file.into()),
            ..BrandSpec::default()
        };
        assert_eq!(keys(with_logo("fake.png").check(&dir)), ["logo"]);
        assert_eq!(keys(with_logo("logo.txt").check(&dir)), ["logo"]);
        let brand = with_logo("logo.svg").check(&dir).unwrap();
        assert_eq!(brand.logo, Logo::File(dir.join("logo.svg")));
        assert!(brand.logo_image().is_some());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let parsed: Result<BrandSpec, _> = toml::from_str("primary_colour = \"#000000\"");
        assert!(parsed.unwrap_err().to_string().contains("primary_colour"));
    }

    proptest! {
        #[test]
        fn contrast_is_symmetric_and_bounded(a in any::<(u8, u8, u8)>(), b in any::<(u8, u8, u8)>()) {
            let (a, b) = (Rgb(a.0, a.1, a.2), Rgb(b.0, b.1, b.2));
            let ratio = contrast_ratio(a, b);
            prop_assert!((ratio - contrast_ratio(b, a)).abs() < 1e-12);
            prop_assert!((1.0..=21.0 + 1e-9).contains(&ratio));
        }

        #[test]
        fn colours_round_trip_through_their_text(c in any::<(u8, u8, u8)>()) {
            let colour = Rgb(c.0, c.1, c.2);
            prop_assert_eq!(Rgb::parse(&colour.to_string()), Some(colour));
            prop_assert_eq!(Rgb::parse(&colour.to_string().to_uppercase()), Some(colour));
        }
    }
}
