//! Log lines for a long-running `baton serve` whose stderr is a file, a pipe or journald: gathered
//! in memory and written together every [`FLUSH_EVERY`], instead of one `write` system call per
//! line. Under load that call (and, on a pipe, waking its reader) was 8–12% of a lock request's
//! CPU; gathered, a busy second costs about twenty writes (README, Performance).
//!
//! Nothing is dropped: a line waits at most [`FLUSH_EVERY`], a buffer past [`MAX_BUFFERED`] is
//! written at once by the thread that filled it, and [`Batched::flush`] (at exit, and from the
//! panic hook) writes whatever is left. What a `SIGKILL` can take is the last [`FLUSH_EVERY`] of
//! lines. A person at a terminal gets every line as it happens (`main` picks plain stderr then).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::fmt::writer::EitherWriter;
use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait for the next write.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Past this many bytes waiting, the thread that logs writes them itself (no line is dropped and
/// memory stays bounded when the destination is slower than the logging).
pub const MAX_BUFFERED: usize = 1 << 20;

/// Lines waiting for the writer thread, and the wake-up for when the first one arrives.
struct Shared<W> {
    lines: Mutex<Vec<u8>>,
    arrived: Condvar,
    out: Mutex<W>,
}

impl<W: Write> Shared<W> {
    fn lines(&self) -> MutexGuard<'_, Vec<u8>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what is waiting. `out` is locked before the lines are taken, so batches reach the
    /// destination in the order they were gathered.
    fn write_out(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let taken = std::mem::take(&mut *self.lines());
        if !taken.is_empty() {
            // A log destination that fails has nowhere to report it: the lines are lost, as
            // they would be on a failing plain stderr.
            let _ = out.write_all(&taken);
            let _ = out.flush();
        }
    }
}

/// A [`MakeWriter`] that gathers lines and writes them on a thread of its own.
pub struct Batched<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
}

impl<W: Write + Send + 'static> Clone for Batched<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Batched<io::Stderr> {
    /// Batches onto the process's stderr.
    pub fn stderr() -> Self {
        Self::new(io::stderr())
    }
}

impl<W: Write + Send + 'static> Batched<W> {
    /// Batches onto `out`, starting the writer thread (which lives as long as the process).
    pub fn new(out: W) -> Self {
        let shared = Arc::new(Shared {
            lines: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            out: Mutex::new(out),
        });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("baton-logs".into())
            .spawn(move || loop {
                // Asleep while there is nothing to write: an idle service wakes no one.
                let mut lines = writer.lines();
                while lines.is_empty() {
                    lines = writer
                        .arrived
                        .wait(lines)
                        .unwrap_or_else(|p| p.into_inner());
                }
                drop(lines);
                std::thread::sleep(FLUSH_EVERY);
                writer.write_out();
            })
            .expect("the log writer thread starts");
        Self { shared }
    }

    /// Writes every line gathered so far, now.
    pub fn flush(&self) {
        self.shared.write_out();
    }

    /// Makes a panic write what is gathered before its own report.
    pub fn flush_on_panic(&self) {
        let batched = self.clone();
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            batched.flush();
            report(info);
        }));
    }
}

/// One log line's writer: the formatter writes each line in one call.
pub struct Line<'a, W: Write> {
    shared: &'a Shared<W>,
}

impl<W: Write> Write for Line<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut lines = self.shared.lines();
        let first = lines.is_empty();
        lines.extend_from_slice(bytes);
        let full = lines.len() >= MAX_BUFFERED;
        drop(lines);
        if first {
            self.shared.arrived.notify_one();
        }
        if full {
            self.shared.write_out();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for Batched<W> {
    type Writer = Line<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
        }
    }
}

/// The process's log destination: stderr, batched or line by line.
pub struct Stderr(pub Option<Batched<io::Stderr>>);

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = EitherWriter<Line<'a, io::Stderr>, io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        match &self.0 {
            Some(batched) => EitherWriter::A(batched.make_writer()),
            None => EitherWriter::B(io::stderr()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A destination the test can read while the writer thread holds it; counts the writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>, Arc<Mutex<usize>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            *self.1.lock().unwrap() += 1;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_arrive_in_order_within_the_interval_without_a_flush() {
        let sink = Sink::default();
        let logs = Batched::new(sink.clone());
        for i in 0..100 {
            writeln!(logs.make_writer(), "line {i}").unwrap();
        }
        let deadline = Instant::now() + FLUSH_EVERY * 40;
        while sink.text().lines().count() < 100 && Instant::now() < deadline {
            std::thread::sleep(FLUSH_EVERY / 5);
        }
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(sink.text(), expected);
        let writes = *sink.1.lock().unwrap();
        assert!(writes < 10, "100 lines took {writes} writes");
    }

    #[test]
    fn flush_writes_at_once_and_a_full_buffer_is_written_by_the_logger() {
        let sink = Sink::default();
        let logs = Batched::new(sink.clone());
        logs.make_writer().write_all(b"before exit\n").unwrap();
        logs.flush();
        assert_eq!(sink.text(), "before exit\n");

        let big = vec![b'x'; MAX_BUFFERED];
        logs.make_writer().write_all(&big).unwrap();
        assert_eq!(
            sink.text().len(),
            "before exit\n".len() + MAX_BUFFERED,
            "a full buffer does not wait for the writer thread"
        );
    }
}
