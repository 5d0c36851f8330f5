//! The trace: every `tracing` event of a run, stamped with virtual time and task.
//!
//! The canonical text of an event has no span ids, thread ids or wall time, so the same seed gives
//! the same text, and the same [`Trace::hash`], on every machine:
//!
//! ```text
//!     30.000000000s t3 WARN vtsim_discover discover.failed "Orchestrator self-registration attempt failed" error="timeout"
//! ```

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::sync::{Arc, Once};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::context;
use crate::rand::{FNV_OFFSET, FNV_PRIME};

/// A field value of a trace event.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A string, or anything recorded with `%` or `?`.
    Str(Text),
}

impl Value {
    /// The value as a string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an unsigned integer, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(v) => Some(*v),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::Str(v) => write!(f, "{v:?}"),
        }
    }
}

/// One recorded event: its time, task and message, a pointer to what its call site shares, and
/// the values of its fields (the names are the site's). 64 bytes, plus 24 a field.
#[derive(Clone)]
pub struct Event {
    time: u64,
    task: Option<std::num::NonZeroU64>,
    site: &'static Site,
    message: Option<Text>,
    values: Values,
}

/// What every event of one call site shares: level, target, kind and field names. Stored once
/// for the life of the program: a `static` for [`trace_event!`], interned for `tracing` events.
#[doc(hidden)]
#[derive(Debug, PartialEq)]
pub struct Site {
    level: Level,
    target: &'static str,
    kind: Option<&'static str>,
    names: &'static [&'static str],
}

impl Site {
    #[doc(hidden)]
    pub const fn new(
        level: Level,
        target: &'static str,
        kind: Option<&'static str>,
        names: &'static [&'static str],
    ) -> Site {
        Site {
            level,
            target,
            kind,
            names,
        }
    }

    /// The site with these parts, stored on first use. Looked up, never iterated, so the hash
    /// order cannot leak into a trace.
    fn intern(
        level: Level,
        target: &'static str,
        kind: Option<&'static str>,
        names: &[&'static str],
    ) -> &'static Site {
        use std::hash::BuildHasher;
        #[allow(clippy::disallowed_types)]
        type Map = std::collections::HashMap<u64, Vec<&'static Site>, rustc_hash::FxBuildHasher>;
        thread_local! {
            static SITES: RefCell<Map> = RefCell::new(Map::default());
        }
        let key = rustc_hash::FxBuildHasher.hash_one((level.as_str(), target, kind, names));
        SITES.with(|sites| {
            let mut sites = sites.borrow_mut();
            let same = sites.entry(key).or_default();
            if let Some(site) = same.iter().find(|s| {
                s.level == level && s.target == target && s.kind == kind && s.names == names
            }) {
                return *site;
            }
            // Call sites and kinds are a small vocabulary: each distinct one is kept for good.
            let site: &'static Site = Box::leak(Box::new(Site {
                level,
                target,
                kind,
                names: Box::leak(names.into()),
            }));
            same.push(site);
            site
        })
    }
}

/// Values per chunk of a trace's value store.
const CHUNK: usize = 2048;

/// An event's field values: a range of a shared, append-only chunk, as long as its site's names.
#[derive(Clone)]
struct Values {
    chunk: Option<Arc<Chunk>>,
    start: u32,
}

impl Values {
    const EMPTY: Values = Values {
        chunk: None,
        start: 0,
    };

    /// Values in a chunk of their own.
    fn alone(values: Vec<Value>) -> Values {
        if values.is_empty() {
            return Values::EMPTY;
        }
        let chunk = Chunk::new(values.len());
        // SAFETY: the chunk is new and not shared yet.
        let (start, _) = unsafe { chunk.append(values.into_iter()) };
        Values {
            chunk: Some(Arc::new(chunk)),
            start: start as u32,
        }
    }

    /// The `len` values from the start of this range.
    fn as_slice(&self, len: usize) -> &[Value] {
        match &self.chunk {
            // SAFETY: `start..start + len` was filled by `Chunk::append` before this `Values`
            // existed (`len` is its site's field count), and filled slots are never written
            // again.
            Some(c) => unsafe { c.slice(self.start as usize, len) },
            None => &[],
        }
    }
}

type Slot = std::cell::UnsafeCell<std::mem::MaybeUninit<Value>>;

/// Append-only storage for the field values of many events. Slots below `filled` are initialized and
/// immutable from then on; only the one [`Trace`] that owns the chunk as its current one writes
/// above it.
struct Chunk {
    slots: Box<[Slot]>,
    filled: std::sync::atomic::AtomicUsize,
}

