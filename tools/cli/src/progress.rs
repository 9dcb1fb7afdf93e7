//! Progress of a `submit` on stderr: a bar on a terminal, a plain line every few seconds otherwise (a
//! log or CI output, where a redrawn bar would be noise), nothing with `--quiet`. Messages about single
//! files (errors) are printed in every mode, above the bar.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How often a plain progress line is printed when stderr is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(2);

enum Mode {
    Quiet,
    Bar(ProgressBar),
    Plain,
}

pub struct Progress {
    mode: Mode,
    total: u64,
    done: u64,
    started: Instant,
}

impl Progress {
    /// A bar if stderr is a terminal and not `quiet`.
    pub fn new(total: u64, quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar(bar(total))
        } else {
            Mode::Plain
        };
        Self {
            mode,
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    pub fn done(&self) -> u64 {
        self.done
    }

    /// One more file finished.
    pub fn inc(&mut self) {
        self.done += 1;
        if let Mode::Bar(bar) = &self.mode {
            bar.inc(1);
        }
    }

    /// Called every [`PLAIN_EVERY`]: prints a plain line when stderr is not a terminal.
    pub fn tick(&self) {
        if matches!(self.mode, Mode::Plain) && self.done < self.total {
            eprintln!("{}", self.line());
        }
    }

    /// `[done/total] rate, ETA`: what the plain lines say.
    fn line(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { self.done as f64 / elapsed } else { 0.0 };
        let eta = if rate > 0.0 {
            format!("ETA {}", seconds((self.total - self.done) as f64 / rate))
        } else {
            "ETA unknown".to_owned()
        };
        format!("[{}/{}] {rate:.1} images/s, {eta}", self.done, self.total)
    }

    /// A message about one file; never lost, whatever the mode.
    pub fn println(&self, message: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(|| eprintln!("{message}")),
            _ => eprintln!("{message}"),
        }
    }

    /// Runs `f` (which prints to stdout) without the bar drawn over its output.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(f),
            _ => f(),
        }
    }

    /// Removes the bar and prints `summary` (unless quiet).
    pub fn finish(&self, summary: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bar(bar) => {
                bar.finish_and_clear();
                eprintln!("{summary}");
            }
            Mode::Plain => eprintln!("{summary}"),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

fn bar(total: u64) -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {rate} ETA {eta} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1} images/s", state.per_sec());
        })
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
    // Redrawn even while nothing finishes, so the elapsed time and spinner show it is alive.
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Seconds for people: `42 s`, `3 min 20 s`, `2 h 5 min`.
pub fn seconds(secs: f64) -> String {
    let secs = secs.round().max(0.0) as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(0.4), "0 s");
        assert_eq!(seconds(42.0), "42 s");
        assert_eq!(seconds(200.0), "3 min 20 s");
        assert_eq!(seconds(7500.0), "2 h 5 min");
    }

    #[test]
    fn plain_lines_count_done_of_total() {
        let mut progress = Progress {
            mode: Mode::Plain,
            total: 40,
            done: 0,
            started: Instant::now() - Duration::from_secs(10),
        };
        for _ in 0..20 {
            progress.inc();
        }
        let line = progress.line();
        assert!(line.starts_with("[20/40] 2.0 images/s, ETA 10 s"), "{line}");
    }
}
