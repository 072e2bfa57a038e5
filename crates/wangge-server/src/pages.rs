//! The start page: what this server holds and where to go next. The full console comes later;
//! this page already draws the streets of the city from the stored polygons (no tile server).

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;
use geo::BoundingRect;
use wangge_store::Store;

use crate::atlas::parse_geometry;
use crate::error::ApiResult;
use crate::state::AppState;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PALETTE: [&str; 8] = [
    "#e3f2fd", "#fce4ec", "#e8f5e9", "#fff3e0", "#ede7f6", "#e0f7fa", "#f9fbe7", "#efebe9",
];

pub async fn index(State(state): State<AppState>) -> ApiResult<Html<String>> {
    let atlas = state.atlas();
    let streets = state.store.current_regions(Some("street"), None).await?;
    let districts = state.store.current_regions(Some("district"), None).await?;
    let cases = state.store.count_cases().await?;
    let shapes: Vec<_> = streets
        .iter()
        .filter_map(|r| parse_geometry(&r.geometry).ok().map(|g| (r, g)))
        .collect();
    let mut svg = String::new();
    let bounds = shapes
        .iter()
        .filter_map(|(_, g)| g.bounding_rect())
        .reduce(|a, b| {
            geo::Rect::new(
                geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
            )
        });
    if let Some(b) = bounds {
        let (w, h) = (800.0, 800.0 * b.height() / b.width().max(1e-9));
        let _ = write!(
            svg,
            r#"<svg viewBox="0 0 {w:.0} {h:.0}" width="100%" role="img" aria-label="街道图">"#
        );
        for (r, g) in &shapes {
            let district_ix = districts
                .iter()
                .position(|d| Some(&d.code) == r.parent_code.as_ref())
                .unwrap_or(0);
            let mut d = String::new();
            for poly in &g.0 {
                for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                    for (i, c) in ring.0.iter().enumerate() {
                        let x = (c.x - b.min().x) / b.width() * w;
                        let y = (b.max().y - c.y) / b.height() * h;
                        let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
                    }
                    d.push('Z');
                }
            }
            let _ = write!(
                svg,
                r##"<path d="{d}" fill="{}" stroke="#607d8b" stroke-width="0.8"><title>{} {}</title></path>"##,
                PALETTE[district_ix % PALETTE.len()],
                escape(&r.name),
                escape(&r.code)
            );
        }
        svg.push_str("</svg>");
    } else {
        svg.push_str(
            "<p>尚无区域数据。运行 <code>wangge import regions FILE</code> 导入网格。</p>",
        );
    }
    let mut district_list = String::new();
    for d in &districts {
        let _ = write!(
            district_list,
            r#"<li><a href="/api/v1/regions?parent={0}">{1}</a> <small>{0}</small></li>"#,
            escape(&d.code),
            escape(&d.name)
        );
    }
    let html = format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>网格 wangge</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:0;color:#263238}}
header{{background:#1565c0;color:#fff;padding:12px 20px}}main{{display:flex;flex-wrap:wrap;gap:20px;padding:20px}}
section{{flex:1 1 340px}}.map{{flex:2 1 500px}}a{{color:#1565c0}}dl{{display:grid;grid-template-columns:auto 1fr;gap:4px 12px}}</style></head>
<body><header><strong>网格 wangge</strong> · 网格化城市管理平台</header><main>
<section class="map">{svg}</section>
<section><h2>概况</h2><dl><dt>区域</dt><dd>{regions}</dd><dt>单元网格</dt><dd>{grids}</dd><dt>案件</dt><dd>{cases}</dd><dt>数据库</dt><dd>{db}</dd></dl>
<h2>区县</h2><ul>{district_list}</ul>
<h2>定位</h2><form action="/api/v1/locate" method="get"><label>经度 <input name="lon" size="10"></label> <label>纬度 <input name="lat" size="10"></label> <button>查找网格</button></form>
<h2>接口</h2><ul><li><a href="/api/openapi.json">OpenAPI</a></li><li><a href="/api/v1/regions?level=district">/api/v1/regions</a></li>
<li><a href="/api/v1/regions.geojson?level=street">/api/v1/regions.geojson</a></li><li><a href="/api/v1/categories?kind=matter">/api/v1/categories</a></li><li><a href="/healthz">/healthz</a></li></ul>
</section></main></body></html>"#,
        regions = atlas.region_count(),
        grids = atlas.grid_count(),
        db = state.store.backend_name(),
    );
    Ok(Html(html))
}