// SAFETY: readers only touch filled slots, which are never written again; the single writer
// (`Trace::store`, through `&mut Trace`) only touches slots above `filled`.
unsafe impl Sync for Chunk {}
// SAFETY: `Value` is `Send`; a chunk owns its values.
unsafe impl Send for Chunk {}

impl Chunk {
    fn new(capacity: usize) -> Chunk {
        Chunk {
            slots: (0..capacity)
                .map(|_| std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()))
                .collect(),
            filled: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    #[inline]
    fn room(&self) -> usize {
        self.slots.len() - self.filled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes `fields` after the filled slots (as many as fit) and returns where they start and
    /// how many were written.
    ///
    /// # Safety
    ///
    /// The caller is the only writer of this chunk, and `fields.len() <= self.room()`.
    unsafe fn append(&self, fields: impl ExactSizeIterator<Item = Value>) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        let start = self.filled.load(Ordering::Relaxed);
        let cap = self.slots.len();
        // `UnsafeCell` and `MaybeUninit` are transparent: a slot pointer is a field pointer.
        let base = std::cell::UnsafeCell::raw_get(self.slots.as_ptr()).cast::<Value>();
        let mut end = start;
        for field in fields {
            if end == cap {
                break;
            }
            // SAFETY: slots at and above `filled` are read by no one, and we are the only writer.
            unsafe { base.add(end).write(field) };
            end += 1;
        }
        // Values written before a panic in `fields` would leak, never be read uninitialized.
        self.filled.store(end, Ordering::Release);
        (start, end - start)
    }

    /// Writes the `N` fields `make` returns after the filled slots; returns where they start.
    ///
    /// # Safety
    ///
    /// The caller is the only writer of this chunk, and `N <= self.room()`.
    #[inline]
    unsafe fn append_array<const N: usize>(&self, make: impl FnOnce() -> [Value; N]) -> usize {
        use std::sync::atomic::Ordering;
        let start = self.filled.load(Ordering::Relaxed);
        assert!(N <= self.slots.len() - start);
        let base = std::cell::UnsafeCell::raw_get(self.slots.as_ptr());
        // SAFETY: the `N` slots from `start` exist (checked), are read by no one, and we are the
        // only writer; slots are transparent, so `N` of them are laid out as `[field; N]`.
        unsafe {
            base.add(start).cast::<[Value; N]>().write(make());
        }
        self.filled.store(start + N, Ordering::Release);
        start
    }

    /// # Safety
    ///
    /// `start..start + len` is within the filled slots.
    unsafe fn slice(&self, start: usize, len: usize) -> &[Value] {
        let slots = &self.slots[start..start + len];
        // SAFETY: `Slot` has the layout of the field it holds (`UnsafeCell` and `MaybeUninit` are
        // transparent), the slots are initialized (the caller), and filled slots are never
        // written again.
        unsafe { std::slice::from_raw_parts(slots.as_ptr().cast(), len) }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let filled = *self.filled.get_mut();
        for slot in &mut self.slots[..filled] {
            // SAFETY: filled slots are initialized, and dropped once, here.
            unsafe { slot.get_mut().assume_init_drop() };
        }
    }
}

/// A string in a trace. Short ones (keyspaces, hosts, query ids) are stored inline, and longer
/// ones that repeat (messages, errors) are interned, so recording one rarely allocates.
#[derive(Clone)]
pub struct Text(Repr);

const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Interned(&'static str),
    Owned(Box<str>),
}

impl Text {
    /// The string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `bytes[..len]` was copied from a `&str` in `Text::new`, so it is UTF-8.
            Repr::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..usize::from(*len)])
            },
            Repr::Interned(s) => s,
            Repr::Owned(s) => s,
        }
    }

    fn new(s: &str) -> Text {
        if s.len() <= INLINE {
            Text(Repr::Inline {
                len: s.len() as u8,
                bytes: inline_bytes(s.as_bytes()),
            })
        } else {
            intern(s)
        }
    }
}

