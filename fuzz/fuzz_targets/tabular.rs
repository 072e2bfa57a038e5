//! Tables uploaded for the base-data import: any bytes, as CSV and as a workbook.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wangge_server::tabular::{Format, Mapping, read_table};

fuzz_target!(|data: &[u8]| {
    let _ = Format::sniff(data, Some("upload.xlsx"));
    for format in [Format::Csv, Format::Xlsx] {
        let Ok(table) = read_table(data, format, None) else {
            continue;
        };
        let fields = [
            "house_code",
            "grid_code",
            "name",
            "phone",
            "identity_number",
        ];
        if let Ok(mapping) = Mapping::new(&table.headers, &fields, &[]) {
            for row in &table.rows {
                assert_eq!(row.cells.len(), table.headers.len());
                let _ = mapping.fields(row);
            }
            let _ = (mapping.unmapped_headers(), mapping.mapped());
        }
    }
    // A zip's magic in front, so the workbook reader gets past its first check.
    let mut zipped = b"PK\x03\x04".to_vec();
    zipped.extend_from_slice(data);
    let _ = read_table(&zipped, Format::Xlsx, Some("Sheet1"));
});
