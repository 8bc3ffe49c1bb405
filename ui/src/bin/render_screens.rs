//! Renders every screen to PNG with the software renderer (no display needed).
//!
//! `cargo run -p ui --bin render-screens -- --out docs/screens`
//! writes `<out>/<variant>/<screen>.png` for the variants portrait, landscape (1280×800),
//! portrait-contrast and landscape-contrast; `--large` adds portrait-large (large text) and
//! `--all-sizes` adds landscape 1920×1080.

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
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => match args.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => return usage("--out needs a directory"),
            },
            "--all-sizes" => all_sizes = true,
            "--large" => large_text = true,
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
    let mut count = 0;
    for variant in variants(large_text, all_sizes) {
        let dir = out.join(variant.name);
        if let Err(error) = std::fs::create_dir_all(&dir) {
            eprintln!("render-screens: cannot create {}: {error}", dir.display());
            return ExitCode::FAILURE;
        }
        let (width, height) = variant.form.size();
        for (name, mut state) in ui::samples::all() {
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
    eprintln!("usage: render-screens [--out DIR] [--large] [--all-sizes]");
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