/// `src` (at most [`INLINE`] bytes) zero-padded, copied in fixed-size pieces that may overlap:
/// a few moves, where a copy of variable length is a call to `memcpy`.
#[inline]
fn inline_bytes(src: &[u8]) -> [u8; INLINE] {
    let n = src.len();
    let mut b = [0u8; INLINE];
    if n >= 16 {
        b[..16].copy_from_slice(&src[..16]);
        b[n - 8..n].copy_from_slice(&src[n - 8..]);
    } else if n >= 8 {
        b[..8].copy_from_slice(&src[..8]);
        b[n - 8..n].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        b[..4].copy_from_slice(&src[..4]);
        b[n - 4..n].copy_from_slice(&src[n - 4..]);
    } else if n > 0 {
        // 1 to 3 bytes: first, middle and last cover them all.
        b[0] = src[0];
        b[n / 2] = src[n / 2];
        b[n - 1] = src[n - 1];
    }
    b
}

impl Text {
    /// A string that lives for the program, such as a literal: stored as is, never copied.
    #[doc(hidden)]
    pub const fn from_static(s: &'static str) -> Text {
        Text(Repr::Interned(s))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::new(&s)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Interns `s` for the life of the thread: each distinct short string is stored once. Bounded,
/// because formatted messages and errors can be unique.
fn intern(s: &str) -> Text {
    // Looked up, never iterated, so the hash order cannot leak into a trace. FxHash: a few
    // instructions for the short strings interned here, where SipHash cost more than the rest of
    // the recording.
    #[allow(clippy::disallowed_types)]
    type Map = std::collections::HashMap<&'static str, (), rustc_hash::FxBuildHasher>;
    thread_local! {
        static INTERNED: RefCell<(Map, usize)> = RefCell::new((Map::default(), 0));
    }
    const MAX_LEN: usize = 96;
    const MAX_BYTES: usize = 16 << 20;
    if s.len() > MAX_LEN {
        return Text(Repr::Owned(s.into()));
    }
    INTERNED.with(|i| {
        let mut i = i.borrow_mut();
        if let Some((k, _)) = i.0.get_key_value(s) {
            return Text(Repr::Interned(k));
        }
        if i.1 + s.len() > MAX_BYTES {
            return Text(Repr::Owned(s.into()));
        }
        let leaked: &'static str = Box::leak(s.into());
        i.1 += s.len();
        i.0.insert(leaked, ());
        Text(Repr::Interned(leaked))
    })
}

fn intern_static(s: &str) -> &'static str {
    match intern(s).0 {
        Repr::Interned(k) => k,
        // Kinds are a small vocabulary; one past the bound is kept for good.
        Repr::Owned(k) => Box::leak(k),
        Repr::Inline { .. } => unreachable!("intern never inlines"),
    }
}

impl Event {
    pub(crate) fn new(
        time: u64,
        task: Option<u64>,
        level: Level,
        target: &'static str,
        kind: Option<&str>,
        message: Option<&str>,
        fields: Vec<(&'static str, Value)>,
    ) -> Event {
        let names: Vec<&'static str> = fields.iter().map(|(n, _)| *n).collect();
        Event {
            time,
            task: task.and_then(std::num::NonZeroU64::new),
            site: Site::intern(level, target, kind.map(intern_static), &names),
            message: message.map(Text::new),
            values: Values::alone(fields.into_iter().map(|(_, v)| v).collect()),
        }
    }

    fn values(&self) -> &[Value] {
        self.values.as_slice(self.site.names.len())
    }

    /// Virtual time since the simulation started.
    pub fn time(&self) -> Duration {
        Duration::from_nanos(self.time)
    }

    /// The id of the task that emitted it, if a task did.
    pub fn task(&self) -> Option<u64> {
        self.task.map(std::num::NonZeroU64::get)
    }

    /// Its level.
    pub fn level(&self) -> Level {
        self.site.level
    }

    /// Its target (the module path, by default).
    pub fn target(&self) -> &str {
        self.site.target
    }

    /// The `kind` field: a name from the trace vocabulary, such as `discover.failed`.
    pub fn kind(&self) -> Option<&str> {
        self.site.kind
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// A field other than `kind` and `message`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The fields other than `kind` and `message`, in the order they were written.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.site.names.iter().copied().zip(self.values())
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.time == other.time
            && self.task == other.task
            && self.site == other.site
            && self.message == other.message
            && self.values() == other.values()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("time", &self.time)
            .field("task", &self.task())
            .field("level", &self.site.level)
            .field("target", &self.site.target)
            .field("kind", &self.site.kind)
            .field("message", &self.message)
            .field("fields", &self.fields().collect::<Vec<_>>())
            .finish()
    }
}

/// The canonical one-line text form.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", TimeStamp(self.time))?;
        match self.task {
            Some(t) => write!(f, "t{t} ")?,
            None => f.write_str("-- ")?,
        }
        write!(f, "{} {}", self.site.level, self.site.target)?;
        if let Some(kind) = &self.site.kind {
            write!(f, " {kind}")?;
        }
        if let Some(msg) = &self.message {
            write!(f, " {msg:?}")?;
        }
        for (name, value) in self.fields() {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}

struct TimeStamp(u64);

impl fmt::Display for TimeStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = format!("{}.{:09}s", self.0 / 1_000_000_000, self.0 % 1_000_000_000);
        write!(f, "{secs:>16}")
    }
}

