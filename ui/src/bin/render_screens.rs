//! Renders every screen to PNG with the software renderer (no display needed).
//!
//! `cargo run -p ui --bin render-screens -- --out docs/screens`
//! writes `<out>/<variant>/<screen>.png` for the variants portrait, landscape (1280×800),
//! portrait-contrast and landscape-contrast; `--large` adds portrait-large (large text) and
//! `--all-sizes` adds landscape 1920×1080. `--brand FILE` renders a retailer's brand: the
//! `[brand]` table of a kiosk config (or of a file holding only that table), checked exactly as
//! the kiosk checks it. `--variant NAME` and `--screens a,b` (both repeatable) render only those.

use std::path::PathBuf;
use std::process::ExitCode;

use ui::view::Accessibility;
use ui::{FormFactor, Headless};

struct Variant {
    name: &'static str,
    form: FormFactor,
    accessibility: Accessibility,
}

fn variants(large_text: bool, all_sizes: bool) -> Vec<Variant> {
    let normal = Accessibility::default();
    let contrast = Accessibility {
        high_contrast: true,
        large_text: false,
    };
    let large = Accessibility {
        high_contrast: false,
        large_text: true,
    };
    let mut v = vec![
        Variant {
            name: "portrait",
            form: FormFactor::Portrait,
            accessibility: normal,
        },
        Variant {
            name: "landscape",
            form: FormFactor::LandscapeSmall,
            accessibility: normal,
        },
        Variant {
            name: "portrait-contrast",
            form: FormFactor::Portrait,
            accessibility: contrast,
        },
        Variant {
            name: "landscape-contrast",
            form: FormFactor::LandscapeSmall,
            accessibility: contrast,
        },
    ];
    if large_text {
        v.push(Variant {
            name: "portrait-large",
            form: FormFactor::Portrait,
            accessibility: large,
        });
    }
    if all_sizes {
        v.push(Variant {
            name: "landscape-1920x1080",
            form: FormFactor::Landscape,
            accessibility: normal,
        });
    }
    v
}

fn main() -> ExitCode {
    let mut out = PathBuf::from("docs/screens");
    let mut all_sizes = false;
    let mut large_text = false;
    let mut brand = ui::Brand::default();
    let mut only_variants: Vec<String> = Vec::new();
    let mut only_screens: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => match args.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => return usage("--out needs a directory"),
            },
            "--all-sizes" => all_sizes = true,
            "--large" => large_text = true,
            "--brand" => match args
                .next()
                .map(PathBuf::from)
                .as_deref()
                .map(ui::Brand::from_file)
            {
                Some(Ok(b)) => brand = b,
                Some(Err(problem)) => {
                    eprintln!("render-screens: {problem}");
                    return ExitCode::FAILURE;
                }
                None => return usage("--brand needs a file"),
            },
            "--variant" => match args.next() {
                Some(name) => only_variants.push(name),
                None => return usage("--variant needs a name"),
            },
            "--screens" => match args.next() {
                Some(list) => only_screens.extend(list.split(',').map(str::to_string)),
                None => return usage("--screens needs a list"),
            },
            "-h" | "--help" => return usage(""),
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let headless = match Headless::new() {
        Ok(h) => h,
        Err(error) => {
            eprintln!("render-screens: {error}");
            return ExitCode::FAILURE;
        }
    };
    headless.ui().set_brand(&brand);
    let mut count = 0;
    let variants: Vec<Variant> = variants(large_text, all_sizes)
        .into_iter()
        .filter(|v| only_variants.is_empty() || only_variants.iter().any(|n| n == v.name))
        .collect();
    let samples: Vec<_> = ui::samples::all_for(&brand)
        .into_iter()
        .filter(|(name, _)| only_screens.is_empty() || only_screens.iter().any(|n| n == name))
        .collect();
    if variants.is_empty() || samples.is_empty() {
        return usage("no variant or no screen by those names");
    }
    for variant in variants {
        let dir = out.join(variant.name);
        if let Err(error) = std::fs::create_dir_all(&dir) {
            eprintln!("render-screens: cannot create {}: {error}", dir.display());
            return ExitCode::FAILURE;
        }
        let (width, height) = variant.form.size();
        for (name, state) in &samples {
            let mut state = state.clone();
            state.accessibility = variant.accessibility;
            let path = dir.join(format!("{name}.png"));
            if let Err(error) = headless.render_to_png(&state, width, height, &path) {
                eprintln!("render-screens: {error}");
                return ExitCode::FAILURE;
            }
            count += 1;
        }
    }
    println!(
        "render-screens: wrote {count} images under {}",
        out.display()
    );
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("render-screens: {problem}");
    }
    eprintln!("usage: render-screens [--out DIR] [--large] [--all-sizes] [--brand FILE] [--variant NAME] [--screens A,B]");
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
