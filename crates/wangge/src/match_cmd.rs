//! `wangge match`: free-text addresses in, house codes out (issue 7). Streams a CSV of any size
//! in input order on all cores: one thread reads and decodes, the cores match chunks of rows,
//! one thread de-duplicates and writes. The output is the input's columns, then `house_code,
//! confidence, reason, grid_code, candidates` (and `duplicate_of, duplicate_rule` with
//! `--dedup`).
//!
//! The address base comes from a houses CSV (`wangge generate city` writes one) or from the
//! registry's houses in the database.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use wangge_address::dedup::{DedupRecord, Deduper};
use wangge_address::{AddressBase, HouseEntry, Match};

/// Rows one core matches at a time.
pub const CHUNK_ROWS: usize = 8_192;
/// Chunks read ahead and matched together.
const CHUNKS_PER_BATCH: usize = 8;

/// Headers taken for the address when `--address-column` is not given.
pub const ADDRESS_HEADERS: [&str; 8] = [
    "address",
    "地址",
    "住址",
    "详细地址",
    "居住地址",
    "现住址",
    "现居住地址",
    "declared_address",
];

/// Columns added after the input's.
pub const MATCH_COLUMNS: [&str; 5] = [
    "house_code",
    "confidence",
    "reason",
    "grid_code",
    "candidates",
];
pub const DEDUP_COLUMNS: [&str; 2] = ["duplicate_of", "duplicate_rule"];

// ---------------------------------------------------------------------------------------------
// The address base

fn strip_bom(s: &str) -> &str {
    s.strip_prefix('\u{feff}').unwrap_or(s).trim()
}

/// The position of a header: exactly (after trimming), else ignoring ASCII case.
fn find_header<S: AsRef<str>>(headers: &[S], name: &str) -> Option<usize> {
    let name = name.trim();
    headers
        .iter()
        .position(|h| strip_bom(h.as_ref()) == name)
        .or_else(|| {
            headers
                .iter()
                .position(|h| strip_bom(h.as_ref()).eq_ignore_ascii_case(name))
        })
}