/// Formats a virtual time as the trace does, e.g. `30.000000000s`.
pub(crate) fn fmt_time(d: Duration) -> String {
    let n = crate::rand::nanos(d);
    format!("{}.{:09}s", n / 1_000_000_000, n % 1_000_000_000)
}

/// The events of a run, in order.
#[derive(Default)]
pub struct Trace {
    events: Vec<Event>,
    // Where this trace writes the fields of its next events; never shared with a clone.
    chunk: Option<Arc<Chunk>>,
}

impl Clone for Trace {
    fn clone(&self) -> Trace {
        Trace {
            events: self.events.clone(),
            chunk: None,
        }
    }
}

impl PartialEq for Trace {
    fn eq(&self, other: &Trace) -> bool {
        self.events == other.events
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("events", &self.events)
            .finish()
    }
}

/// Where two traces of the same seed first differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The index of the first differing event.
    pub index: usize,
    /// That event in the first trace, as canonical text (`None` when the trace ended).
    pub left: Option<String>,
    /// That event in the second trace.
    pub right: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "traces differ at event {}:", self.index)?;
        writeln!(
            f,
            "  first run:  {}",
            self.left.as_deref().unwrap_or("<trace ended>")
        )?;
        write!(
            f,
            "  second run: {}",
            self.right.as_deref().unwrap_or("<trace ended>")
        )
    }
}

thread_local! {
    static LAST_LEN: Cell<usize> = const { Cell::new(0) };
}

/// The most events a new trace makes room for in advance.
const MAX_HINT: usize = 1 << 20;

impl Trace {
    /// An empty trace with room for as many events as the last simulation on this thread
    /// recorded (up to [`MAX_HINT`]): the seeds of a scenario record about as many, and growing
    /// by doubling copies the whole trace again and again.
    pub(crate) fn sized_like_last() -> Trace {
        Trace {
            events: Vec::with_capacity(LAST_LEN.with(Cell::get)),
            chunk: None,
        }
    }

    /// Notes how many events a simulation of this thread recorded, for the next one.
    pub(crate) fn remember_len(len: usize) {
        if len > 0 {
            LAST_LEN.with(|l| l.set(len.min(MAX_HINT)));
        }
    }

    pub(crate) fn push(&mut self, e: Event) {
        self.events.push(e);
    }

    /// Stores the values `make` returns, as [`store`](Trace::store) does, built in place.
    #[inline]
    fn store_array<const N: usize>(&mut self, make: impl FnOnce() -> [Value; N]) -> Values {
        if N == 0 || N > CHUNK {
            return self.store(make().into_iter());
        }
        let chunk = self.chunk_with_room(N);
        // SAFETY: as in `store`; and there is room for `N`.
        let start = unsafe { chunk.append_array(make) };
        Values {
            chunk: Some(chunk.clone()),
            start: start as u32,
        }
    }

    /// This trace's current chunk, or a new one when it has no room for `n` more values.
    #[inline(always)]
    fn chunk_with_room(&mut self, n: usize) -> &Arc<Chunk> {
        if self.chunk.as_ref().is_some_and(|c| c.room() < n) {
            // Full: the events already stored keep it alive.
            self.chunk = None;
        }
        self.chunk
            .get_or_insert_with(|| Arc::new(Chunk::new(CHUNK)))
    }

