//! UI figures: full-frame software-render time per screen at 1080×1920, and the cost of a
//! screen at rest. Run optimised: `cargo run -p ui --release --bin ui-bench`.
//!
//! Full frame: the window repaints into a fresh buffer every time (no partial rendering), so
//! each measured frame draws every pixel. At rest: the idle loop a kiosk runs (update timers,
//! draw if dirty, sleep until the next timer) for a few seconds with the same view state shown
//! once a second (as a core would on its tick), counting redraws and process CPU time.

use std::time::{Duration, Instant};

use ui::{FormFactor, Headless};

const FRAMES: usize = 30;

fn cpu_time() -> Option<Duration> {
    // utime + stime from /proc/self/stat (fields 14 and 15, in clock ticks of 1/100 s).
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn main() {
    let headless = match Headless::new() {
        Ok(h) => h,
        Err(error) => {
            eprintln!("ui-bench: {error}");
            std::process::exit(1);
        }
    };
    let (width, height) = FormFactor::Portrait.size();
    println!("Full-frame render, software renderer, {width}x{height}, {FRAMES} frames per screen");
    println!(
        "{:<22} {:>10} {:>10} {:>10}",
        "screen", "min ms", "median ms", "max ms"
    );
    let mut heaviest = (String::new(), Duration::ZERO);
    for (name, state) in ui::samples::all() {
        headless.render(&state, width, height);
        let mut times: Vec<Duration> = (0..FRAMES)
            .map(|_| {
                let start = Instant::now();
                headless.redraw_full_frame();
                start.elapsed()
            })
            .collect();
        times.sort();
        let median = times[FRAMES / 2];
        println!(
            "{name:<22} {:>10.2} {:>10.2} {:>10.2}",
            ms(times[0]),
            ms(median),
            ms(times[FRAMES - 1])
        );
        if median > heaviest.1 {
            heaviest = (name.to_owned(), median);
        }
    }
    println!(
        "heaviest: {} at {:.2} ms median",
        heaviest.0,
        ms(heaviest.1)
    );

    // At rest.
    let samples = ui::samples::all();
    let (name, state) = &samples[0];
    headless.render(state, width, height);
    let seconds = 5;
    let cpu_before = cpu_time();
    let start = Instant::now();
    let mut redraws = 0;
    let mut last_show = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        if last_show.elapsed() >= Duration::from_secs(1) {
            headless.ui().show(state);
            last_show = Instant::now();
        }
        if headless.draw_if_needed() {
            redraws += 1;
        }
        let wait = slint::platform::duration_until_next_timer_update()
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        std::thread::sleep(wait);
    }
    let wall = start.elapsed();
    match (cpu_before, cpu_time()) {
        (Some(a), Some(b)) => println!(
            "at rest on '{name}': {redraws} redraws in {:.1} s, CPU {:.2} % of one core, animations running: {}",
            wall.as_secs_f64(),
            100.0 * (b - a).as_secs_f64() / wall.as_secs_f64(),
            headless.has_active_animations()
        ),
        _ => println!("at rest on '{name}': {redraws} redraws in {:.1} s (no /proc CPU figures)", wall.as_secs_f64()),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
