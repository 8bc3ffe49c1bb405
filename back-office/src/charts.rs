//! Server-side SVG charts (plotters): outage minutes per terminal and takings per day.

use plotters::prelude::*;

fn failed(what: &str, e: impl std::fmt::Display) -> String {
    tracing::warn!(chart = what, error = %e, "chart drawing failed");
    format!("<p>Диаграмма «{}» недоступна.</p>", crate::fleet::esc(what))
}

/// Bars of working outage minutes per terminal (last 30 days).
pub fn outage_bars(data: &[(String, i64)]) -> String {
    let mut svg = String::new();
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(60) as u32;
        let n = data.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption("Простой за 30 дней, рабочих минут", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((0u32..n).into_segmented(), 0u32..(max + max / 10))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(data.len().max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => data
                    .get(*i as usize)
                    .map(|d| d.0.clone())
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc("мин")
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(RGBColor(200, 60, 60).filled())
                .margin(8)
                .data(
                    data.iter()
                        .enumerate()
                        .map(|(i, d)| (i as u32, d.1.max(0) as u32)),
                ),
        )?;
        // The 60-minute limit as a reference line.
        chart.draw_series(LineSeries::new(
            vec![(SegmentValue::Exact(0), 60u32), (SegmentValue::Last, 60u32)],
            BLACK.stroke_width(1),
        ))?;
        root.present()?;
        Ok(())
    })();
    match result {
        Ok(()) => svg,
        Err(e) => failed("простой", e.to_string()),
    }
}

/// Lines of cash and card takings per day, in roubles.
pub fn takings_lines(data: &[(String, i64, i64)]) -> String {
    let mut svg = String::new();
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = data
            .iter()
            .map(|d| d.1.max(d.2))
            .max()
            .unwrap_or(0)
            .max(100) as f64
            / 100.0;
        let n = data.len().max(2) as i32;
        let mut chart = ChartBuilder::on(&root)
            .caption("Выручка по дням, ₽", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0..(n - 1), 0f64..max * 1.1)?;
        chart
            .configure_mesh()
            .x_labels(7)
            .x_label_formatter(&|i| {
                data.get(*i as usize)
                    .map(|d| d.0.get(5..).unwrap_or("").to_string())
                    .unwrap_or_default()
            })
            .draw()?;
        let cash = RGBColor(30, 120, 60);
        let card = RGBColor(40, 80, 200);
        chart
            .draw_series(LineSeries::new(
                data.iter()
                    .enumerate()
                    .map(|(i, d)| (i as i32, d.1 as f64 / 100.0)),
                cash.stroke_width(2),
            ))?
            .label("наличные")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], cash.stroke_width(2))
            });
        chart
            .draw_series(LineSeries::new(
                data.iter()
                    .enumerate()
                    .map(|(i, d)| (i as i32, d.2 as f64 / 100.0)),
                card.stroke_width(2),
            ))?
            .label("карта")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], card.stroke_width(2))
            });
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match result {
        Ok(()) => svg,
        Err(e) => failed("выручка", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_data() {
        let s = outage_bars(&[("T-1".into(), 75), ("T-2".into(), 0)]);
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(200)]);
        assert!(s.contains("T-1"));
        let s = takings_lines(&[
            ("2026-11-26".into(), 150_000, 20_000),
            ("2026-11-27".into(), 0, 0),
        ]);
        assert!(s.starts_with("<svg"));
        assert!(s.contains("наличные"));
    }
}