    /// Stores `values` in this trace's current chunk (one allocation per [`CHUNK`] values, not
    /// one per event).
    fn store(&mut self, values: impl ExactSizeIterator<Item = Value>) -> Values {
        let n = values.len();
        if n == 0 {
            return Values::EMPTY;
        }
        if n > CHUNK {
            return Values::alone(values.collect());
        }
        let chunk = self.chunk_with_room(n);
        // SAFETY: `self.chunk` is only ever written through this trace (a clone does not get it),
        // and `&mut self` makes this the only writer.
        let (start, len) = unsafe { chunk.append(values) };
        // The event reads as many values as its site has names: all of them must be there.
        assert!(len >= n, "an iterator yielded fewer values than it said");
        Values {
            chunk: Some(chunk.clone()),
            start: start as u32,
        }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.kind() == Some(kind))
    }

    /// How many events have this kind.
    pub fn count_kind(&self, kind: &str) -> usize {
        self.of_kind(kind).count()
    }

    /// The canonical text: one line per event.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            let _ = writeln!(s, "{e}");
        }
        s
    }

    /// A stable 64-bit hash (FNV-1a) of the canonical text.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv(FNV_OFFSET);
        for e in &self.events {
            let _ = writeln!(h, "{e}");
        }
        h.0
    }

    /// The hash as 16 hex digits.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash())
    }

    /// The first event where `self` and `other` differ, or `None` when they are the same.
    pub fn first_difference(&self, other: &Trace) -> Option<Divergence> {
        let n = self.events.len().max(other.events.len());
        (0..n).find_map(|i| {
            let l = self.events.get(i).map(ToString::to_string);
            let r = other.events.get(i).map(ToString::to_string);
            (l != r).then_some(Divergence {
                index: i,
                left: l,
                right: r,
            })
        })
    }

    /// The last `n` events as canonical text.
    pub fn tail(&self, n: usize) -> String {
        let start = self.events.len().saturating_sub(n);
        let mut s = String::new();
        for e in &self.events[start..] {
            let _ = writeln!(s, "{e}");
        }
        s
    }
}

struct Fnv(u64);

impl fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
        Ok(())
    }
}

// --- recording

/// The `tracing` layer that records events into the running simulation's trace.
#[derive(Debug, Default, Clone, Copy)]
pub struct SimLayer;

impl<S: Subscriber> Layer<S> for SimLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        context::with_core(|core| {
            let meta = event.metadata();
            RECORDER.with(|r| {
                let mut r = r.borrow_mut();
                let r = &mut *r;
                r.names.clear();
                r.values.clear();
                event.record(r);
                let site = Site::intern(*meta.level(), meta.target(), r.kind.take(), &r.names);
                let mut trace = core.trace.borrow_mut();
                let values = trace.store(r.values.drain(..));
                let e = Event {
                    time: core.now.get(),
                    task: core.current_task_id().and_then(std::num::NonZeroU64::new),
                    site,
                    message: r.message.take(),
                    values,
                };
                trace.push(e);
            });
        });
    }
}

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
}

