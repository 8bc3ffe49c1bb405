//! QR codes as images: the fiscal receipt's on the done screen, the СБП payment's on its own
//! screen. Black on white in every theme: phones read dark modules on a light ground.

use qrcode::{Color, EcLevel, QrCode};
use slint::{Image, Rgb8Pixel, SharedPixelBuffer};

/// Quiet zone around the code, in modules (the QR standard asks for 4).
const QUIET: usize = 4;
/// Pixels per module: big enough to scan from the screen; `image-rendering: pixelated` keeps edges.
const MODULE_PX: usize = 8;

/// Draws `payload` as a black-on-white QR code.
pub fn image(payload: &str) -> Result<Image, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * MODULE_PX;
    let side_u32 = u32::try_from(side).unwrap_or(u32::MAX);
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side_u32, side_u32);
    let pixels = buffer.make_mut_slice();
    for (i, pixel) in pixels.iter_mut().enumerate() {
        let (x, y) = (i % side / MODULE_PX, i / side / MODULE_PX);
        let dark = x >= QUIET
            && y >= QUIET
            && x < modules + QUIET
            && y < modules + QUIET
            && colors[(y - QUIET) * modules + (x - QUIET)] == Color::Dark;
        let v = if dark { 0 } else { 255 };
        *pixel = Rgb8Pixel { r: v, g: v, b: v };
    }
    Ok(Image::from_rgb8(buffer))
}

/// The code for `payload`, or `previous` again when it was drawn for `previous_payload`:
/// encoding allocates an image, and a screen with a countdown is shown anew every second.
/// No payload, no image.
pub(crate) fn cached(
    previous_payload: &str,
    previous: &Image,
    payload: Option<&str>,
) -> Result<Image, qrcode::types::QrError> {
    match payload {
        None => Ok(Image::default()),
        Some(p) if p == previous_payload => Ok(previous.clone()),
        Some(p) => image(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_payload_is_not_drawn_again() {
        let payload = "https://qr.nspk.ru/AD10006M8KH9JB3B8OQ9PQ0VBQ0C5RB2?type=02&sum=150000";
        let first = cached("", &Image::default(), Some(payload)).unwrap();
        assert!(first.size().width > 0);
        let again = cached(payload, &first, Some(payload)).unwrap();
        assert_eq!(again, first, "the very same image, not a new one");
        assert_eq!(cached(payload, &first, None).unwrap().size().width, 0);
        let other = cached(payload, &first, Some("https://qr.nspk.ru/X")).unwrap();
        assert_ne!(other, first);
        assert!(cached("", &Image::default(), Some(&"9".repeat(8_000))).is_err());
    }

    #[test]
    fn draws_a_square_code_with_a_white_quiet_zone() {
        let payload = "t=20261127T1435&s=1500.00&fn=7380440700000000&i=123&fp=1234567890&n=1";
        let img = image(payload).unwrap();
        let size = img.size();
        assert_eq!(size.width, size.height);
        let buffer = img.to_rgb8().unwrap();
        let px = buffer.as_slice();
        assert_eq!(
            px[0],
            Rgb8Pixel {
                r: 255,
                g: 255,
                b: 255
            }
        );
        // The finder pattern's top-left module is dark.
        let side = size.width as usize;
        let corner = QUIET * MODULE_PX * side + QUIET * MODULE_PX;
        assert_eq!(px[corner], Rgb8Pixel { r: 0, g: 0, b: 0 });
    }
}
