//! `wangge locate`: points in, grid codes out, streaming in input order on all cores. A bad row
//! gets an error text in its own output row and never stops the run.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use wangge_domain::position::Position;
use wangge_server::atlas::Atlas;

/// Rows handed to the worker threads at a time: large enough to keep both cores busy, small
/// enough that memory stays flat on a 10-million-row file.
const CHUNK_ROWS: usize = 64 * 1024;

#[derive(Debug, Default, Clone, Copy)]
pub struct LocateStats {
    pub rows: u64,
    pub located: u64,
    pub outside: u64,
    pub bad: u64,
}

struct Columns {
    id: usize,
    lon: usize,
    lat: usize,
}

fn columns(header: &csv::ByteRecord) -> Result<Columns> {
    let find = |name: &str| {
        header
            .iter()
            .position(|h| {
                let h = h.strip_prefix(b"\xef\xbb\xbf").unwrap_or(h);
                h.trim_ascii().eq_ignore_ascii_case(name.as_bytes())
            })
            .with_context(|| {
                format!("the input's header has no '{name}' column (expected id,lon,lat)")
            })
    };
    Ok(Columns {
        id: find("id")?,
        lon: find("lon")?,
        lat: find("lat")?,
    })
}

enum Answer<'a> {
    Grid(&'a str),
    Error(String),
}

fn parse_coord(raw: Option<&[u8]>, name: &str) -> Result<f64, String> {
    let raw = raw.ok_or_else(|| format!("{name} is missing"))?;
    let text = std::str::from_utf8(raw).map_err(|_| format!("{name} is not text"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{name} is empty"));
    }
    text.parse::<f64>()
        .map_err(|_| format!("{name} '{text}' is not a number"))
}

fn answer<'a>(atlas: &'a Atlas, cols: &Columns, rec: &csv::ByteRecord) -> Answer<'a> {
    let lon = match parse_coord(rec.get(cols.lon), "lon") {
        Ok(v) => v,
        Err(e) => return Answer::Error(e),
    };
    let lat = match parse_coord(rec.get(cols.lat), "lat") {
        Ok(v) => v,
        Err(e) => return Answer::Error(e),
    };
    if let Err(e) = Position::new(lon, lat) {
        return Answer::Error(e.to_string());
    }
    match atlas.locate_code(lon, lat) {
        Some(code) => Answer::Grid(code),
        None => Answer::Error("outside_jurisdiction".into()),
    }
}

fn write_chunk(atlas: &Atlas, cols: &Columns, rows: &[csv::ByteRecord]) -> (Vec<u8>, LocateStats) {
    let mut stats = LocateStats::default();
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(rows.len() * 48));
    for rec in rows {
        stats.rows += 1;
        let field = |i: usize| rec.get(i).unwrap_or(b"");
        let (grid, error): (&[u8], String) = match answer(atlas, cols, rec) {
            Answer::Grid(code) => {
                stats.located += 1;
                (code.as_bytes(), String::new())
            }
            Answer::Error(e) => {
                if e == "outside_jurisdiction" {
                    stats.outside += 1;
                } else {
                    stats.bad += 1;
                }
                (b"", e)
            }
        };
        // Writing to a Vec cannot fail.
        let _ = w.write_record([
            field(cols.id),
            field(cols.lon),
            field(cols.lat),
            grid,
            error.as_bytes(),
        ]);
    }
    (w.into_inner().unwrap_or_default(), stats)
}

/// Reads `input` (a CSV with id,lon,lat), writes `output`, shows progress on a terminal.
pub fn locate_file(
    atlas: &Atlas,
    input: &Path,
    output: &Path,
    progress: bool,
) -> Result<LocateStats> {
    let file = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if progress {
        indicatif::ProgressBar::new(size)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} locating [{bar:40}] {bytes}/{total_bytes} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let reader: Box<dyn Read> = Box::new(bar.wrap_read(BufReader::with_capacity(1 << 20, file)));
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let header = rdr
        .byte_headers()
        .with_context(|| format!("cannot read the header of {}", input.display()))?
        .clone();
    if header.is_empty() {
        bail!("{} is empty: expected a header id,lon,lat", input.display());
    }
    let cols = columns(&header)?;
    let out =
        File::create(output).with_context(|| format!("cannot create {}", output.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    out.write_all(b"id,lon,lat,grid_code,error\n")?;
    let mut total = LocateStats::default();
    let mut chunk: Vec<csv::ByteRecord> = (0..CHUNK_ROWS).map(|_| csv::ByteRecord::new()).collect();
    loop {
        let mut n = 0;
        while n < CHUNK_ROWS {
            match rdr.read_byte_record(&mut chunk[n]) {
                Ok(true) => n += 1,
                Ok(false) => break,
                // Byte records in flexible mode fail only when the file itself cannot be read.
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read {}", input.display()));
                }
            }
        }
        if n == 0 {
            break;
        }
        let pieces: Vec<(Vec<u8>, LocateStats)> = chunk[..n]
            .par_chunks(4096)
            .map(|rows| write_chunk(atlas, &cols, rows))
            .collect();
        for (bytes, s) in pieces {
            out.write_all(&bytes)?;
            total.rows += s.rows;
            total.located += s.located;
            total.outside += s.outside;
            total.bad += s.bad;
        }
        if n < CHUNK_ROWS {
            break;
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(total)
}