/// Visits an event's fields into reused buffers.
#[derive(Default)]
struct Recorder {
    kind: Option<&'static str>,
    message: Option<Text>,
    names: Vec<&'static str>,
    values: Vec<Value>,
    /// The last kind seen, by address: the same literal comes back at the same address, so most
    /// events find their kind without a lookup.
    last_kind: Option<(usize, &'static str)>,
    scratch: String,
}

impl Recorder {
    fn special(&mut self, name: &str, value: &str) -> bool {
        match name {
            "kind" => {
                let kind = match self.last_kind {
                    Some((addr, k)) if addr == value.as_ptr() as usize && k == value => k,
                    _ => {
                        let k = intern_static(value);
                        self.last_kind = Some((value.as_ptr() as usize, k));
                        k
                    }
                };
                self.kind = Some(kind);
            }
            "message" => self.message = Some(Text::new(value)),
            _ => return false,
        }
        true
    }
}

impl Recorder {
    fn push(&mut self, field: &Field, value: Value) {
        self.names.push(field.name());
        self.values.push(value);
    }
}

impl Visit for Recorder {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.special(field.name(), value) {
            self.push(field, Value::Str(Text::new(value)));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let _ = write!(scratch, "{value:?}");
        if !self.special(field.name(), &scratch) {
            self.push(field, Value::Str(Text::new(&scratch)));
        }
        self.scratch = scratch;
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }
}

// --- the typed fast path

#[doc(hidden)]
pub use tracing as __tracing;

/// Records one event with a literal kind and message, fields `name = value`, `name = %value`
/// (its `Display` text) or `name` (a variable of that name), as `tracing::event!` would:
///
/// ```
/// let (query, attempts) = ("q1", 2u32);
/// vtsim_runtime::trace_event!(INFO, kind = "query.ok", query, attempts, error = %"none", "Query succeeded");
/// ```
///
/// Inside a simulation whose recording-only dispatcher is current (no `VTSIM_LOG`), the event
/// goes straight into the trace, the same [`Event`] the [`SimLayer`] would record, without
/// `tracing`'s per-field visiting. Anywhere else (production, a log filter, another subscriber)
/// it is an ordinary `tracing` event.
#[macro_export]
macro_rules! trace_event {
    ($level:ident, kind = $kind:literal $(, $($rest:tt)*)?) => {
        if !$crate::__trace_event_fast!(@munch ($level, $kind) [] $($($rest)*)?) {
            $crate::trace::__tracing::event!(
                $crate::trace::__tracing::Level::$level,
                kind = $kind $(, $($rest)*)?
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __trace_event_fast {
    (@munch $h:tt [$($acc:tt)*] $name:ident = %$e:expr, $($rest:tt)*) => {
        $crate::__trace_event_fast!(@munch $h
            [$($acc)* (stringify!($name), $crate::trace::__display(&$e)),] $($rest)*)
    };
    (@munch $h:tt [$($acc:tt)*] $name:ident = %$e:expr) => {
        $crate::__trace_event_fast!(@munch $h
            [$($acc)* (stringify!($name), $crate::trace::__display(&$e)),])
    };
    (@munch $h:tt [$($acc:tt)*] $name:ident = $e:expr, $($rest:tt)*) => {
        $crate::__trace_event_fast!(@munch $h
            [$($acc)* (stringify!($name), $crate::trace::ToValue::to_value(&$e)),] $($rest)*)
    };
    (@munch $h:tt [$($acc:tt)*] $name:ident = $e:expr) => {
        $crate::__trace_event_fast!(@munch $h
            [$($acc)* (stringify!($name), $crate::trace::ToValue::to_value(&$e)),])
    };
    (@munch $h:tt [$($acc:tt)*] $name:ident, $($rest:tt)*) => {
        $crate::__trace_event_fast!(@munch $h
            [$($acc)* (stringify!($name), $crate::trace::ToValue::to_value(&$name)),] $($rest)*)
    };
    (@munch $h:tt [$($acc:tt)*] $name:ident) => {
        $crate::__trace_event_fast!(@munch $h
            [$($acc)* (stringify!($name), $crate::trace::ToValue::to_value(&$name)),])
    };
    (@munch $h:tt [$($acc:tt)*] $msg:literal) => {
        $crate::__trace_event_fast!(@record $h [$($acc)*] ::core::option::Option::Some($msg))
    };
    (@munch $h:tt [$($acc:tt)*]) => {
        $crate::__trace_event_fast!(@record $h [$($acc)*] ::core::option::Option::None)
    };
    (@record ($level:ident, $kind:literal) [$(($name:expr, $value:expr),)*] $msg:expr) => {{
        static SITE: $crate::trace::Site = $crate::trace::Site::new(
            $crate::trace::__tracing::Level::$level,
            module_path!(),
            ::core::option::Option::Some($kind),
            &[$($name),*],
        );
        $crate::trace::__record(&SITE, $msg, || [$($value),*])
    }};
}

/// A field value, as `tracing` hands it to the [`SimLayer`]: integers widen to 64 bits, and
/// strings are strings.
#[doc(hidden)]
pub trait ToValue {
    /// The value the trace records.
    fn to_value(&self) -> Value;
}

macro_rules! to_value {
    ($variant:ident as $wide:ty: $($t:ty),+) => {
        $(impl ToValue for $t {
            #[inline]
            fn to_value(&self) -> Value {
                Value::$variant(<$wide>::from(*self))
            }
        })+
    };
}

to_value!(U64 as u64: u8, u16, u32, u64);
to_value!(I64 as i64: i8, i16, i32, i64);
to_value!(Bool as bool: bool);
to_value!(F64 as f64: f32, f64);

impl ToValue for usize {
    #[inline]
    fn to_value(&self) -> Value {
        Value::U64(*self as u64)
    }
}

impl ToValue for isize {
    #[inline]
    fn to_value(&self) -> Value {
        Value::I64(*self as i64)
    }
}

impl ToValue for str {
    #[inline]
    fn to_value(&self) -> Value {
        Value::Str(Text::new(self))
    }
}

impl ToValue for String {
    #[inline]
    fn to_value(&self) -> Value {
        Value::Str(Text::new(self))
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    #[inline]
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// A `%value` field: its `Display` text, formatted into a reused buffer.
#[doc(hidden)]
pub fn __display(value: &dyn fmt::Display) -> Value {
    thread_local! {
        static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
    }
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        s.clear();
        let _ = write!(s, "{value}");
        Value::Str(Text::new(&s))
    })
}

/// Records an event of [`trace_event!`] directly, when that is what `tracing` would do; false
/// when the caller must go through `tracing` instead.
#[doc(hidden)]
#[inline]
pub fn __record<const N: usize>(
    site: &'static Site,
    message: Option<&'static str>,
    values: impl FnOnce() -> [Value; N],
) -> bool {
    let level = site.level;
    // An event reads as many values as its site has names; the macro always passes as many, and
    // anything else goes the `tracing` way.
    if site.names.len() != N {
        return false;
    }
    if !(level <= tracing::level_filters::STATIC_MAX_LEVEL
        && level <= tracing::level_filters::LevelFilter::current())
    {
        return false;
    }
    context::with_core(|core| {
        if !recording_only() {
            return false;
        }
        let mut trace = core.trace.borrow_mut();
        let values = trace.store_array(values);
        let e = Event {
            time: core.now.get(),
            task: core.current_task_id().and_then(std::num::NonZeroU64::new),
            site,
            message: message.map(Text::from_static),
            values,
        };
        trace.push(e);
        true
    })
    .unwrap_or(false)
}

/// The subscriber of this thread's dispatcher when it only records (no `VTSIM_LOG`).
type Recording = tracing_subscriber::layer::Layered<SimLayer, tracing_subscriber::Registry>;

thread_local! {
    // The address of this thread's recording-only subscriber, or 0 when it also logs.
    static RECORDING_ONLY: Cell<usize> = const { Cell::new(0) };
}

/// True when the current dispatcher is this thread's simulation dispatcher, and it only records.
fn recording_only() -> bool {
    let addr = RECORDING_ONLY.with(Cell::get);
    addr != 0
        && tracing::dispatcher::get_default(|d| {
            d.downcast_ref::<Recording>()
                .is_some_and(|s| std::ptr::from_ref(s) as usize == addr)
        })
}

/// The dispatcher simulations on this thread install while they run (one per thread: creating a
/// `Dispatch` makes tracing recompute every callsite's interest).
pub(crate) fn dispatch() -> tracing::Dispatch {
    thread_local! {
        static DISPATCH: tracing::Dispatch = new_dispatch();
    }
    DISPATCH.with(Clone::clone)
}

/// The recording layer, plus human-readable output in virtual time when `VTSIM_LOG` is set (a
/// `tracing_subscriber` target filter, such as `debug` or `vtsim_shardconn=trace`).
fn new_dispatch() -> tracing::Dispatch {
    let log = std::env::var("VTSIM_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok());
    let Some(filter) = log else {
        // The subscriber is exactly `Recording`, so the check of every event finds it at the
        // first type it compares.
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(SimLayer));
        if let Some(s) = dispatch.downcast_ref::<Recording>() {
            RECORDING_ONLY.with(|a| a.set(std::ptr::from_ref(s) as usize));
        }
        return dispatch;
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_timer(VirtualTime)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    tracing::Dispatch::new(tracing_subscriber::registry().with(SimLayer).with(fmt))
}

/// A [`FormatTime`](tracing_subscriber::fmt::time::FormatTime) that prints virtual time inside a
/// simulation, and `-` outside one.
#[derive(Debug, Default, Clone, Copy)]
pub struct VirtualTime;

impl tracing_subscriber::fmt::time::FormatTime for VirtualTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> fmt::Result {
        match context::with_core(|c| c.now.get()) {
            Some(n) => write!(w, "{}", TimeStamp(n)),
            None => w.write_str("-"),
        }
    }
}

// --- panics

thread_local! {
    static LAST_PANIC_LOCATION: Cell<Option<String>> = const { Cell::new(None) };
}

/// Installs (once) a panic hook that keeps panics inside a simulation quiet: the simulation
/// reports them itself, with the seed. Elsewhere the previous hook runs as before.
pub(crate) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if context::in_simulation() {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LAST_PANIC_LOCATION.with(|p| p.set(loc));
            } else {
                prev(info);
            }
        }));
    });
}

