//! Charts drawn on the server as SVG: no chart library, no script.

use maud::{Markup, html};

/// Stacked bars, one per slot (an hour, a day), `relevant` below `other`;
/// `label` names a slot in its tooltip.
pub fn bars(slots: &[(String, u64, u64)], width: u32, height: u32) -> Markup {
    let max = slots
        .iter()
        .map(|(_, a, b)| a + b)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = slots.len().max(1) as f64;
    let plot = f64::from(height) - 16.0;
    let step = f64::from(width) / n;
    let bar = (step - 1.0).max(1.0);
    let scale = |v: u64| v as f64 / max as f64 * plot;
    html! {
        svg.chart width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) }
            role="img" aria-label="records per hour" {
            @for (i, (label, relevant, other)) in slots.iter().enumerate() {
                @let x = i as f64 * step;
                @let r = scale(*relevant);
                @let o = scale(*other);
                rect.relevant x=(format!("{x:.1}")) y=(format!("{:.1}", plot - r))
                    width=(format!("{bar:.1}")) height=(format!("{r:.1}")) {
                    title { (label) ": " (relevant) " relevant" }
                }
                rect.other x=(format!("{x:.1}")) y=(format!("{:.1}", plot - r - o))
                    width=(format!("{bar:.1}")) height=(format!("{o:.1}")) {
                    title { (label) ": " (other) " other" }
                }
            }
            text x="0" y=(height - 2) { (slots.first().map(|s| s.0.as_str()).unwrap_or("")) }
            text x=(width) y=(height - 2) text-anchor="end" {
                (slots.last().map(|s| s.0.as_str()).unwrap_or(""))
            }
            text x=(width) y="10" text-anchor="end" { "max " (max) }
        }
    }
}
