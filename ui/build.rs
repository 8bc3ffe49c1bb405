fn main() {
    // Compile every screen into Rust at build time; the bundled DejaVu fonts are embedded in the
    // binary, so nothing is loaded from disk at run time. Debug info lets tests (ours and the
    // terminal's) find controls by accessible label.
    slint_build::compile_with_config(
        "slint/kiosk.slint",
        slint_build::CompilerConfiguration::new()
            .embed_resources(slint_build::EmbedResourcesKind::EmbedFiles)
            .with_debug_info(true),
    )
    .unwrap_or_else(|error| panic!("Slint compilation failed: {error}"));
}
