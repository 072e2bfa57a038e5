//! Hotline tickets as they arrive from the platform (JSON pushes, spreadsheet rows): every field
//! is text from outside, and a ticket that passes must hold what the checks promise.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wangge_domain::hotline::{Ticket, TicketInput, parse_received_at};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_received_at(&text);
    // Ten fields cut from the input at unit separators, as a spreadsheet row would give them.
    let mut f = text.split('\u{1f}').map(str::to_owned);
    let mut next = || f.next().unwrap_or_default();
    let some = |s: String| (!s.is_empty()).then_some(s);
    let input = TicketInput {
        ticket_no: next(),
        channel: next(),
        text: next(),
        address: some(next()),
        lon: some(next()),
        lat: some(next()),
        category: next(),
        received_at: next(),
        caller: some(next()),
        phone: some(next()),
    };
    if let Ok(t) = Ticket::parse(input) {
        assert!(!t.ticket_no.is_empty());
        assert!(t.position.is_some() || t.address.is_some());
    }
});
