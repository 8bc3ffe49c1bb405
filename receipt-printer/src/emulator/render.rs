//! PNG preview of a decoded receipt: Font A cells (12 × 24 dots) in DejaVu Sans Mono, QR codes
//! drawn module by module, on a strip as wide as the profile's printable dots.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{GrayImage, ImageFormat, Luma};

use super::receipt::{DecodedItem, DecodedLine, DecodedReceipt};
use crate::layout::Align;
use crate::profile::{FONT_A_HEIGHT, FONT_A_WIDTH};

static REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSansMono.ttf");
static BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSansMono-Bold.ttf");

/// Why a preview could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("bundled font is unreadable: {0}")]
    Font(String),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

const MARGIN: u32 = 16;
const WHITE: Luma<u8> = Luma([255]);

/// Renders the receipt as a PNG, `width_dots` wide (the profile's printable width).
pub fn render_png(receipt: &DecodedReceipt, width_dots: u32) -> Result<Vec<u8>, RenderError> {
    let regular = FontRef::try_from_slice(REGULAR).map_err(|e| RenderError::Font(e.to_string()))?;
    let bold = FontRef::try_from_slice(BOLD).map_err(|e| RenderError::Font(e.to_string()))?;
    let height: u32 = receipt.items.iter().map(item_height).sum::<u32>() + 2 * MARGIN;
    let width = width_dots + 2 * MARGIN;
    let mut img = GrayImage::from_pixel(width, height.max(1), WHITE);
    let mut y = MARGIN;
    for item in &receipt.items {
        match item {
            DecodedItem::Line(line) => {
                let font = if line.bold { &bold } else { &regular };
                draw_line(&mut img, font, line, receipt.columns, y);
            }
            DecodedItem::Qr {
                data, module_dots, ..
            } => draw_qr(&mut img, data, *module_dots as u32, y),
        }
        y += item_height(item);
    }
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)
        .map_err(|e| RenderError::Png(e.to_string()))?;
    Ok(png.into_inner())
}

fn item_height(item: &DecodedItem) -> u32 {
    match item {
        DecodedItem::Line(l) if l.double_height => FONT_A_HEIGHT * 2 + 6,
        DecodedItem::Line(_) => FONT_A_HEIGHT + 6,
        DecodedItem::Qr {
            data, module_dots, ..
        } => {
            let modules = qrcode::QrCode::new(data.as_bytes())
                .map(|q| q.width() as u32)
                .unwrap_or(21);
            (modules + 8) * (*module_dots as u32).max(1)
        }
    }
}

fn draw_line(
    img: &mut GrayImage,
    font: &FontRef<'_>,
    line: &DecodedLine,
    columns: usize,
    top: u32,
) {
    let len = line.text.chars().count() as u32;
    let free = (columns as u32).saturating_sub(len);
    let first_col = match line.align {
        Align::Left => 0,
        Align::Center => free / 2,
        Align::Right => free,
    };
    let y_scale = if line.double_height { 2.0 } else { 1.0 };
    // DejaVu Sans Mono advances 0.602 em: 20 px gives the 12-dot Font A cell.
    let scale = PxScale {
        x: 20.0,
        y: 20.0 * y_scale,
    };
    let scaled = font.as_scaled(scale);
    let baseline = top as f32 + scaled.ascent() + 2.0;
    for (i, c) in line.text.chars().enumerate() {
        let x = MARGIN as f32 + ((first_col + i as u32) * FONT_A_WIDTH) as f32;
        let glyph = scaled.scaled_glyph(c).clone();
        let glyph = ab_glyph::Glyph {
            position: ab_glyph::point(x, baseline),
            ..glyph
        };
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + gx as i64;
                let py = bounds.min.y as i64 + gy as i64;
                if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                    let pixel = img.get_pixel_mut(px as u32, py as u32);
                    let ink = (coverage.clamp(0.0, 1.0) * 255.0) as u8;
                    pixel.0[0] = pixel.0[0].min(255 - ink);
                }
            });
        }
    }
}

fn draw_qr(img: &mut GrayImage, data: &str, module: u32, top: u32) {
    let module = module.max(1);
    let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else {
        return;
    };
    let n = code.width() as u32;
    let left = (img.width().saturating_sub(n * module)) / 2;
    let top = top + 4 * module;
    for (i, color) in code.to_colors().into_iter().enumerate() {
        if color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % n, i as u32 / n);
        for dy in 0..module {
            for dx in 0..module {
                let (x, y) = (left + mx * module + dx, top + my * module + dy);
                if x < img.width() && y < img.height() {
                    img.put_pixel(x, y, Luma([0]));
                }
            }
        }
    }
}