fn list_headers<S: AsRef<str>>(headers: &[S]) -> String {
    headers
        .iter()
        .map(|h| strip_bom(h.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the rooms of a houses CSV (house_code, grid_code and the address parts province, city,
/// district, street, community, road, number, building, unit, room; a part without a column is
/// taken as unused) into an address base, without holding the file's rows.
pub fn base_from_houses_csv(path: &Path) -> Result<AddressBase> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("cannot read the header of {}", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let need = |name: &str| {
        find_header(&headers, name).with_context(|| {
            format!(
                "the houses file {} has no '{name}' column (its columns: {})",
                path.display(),
                list_headers(&headers)
            )
        })
    };
    let code = need("house_code")?;
    let grid = need("grid_code")?;
    let part = |name: &str| find_header(&headers, name);
    let at = [
        part("province"),
        part("city"),
        part("district"),
        part("street"),
        part("community"),
        part("road"),
        part("number"),
        part("building"),
        part("unit"),
        part("room"),
    ];
    if at[4].is_none() && at[5].is_none() {
        bail!(
            "the houses file {} has neither a 'road' nor a 'community' column (its columns: {})",
            path.display(),
            list_headers(&headers)
        );
    }
    let mut failure: Option<anyhow::Error> = None;
    let mut rec = csv::StringRecord::new();
    let mut row = 1u64;
    let entries = std::iter::from_fn(|| {
        if failure.is_some() {
            return None;
        }
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                failure =
                    Some(anyhow::Error::new(e).context(format!("reading {}", path.display())));
                return None;
            }
        }
        row += 1;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim().to_owned();
        Some(HouseEntry {
            house_code: get(Some(code)),
            grid_code: get(Some(grid)),
            province: get(at[0]),
            city: get(at[1]),
            district: get(at[2]),
            street: get(at[3]),
            community: get(at[4]),
            road: get(at[5]),
            number: get(at[6]),
            building: get(at[7]),
            unit: get(at[8]),
            room: get(at[9]),
        })
    });
    let base = AddressBase::build(entries);
    if let Some(e) = failure {
        return Err(e);
    }
    let base = base.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if base.is_empty() {
        bail!("{} holds no houses", path.display());
    }
    Ok(base)
}

/// The registry's houses in the database as one address base (every district), read a
/// district at a time. Parts a house leaves out that its grid implies (city … community) come
/// from the region tree, as the server's matcher does. Runs its own async runtime: call it
/// outside one.
pub fn base_from_db(db: &str) -> Result<AddressBase> {
    use wangge_store::{Campaigns, Store};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = rt
        .block_on(wangge_store::AnyStore::open(db))
        .with_context(|| format!("cannot open the database {db}"))?;
    let regions = rt.block_on(store.current_regions(None, None))?;
    let atlas = wangge_server::atlas::Atlas::from_rows(&regions)
        .map_err(|e| anyhow::anyhow!("the regions of {db}: {e}"))?;
    let districts: Vec<String> = atlas.districts().into_iter().map(str::to_owned).collect();
    let mut failure: Option<anyhow::Error> = None;
    let mut next_district = districts.iter();
    let mut rows = Vec::new().into_iter();
    let mut count = 0usize;
    let entries = std::iter::from_fn(|| {
        let row = loop {
            if let Some(row) = rows.next() {
                break row;
            }
            let district = next_district.next()?;
            match rt.block_on(store.house_addresses(district, None)) {
                Ok(r) => rows = r.into_iter(),
                Err(e) => {
                    failure = Some(anyhow::Error::new(e).context(format!(
                        "reading the houses of district {district} from {db}"
                    )));
                    return None;
                }
            }
        };
        count += 1;
        Some(wangge_server::campaign::house_entry(&atlas, row))
    });
    let base = AddressBase::build(entries);
    if let Some(e) = failure {
        return Err(e);
    }
    let base = base.map_err(|e| anyhow::anyhow!("the houses of {db}: {e}"))?;
    if count == 0 {
        bail!("the database {db} holds no houses: import them first or pass --houses FILE");
    }
    Ok(base)
}

// ---------------------------------------------------------------------------------------------
// Reading any text encoding as UTF-8

/// The encoding of a CSV from its first bytes: a BOM decides; else UTF-8 when they are UTF-8
/// (a sequence cut at the end of the sample still counts), else GB18030.
fn sniff(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if head.starts_with(&[0xFF, 0xFE]) {
        return Some(encoding_rs::UTF_16LE);
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Some(encoding_rs::UTF_16BE);
    }
    match std::str::from_utf8(head) {
        Ok(_) => None,
        Err(e) if e.error_len().is_none() => None,
        Err(_) => Some(encoding_rs::GB18030),
    }
}

/// A reader giving UTF-8 from another encoding, a buffer at a time.
struct Decoding<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    eof: bool,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    done: bool,
}

impl<R: Read> Decoding<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Decoding {
            inner,
            // The BOM, if any, is removed here.
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 1 << 16],
            in_start: 0,
            in_end: 0,
            eof: false,
            output: vec![0; 3 * (1 << 16) + 16],
            out_start: 0,
            out_end: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_start == self.out_end {
            if self.done {
                return Ok(0);
            }
            if self.in_start == self.in_end && !self.eof {
                let n = self.inner.read(&mut self.input)?;
                self.in_start = 0;
                self.in_end = n;
                self.eof = n == 0;
            }
            let (result, read, written, _) = self.decoder.decode_to_utf8(
                &self.input[self.in_start..self.in_end],
                &mut self.output,
                self.eof,
            );
            self.in_start += read;
            self.out_start = 0;
            self.out_end = written;
            if self.eof && result == encoding_rs::CoderResult::InputEmpty {
                self.done = true;
            }
        }
        let n = buf.len().min(self.out_end - self.out_start);
        buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// The input as UTF-8 (whatever it was written in), and the name of its encoding.
fn open_text(reader: impl Read + Send + 'static) -> Result<(Box<dyn Read + Send>, &'static str)> {
    let mut reader = reader;
    let mut head = vec![0u8; 1 << 16];
    let mut got = 0;
    while got < head.len() {
        let n = reader.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    head.truncate(got);
    let encoding = sniff(&head);
    let whole = std::io::Cursor::new(head).chain(reader);
    Ok(match encoding {
        None => (Box::new(whole), "UTF-8"),
        Some(e) => (Box::new(Decoding::new(whole, e)), e.name()),
    })
}

// ---------------------------------------------------------------------------------------------
// Matching a file

/// The columns the dedup reads (`None`: not used).
#[derive(Debug, Clone, Default)]
pub struct DedupColumns {
    pub id: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

pub struct MatchOptions<'a> {
    pub input: &'a Path,
    pub output: &'a Path,
    /// `None`: the first of [`ADDRESS_HEADERS`] the input has.
    pub address_column: Option<&'a str>,
    pub threshold: f64,
    /// With `--dedup`: the columns given (the defaults identity_number, name, phone are used
    /// when present).
    pub dedup: Option<DedupColumns>,
    pub progress: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct MatchStats {
    pub records: u64,
    pub matched: u64,
    pub unmatched: u64,
    /// Records without an address (counted as unmatched too).
    pub empty: u64,
    pub duplicates: u64,
    pub seconds: f64,
    /// Process CPU seconds (user + system) over the run.
    pub cpu_seconds: f64,
    pub threads: usize,
}

impl MatchStats {
    pub fn per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }

    /// Records per CPU-second: what one core does.
    pub fn per_core_second(&self) -> f64 {
        self.records as f64 / self.cpu_seconds.max(1e-9)
    }
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process (VmHWM), in bytes.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One row's answer.
struct Answer {
    house_code: Option<String>,
    grid_code: Option<String>,
    confidence: f64,
    reason: String,
    candidates: String,
}

fn answer(base: &AddressBase, text: &str, threshold: f64) -> Answer {
    if text.trim().is_empty() {
        return Answer {
            house_code: None,
            grid_code: None,
            confidence: 0.0,
            reason: "no address".into(),
            candidates: String::new(),
        };
    }
    let m: Match = base.match_with(text, threshold);
    let mut candidates = String::new();
    if m.house_code.is_none() {
        for c in &m.candidates {
            if !candidates.is_empty() {
                candidates.push_str("; ");
            }
            let _ = write!(
                candidates,
                "{} {} ({:.2})",
                c.house_code, c.address, c.confidence
            );
        }
    }
    Answer {
        house_code: m.house_code,
        grid_code: m.grid_code,
        confidence: m.confidence,
        reason: m.reason,
        candidates,
    }
}

struct Columns {
    address: usize,
    id: Option<usize>,
    name: Option<usize>,
    phone: Option<usize>,
    width: usize,
}

fn resolve_columns(headers: &[String], opts: &MatchOptions<'_>) -> Result<Columns> {
    let address = match opts.address_column {
        Some(col) => find_header(headers, col).with_context(|| {
            format!(
                "the input {} has no column '{col}' (--address-column); its columns are: {}",
                opts.input.display(),
                list_headers(headers)
            )
        })?,
        None => ADDRESS_HEADERS
            .iter()
            .find_map(|h| find_header(headers, h))
            .with_context(|| {
                format!(
                    "which column of {} holds the address? Name it with --address-column \
                     (its columns are: {})",
                    opts.input.display(),
                    list_headers(headers)
                )
            })?,
    };
    let (mut id, mut name, mut phone) = (None, None, None);
    if let Some(d) = &opts.dedup {
        let pick = |given: &Option<String>, default: &str, flag: &str| -> Result<Option<usize>> {
            match given {
                Some(col) => find_header(headers, col).map(Some).with_context(|| {
                    format!(
                        "the input {} has no column '{col}' ({flag}); its columns are: {}",
                        opts.input.display(),
                        list_headers(headers)
                    )
                }),
                None => Ok(find_header(headers, default)),
            }
        };
        id = pick(&d.id, "identity_number", "--id-column")?;
        name = pick(&d.name, "name", "--name-column")?;
        phone = pick(&d.phone, "phone", "--phone-column")?;
        if id.is_none() && (name.is_none() || phone.is_none()) {
            bail!(
                "--dedup needs an identity number column (--id-column, default identity_number) \
                 or name and phone columns (--name-column, --phone-column, defaults name and \
                 phone); {} has: {}",
                opts.input.display(),
                list_headers(headers)
            );
        }
    }
    Ok(Columns {
        address,
        id,
        name,
        phone,
        width: headers.len(),
    })
}

type Batch = Vec<csv::ByteRecord>;

/// Checks that the input can be read and has the columns asked for, before the address base is
/// built (which takes a while for millions of houses).
pub fn check_input(opts: &MatchOptions<'_>) -> Result<()> {
    let file =
        File::open(opts.input).with_context(|| format!("cannot open {}", opts.input.display()))?;
    let (text, _) = open_text(BufReader::new(file))?;
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let headers: Vec<String> = rdr
        .byte_headers()
        .with_context(|| format!("cannot read the header of {}", opts.input.display()))?
        .iter()
        .map(|h| strip_bom(&String::from_utf8_lossy(h)).to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        bail!("{} is empty: expected a header row", opts.input.display());
    }
    resolve_columns(&headers, opts).map(|_| ())
}

/// Matches `opts.input` against `base` into `opts.output`.
pub fn match_file(base: &AddressBase, opts: &MatchOptions<'_>) -> Result<MatchStats> {
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let file =
        File::open(opts.input).with_context(|| format!("cannot open {}", opts.input.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if opts.progress {
        indicatif::ProgressBar::new(size)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} matching [{bar:40}] {bytes}/{total_bytes} {msg} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let raw = bar.wrap_read(BufReader::with_capacity(1 << 20, file));
    let (text, _encoding) = open_text(raw)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text);
    let header = rdr
        .byte_headers()
        .with_context(|| format!("cannot read the header of {}", opts.input.display()))?
        .clone();
    let headers: Vec<String> = header
        .iter()
        .map(|h| strip_bom(&String::from_utf8_lossy(h)).to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        bail!("{} is empty: expected a header row", opts.input.display());
    }
    let cols = resolve_columns(&headers, opts)?;

    let out = File::create(opts.output)
        .with_context(|| format!("cannot create {}", opts.output.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    let mut out_header: Vec<&str> = headers.iter().map(String::as_str).collect();
    out_header.extend(MATCH_COLUMNS);
    if opts.dedup.is_some() {
        out_header.extend(DEDUP_COLUMNS);
    }
    w.write_record(&out_header)?;

    let batch_rows = CHUNK_ROWS * CHUNKS_PER_BATCH;
    let input_name = opts.input.display().to_string();
    let output_name = opts.output.display().to_string();
    let threshold = opts.threshold;
    let dedup_on = opts.dedup.is_some();
    let cols = &cols;
    let bar_w = bar.clone();

    let stats = std::thread::scope(|scope| -> Result<MatchStats> {
        let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<Result<Batch>>(2);
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<(Batch, Vec<Answer>)>(2);
        // Reading.
        scope.spawn(move || {
            loop {
                let mut batch: Batch = Vec::with_capacity(batch_rows);
                let mut rec = csv::ByteRecord::new();
                while batch.len() < batch_rows {
                    match rdr.read_byte_record(&mut rec) {
                        Ok(true) => batch.push(std::mem::take(&mut rec)),
                        Ok(false) => break,
                        Err(e) => {
                            let _ = batch_tx
                                .send(Err(anyhow::Error::new(e)
                                    .context(format!("cannot read {input_name}"))));
                            return;
                        }
                    }
                }
                let last = batch.len() < batch_rows;
                if !batch.is_empty() && batch_tx.send(Ok(batch)).is_err() {
                    return;
                }
                if last {
                    return;
                }
            }
        });
        // Writing, de-duplicating.
        let writer = scope.spawn(move || -> Result<MatchStats> {
            let mut stats = MatchStats::default();
            let mut dedup = Deduper::default();
            let mut scratch = String::new();
            for (batch, answers) in done_rx {
                for (rec, a) in batch.iter().zip(&answers) {
                    stats.records += 1;
                    if a.house_code.is_some() {
                        stats.matched += 1;
                    } else {
                        stats.unmatched += 1;
                        if a.reason == "no address" {
                            stats.empty += 1;
                        }
                    }
                    for i in 0..cols.width.max(rec.len()) {
                        w.write_field(rec.get(i).unwrap_or(b""))?;
                    }
                    w.write_field(a.house_code.as_deref().unwrap_or(""))?;
                    scratch.clear();
                    let _ = write!(scratch, "{:.3}", a.confidence);
                    w.write_field(&scratch)?;
                    w.write_field(&a.reason)?;
                    w.write_field(a.grid_code.as_deref().unwrap_or(""))?;
                    w.write_field(&a.candidates)?;
                    if dedup_on {
                        let text = |c: Option<usize>| {
                            c.and_then(|i| rec.get(i))
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                        };
                        let (id, name, phone) = (text(cols.id), text(cols.name), text(cols.phone));
                        match dedup.push(&DedupRecord {
                            identity_number: id.as_deref(),
                            name: name.as_deref(),
                            phone: phone.as_deref(),
                            house_code: a.house_code.as_deref(),
                        }) {
                            Some((kept, rule)) => {
                                stats.duplicates += 1;
                                scratch.clear();
                                let _ = write!(scratch, "{}", kept + 1);
                                w.write_field(&scratch)?;
                                w.write_field(rule.as_str())?;
                            }
                            None => {
                                w.write_field("")?;
                                w.write_field("")?;
                            }
                        }
                    }
                    w.write_record(None::<&[u8]>)?;
                }
                bar_w.set_message(format!("{} records", stats.records));
            }
            let mut out = w
                .into_inner()
                .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
            out.flush()
                .with_context(|| format!("writing {output_name}"))?;
            Ok(stats)
        });
        // Matching, on every core.
        let mut failure = None;
        for batch in batch_rx {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let answers: Vec<Answer> = batch
                .par_chunks(CHUNK_ROWS)
                .flat_map_iter(|rows| {
                    rows.iter().map(|rec| {
                        let text = rec
                            .get(cols.address)
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default();
                        answer(base, &text, threshold)
                    })
                })
                .collect();
            if done_tx.send((batch, answers)).is_err() {
                break;
            }
        }
        drop(done_tx);
        let stats = writer
            .join()
            .map_err(|_| anyhow::anyhow!("the writing thread failed"))??;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(stats)
    })?;
    bar.finish_and_clear();
    Ok(MatchStats {
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu_before,
        threads: rayon::current_num_threads(),
        ..stats
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn gb18030_and_utf16_read_as_utf8() {
        let text = "id,地址\n1,示范市和平路12号3栋501室\n";
        for enc in [encoding_rs::GB18030, encoding_rs::UTF_16LE] {
            let mut bytes = Vec::new();
            if enc == encoding_rs::UTF_16LE {
                bytes.extend([0xFF, 0xFE]);
                for u in text.encode_utf16() {
                    bytes.extend(u.to_le_bytes());
                }
            } else {
                bytes = enc.encode(text).0.into_owned();
            }
            // Big enough that decoding spans several buffers.
            let mut long = bytes.clone();
            for _ in 0..5000 {
                long.extend_from_slice(&bytes[if enc == encoding_rs::UTF_16LE { 2 } else { 0 }..]);
            }
            let (mut r, name) = open_text(std::io::Cursor::new(long)).unwrap();
            assert_eq!(name, enc.name());
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            assert!(s.starts_with(text), "{}", &s[..40]);
            assert_eq!(s.len(), text.len() * 5001);
        }
        let (mut r, name) = open_text(std::io::Cursor::new(text.as_bytes().to_vec())).unwrap();
        assert_eq!(name, "UTF-8");
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, text);
    }
}