pub(crate) fn panic_details(payload: &(dyn std::any::Any + Send)) -> (String, Option<String>) {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    };
    let location = LAST_PANIC_LOCATION.with(Cell::take);
    (message, location)
}

#[cfg(test)]
mod tests {
    use super::{Event, Level, Site, Text, Trace, Value};
    use crate::Sim;

    #[test]
    fn inline_texts_keep_every_byte() {
        let all = "abcdefghijklmnopqrstuvwxyz";
        for n in 0..=all.len() {
            assert_eq!(Text::new(&all[..n]).as_str(), &all[..n]);
        }
    }

    #[test]
    fn fields_outlive_their_trace_across_chunks_and_clones() {
        let mut trace = Trace::default();
        let mut clone = None;
        for i in 0..5000u64 {
            static TWO: Site = Site::new(Level::INFO, "t", Some("k"), &["i", "s"]);
            static ONE: Site = Site::new(Level::INFO, "t", Some("k"), &["i"]);
            let (site, values) = if i % 2 == 0 {
                let long = "x".repeat(i as usize % 300);
                let values =
                    trace.store(vec![Value::U64(i), Value::Str(Text::new(&long))].into_iter());
                (&TWO, values)
            } else {
                (&ONE, trace.store_array(|| [Value::U64(i)]))
            };
            trace.push(Event {
                time: i,
                task: None,
                site,
                message: None,
                values,
            });
            if i == 2500 {
                // A clone gets the events, not the chunk being written.
                clone = Some(trace.clone());
            }
        }
        let early = trace.events()[10].clone();
        let copy = trace.clone();
        drop(trace);
        let clone = clone.unwrap();
        assert_eq!(clone.len(), 2501);
        assert_eq!(copy.len(), 5000);
        assert_eq!(clone.events()[..], copy.events()[..2501]);
        for (i, e) in copy.events().iter().enumerate() {
            assert_eq!(e.field("i"), Some(&Value::U64(i as u64)));
            if i % 2 == 0 {
                assert_eq!(
                    e.field("s").and_then(Value::as_str).map(str::len),
                    Some(i % 300)
                );
            } else {
                assert_eq!(e.fields().count(), 1);
            }
        }
        assert_eq!(early.field("i"), Some(&Value::U64(10)));
    }

