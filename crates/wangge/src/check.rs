//! `wangge check timelines`: every stored case's timeline is a legal path of the loop and its
//! cached status agrees with it; optionally, every transition a client saw acknowledged (an ack
//! log of `wangge bench loop`) is stored.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use uuid::Uuid;
use wangge_server::AppState;
use wangge_store::{CaseFilter, CaseOrder, CaseRow, Store};

/// Cases per page when listing all of them (the store answers at most 10,000).
const PAGE: i64 = 5_000;
/// Problems kept for printing.
const KEEP: usize = 20;

#[derive(Debug, Default, Clone)]
pub struct CheckReport {
    pub cases: u64,
    pub ok: u64,
    pub bad: u64,
    /// Acknowledged transitions read from the ack log, and how many are missing or wrong.
    pub acks: u64,
    pub acks_missing: u64,
    /// The first problems, one line each.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.bad == 0 && self.acks_missing == 0
    }

    fn problem(&mut self, line: String) {
        if self.problems.len() < KEEP {
            self.problems.push(line);
        }
    }

    pub fn summary(&self, with_acks: bool) -> String {
        let mut s = format!("cases={} ok={} bad={}", self.cases, self.ok, self.bad);
        if with_acks {
            s.push_str(&format!(
                " acks={} acks_missing={}",
                self.acks, self.acks_missing
            ));
        }
        s
    }
}

/// One line of an ack log: `case_id,version,action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub case_id: Uuid,
    pub version: i64,
    pub action: String,
}

/// Parses an ack log. A last line without its newline (the writer was killed mid-line) is
/// skipped; any other malformed line is an error.
pub fn parse_acks(text: &str) -> Result<Vec<Ack>> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => "",
    };
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let mut parts = line.trim().splitn(3, ',');
            let (Some(id), Some(version), Some(action)) =
                (parts.next(), parts.next(), parts.next())
            else {
                anyhow::bail!("line {}: expected case_id,version,action: {line}", i + 1);
            };
            Ok(Ack {
                case_id: Uuid::parse_str(id)
                    .with_context(|| format!("line {}: bad case id '{id}'", i + 1))?,
                version: version
                    .parse()
                    .with_context(|| format!("line {}: bad version '{version}'", i + 1))?,
                action: action.to_owned(),
            })
        })
        .collect()
}

/// Every case, oldest first.
async fn all_cases(state: &AppState) -> Result<Vec<CaseRow>> {
    let mut out = Vec::new();
    loop {
        let (rows, _) = state
            .store
            .list_cases(&CaseFilter {
                order: CaseOrder::OldestFirst,
                limit: PAGE,
                offset: out.len() as i64,
                ..CaseFilter::default()
            })
            .await
            .context("cannot list the cases")?;
        let n = rows.len();
        out.extend(rows);
        if n < PAGE as usize {
            return Ok(out);
        }
    }
}

/// Verifies every case's timeline, then the acknowledged transitions of `acks` if given.
pub async fn check_timelines(state: &AppState, acks: Option<&Path>) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let cases = all_cases(state).await?;
    for row in &cases {
        report.cases += 1;
        match wangge_server::cases::verify_timeline(state, row).await {
            Ok(()) => report.ok += 1,
            Err(e) => {
                report.bad += 1;
                report.problem(format!("case {} ({}): {e}", row.id, row.state));
            }
        }
    }
    let Some(path) = acks else {
        return Ok(report);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the ack log {}", path.display()))?;
    let acks = parse_acks(&text).with_context(|| format!("in {}", path.display()))?;
    report.acks = acks.len() as u64;
    let by_id: HashMap<Uuid, &CaseRow> = cases.iter().map(|c| (c.id, c)).collect();
    let mut grouped: HashMap<Uuid, Vec<&Ack>> = HashMap::new();
    for a in &acks {
        grouped.entry(a.case_id).or_default().push(a);
    }
    for (id, acked) in grouped {
        let Some(row) = by_id.get(&id) else {
            report.acks_missing += acked.len() as u64;
            report.problem(format!(
                "case {id}: acknowledged ({} transition(s)) but not stored",
                acked.len()
            ));
            continue;
        };
        let events = state
            .store
            .case_events(&row.district_code, row.id)
            .await
            .with_context(|| format!("cannot read the timeline of case {id}"))?;
        for a in acked {
            let stored = events
                .iter()
                .any(|e| e.seq == a.version && e.action == a.action);
            if row.version < a.version || !stored {
                report.acks_missing += 1;
                report.problem(format!(
                    "case {id}: acknowledged {} at version {} but the case is at version {}{}",
                    a.action,
                    a.version,
                    row.version,
                    if stored {
                        ""
                    } else {
                        " and its timeline has no such event"
                    }
                ));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_lines() {
        let id = "0190a4a0-0000-7000-8000-000000000001";
        let acks = parse_acks(&format!("{id},1,report\n{id},2,register\n{id},3,disp"));
        assert_eq!(
            acks.ok()
                .map(|a| a.iter().map(|x| x.version).collect::<Vec<_>>()),
            Some(vec![1, 2]),
            "the unfinished last line is skipped"
        );
        assert!(parse_acks(&format!("{id},x,report\n")).is_err());
        assert!(parse_acks("nonsense\n").is_err());
        assert_eq!(parse_acks("").ok().map(|a| a.len()), Some(0));
    }
}
