//! The predictive-maintenance report from the health findings: per component the finding,
//! its evidence, trend, time until the threshold and the recommended action.

use edgefuse_fusion::health::{Finding, FindingKind};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportItem {
    pub component: String,
    pub finding: String,
    pub severity: String,
    pub evidence: Vec<(String, f64)>,
    pub trend_per_s: f64,
    /// None when the trend does not approach the threshold.
    pub time_to_threshold_s: Option<f64>,
    pub first_seen_s: f64,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceReport {
    pub drive: String,
    pub items: Vec<ReportItem>,
}

/// What a workshop should do about a finding.
pub fn recommended_action(kind: FindingKind, component: &str) -> String {
    match kind {
        FindingKind::BlockedSector => format!(
            "clean the {component} window; inspect it for damage if the sector stays blocked"
        ),
        FindingKind::PointCountDrop => {
            format!("clean the {component} window and check its power and connector")
        }
        FindingKind::AmplitudeDrop => {
            format!("clean the {component} cover (dirt, ice) and check it for damage")
        }
        FindingKind::YawMisalignment => {
            format!("recalibrate the {component} mounting angle (it is yawed on its bracket)")
        }
        FindingKind::ConfidenceDrop => {
            format!("clean the {component} lens and check its exposure settings")
        }
        FindingKind::StuckValue => {
            format!("replace or reconnect the {component} sensor (it repeats one value)")
        }
        FindingKind::RateDrop | FindingKind::Dropout => {
            format!("check the {component} cable, connector and power supply")
        }
        FindingKind::Latency | FindingKind::ClockOffset => {
            format!("check the {component} time synchronization (PTP/NTP)")
        }
        FindingKind::GyroBias => format!(
            "recalibrate the {component} gyro bias at standstill; replace the {component} if the bias keeps growing"
        ),
        FindingKind::Vibration => format!("check the {component} mounting (loose bracket, worn damper)"),
    }
}

/// [`recommended_action`] for a finding named by its snake-case kind (as on `/diagnostics`).
pub fn action_for(kind: &str, component: &str) -> String {
    match FindingKind::from_name(kind) {
        Some(k) => recommended_action(k, component),
        None => format!("inspect the {component}"),
    }
}

/// What the summary says of one finding (named by its snake-case kind): the model phrases it,
/// and this is its fallback.
pub fn finding_sentence(component: &str, kind: &str) -> String {
    format!(
        "The {component} sensor has a {}: {}.",
        kind.replace('_', " "),
        action_for(kind, component)
    )
}

impl MaintenanceReport {
    /// One sentence per item ([`finding_sentence`]), or that nothing needs maintenance.
    pub fn finding_sentences(&self) -> Vec<String> {
        if self.items.is_empty() {
            return vec!["No sensor needs maintenance.".to_string()];
        }
        self.items
            .iter()
            .map(|i| finding_sentence(&i.component, &i.finding))
            .collect()
    }

    /// One item per (component, finding), the latest kept; `start_ns` is the drive's start,
    /// which `first_seen_s` counts from.
    pub fn from_findings(drive: &str, start_ns: i64, findings: &[Finding]) -> Self {
        let mut items: Vec<ReportItem> = Vec::new();
        for f in findings {
            let item = ReportItem {
                component: f.component.clone(),
                finding: f.kind.as_str().to_string(),
                severity: f.severity.as_str().to_string(),
                evidence: f.evidence.clone(),
                trend_per_s: f.trend_per_s,
                time_to_threshold_s: f
                    .time_to_threshold_s
                    .is_finite()
                    .then_some(f.time_to_threshold_s),
                first_seen_s: (f.first_seen_ns - start_ns) as f64 * 1e-9,
                action: recommended_action(f.kind, &f.component),
            };
            match items
                .iter_mut()
                .find(|i| i.component == item.component && i.finding == item.finding)
            {
                Some(existing) => *existing = item,
                None => items.push(item),
            }
        }
        items.sort_by(|a, b| {
            a.component
                .cmp(&b.component)
                .then(a.finding.cmp(&b.finding))
        });
        Self {
            drive: drive.to_string(),
            items,
        }
    }

    /// The deterministic summary sentence.
    pub fn template_summary(&self) -> String {
        if self.items.is_empty() {
            return "No sensor needs maintenance.".to_string();
        }
        let parts: Vec<String> = self
            .items
            .iter()
            .map(|i| format!("{} ({})", i.component, i.finding.replace('_', " ")))
            .collect();
        format!(
            "{} sensor findings need attention: {}.",
            self.items.len(),
            parts.join(", ")
        )
    }

    pub fn to_markdown(&self, summary: &str, summary_source: &str) -> String {
        let mut md = format!(
            "# Maintenance report: {}\n\n{summary}\n\n_Summary: {summary_source}._\n\n",
            self.drive
        );
        if self.items.is_empty() {
            md.push_str("No findings.\n");
            return md;
        }
        md.push_str("| component | finding | severity | evidence | trend /s | time to threshold | first seen | action |\n|---|---|---|---|---|---|---|---|\n");
        for i in &self.items {
            let evidence: Vec<String> = i
                .evidence
                .iter()
                .map(|(k, v)| format!("{k} = {v:.3}"))
                .collect();
            let ttt = match i.time_to_threshold_s {
                Some(t) if t <= 0.0 => "crossed".to_string(),
                Some(t) => format!("{t:.0} s"),
                None => "not approaching".to_string(),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {:.4} | {} | {:.1} s | {} |\n",
                i.component,
                i.finding,
                i.severity,
                evidence.join(", "),
                i.trend_per_s,
                ttt,
                i.first_seen_s,
                i.action
            ));
        }
        md
    }
}