    #[test]
    fn an_event_is_64_bytes_and_a_value_24() {
        // What the docs and the README say an event costs.
        assert_eq!(std::mem::size_of::<Event>(), 64);
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn a_new_trace_has_room_for_the_last_ones_events() {
        let mut sim = Sim::new(3);
        sim.block_on(async {
            for i in 0..5000u64 {
                crate::trace_event!(DEBUG, kind = "test.room", i);
            }
        })
        .unwrap();
        let recorded = sim.trace().len();
        drop(sim);
        let next = Sim::new(4);
        assert!(next.trace().events.capacity() >= recorded);
    }

    #[test]
    fn a_site_with_other_names_than_values_is_left_to_tracing() {
        static SITE: Site = Site::new(Level::INFO, "t", Some("test.mismatch"), &["a", "b"]);
        // With VTSIM_LOG set nothing takes the fast path.
        let fast = std::env::var_os("VTSIM_LOG").is_none_or(|v| v.is_empty());
        let mut sim = Sim::new(1);
        sim.block_on(async move {
            assert!(!super::__record(&SITE, None, || [Value::U64(1)]));
            let two = super::__record(&SITE, None, || [Value::U64(1), Value::U64(2)]);
            assert_eq!(two, fast);
        })
        .unwrap();
        let trace = sim.take_trace();
        let recorded: Vec<_> = trace.of_kind("test.mismatch").collect();
        assert_eq!(recorded.len(), usize::from(fast));
        if fast {
            assert_eq!(recorded[0].field("b"), Some(&Value::U64(2)));
        }
    }

    #[test]
    fn the_fast_path_records_what_tracing_records() {
        let mut sim = Sim::new(7);
        sim.block_on(async {
            let (uid, flag, name, text) = (3u32, true, "ks", String::from("q17"));
            let error = "a long error text that is more than twenty-two bytes";
            // Without VTSIM_LOG, trace_event! takes its fast path here.
            let logs = std::env::var_os("VTSIM_LOG").is_some_and(|v| !v.is_empty());
            assert_eq!(super::recording_only(), !logs);
            for _ in 0..2 {
                tracing::warn!(kind = "test.event", uid, flag, name, text, error = %error, small = -2i32, "A message");
                crate::trace_event!(WARN, kind = "test.event", uid, flag, name, text, error = %error, small = -2i32, "A message");
                tracing::debug!(kind = "test.bare", n = 1usize);
                crate::trace_event!(DEBUG, kind = "test.bare", n = 1usize);
            }
        })
        .unwrap();
        let trace = sim.take_trace();
        let events: Vec<_> = trace
            .events()
            .iter()
            .filter(|e| e.kind().is_some_and(|k| k.starts_with("test.")))
            .collect();
        assert_eq!(events.len(), 8);
        for pair in events.chunks(2) {
            assert_eq!(pair[0], pair[1]);
            assert_eq!(pair[0].to_string(), pair[1].to_string());
        }
    }
}
