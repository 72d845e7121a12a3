//! `edgefuse ask BAG --at SECONDS "question"` and `edgefuse report BAG`: the HMI's answers and
//! the maintenance report for a recorded drive, offline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use edgefuse_dialogue::facts::{FactSheet, UltrasonicFact, ULTRASONIC_STALE_S};
use edgefuse_dialogue::intent::{classify, HazardDebounce, Intent};
use edgefuse_dialogue::report::MaintenanceReport;
use edgefuse_dialogue::{Answer, Responder, ResponderOptions};
use edgefuse_fusion_node::runner::{run_bag, RunReport, Timing};

use crate::llm_cmd::{fetch_default_model, Mode};

/// Options of the engine behind the answers.
#[derive(Debug, Args, Clone)]
pub struct HmiEngineArgs {
    /// The GGUF model (default: the cached default model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Resident or streamed weights.
    #[arg(long, value_enum, default_value = "streamed")]
    pub mode: Mode,
    /// Memory budget of the streamed layer cache, MB.
    #[arg(long, default_value_t = 32.0)]
    pub memory_budget: f64,
    /// Sampled candidates tried when the greedy answer fails the checker.
    #[arg(long, default_value_t = 3)]
    pub candidates: usize,
    /// Compute threads of the LLM.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Niceness of the LLM's threads: it yields the CPU to the fusion stack.
    #[arg(long, default_value_t = 10)]
    pub nice: i32,
}

/// `edgefuse ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The bag.
    pub bag: PathBuf,
    /// Seconds from the first fusion cycle.
    #[arg(long)]
    pub at: f64,
    /// The question.
    pub question: String,
    /// Print JSON (answer, source, check, fact sheet, timings).
    #[arg(long)]
    pub json: bool,
    /// The engine behind the answers.
    #[command(flatten)]
    pub engine: HmiEngineArgs,
}

/// `edgefuse report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The bag.
    pub bag: PathBuf,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Only the deterministic summary (no model).
    #[arg(long)]
    pub no_llm: bool,
    /// The engine behind the answers.
    #[command(flatten)]
    pub engine: HmiEngineArgs,
}

/// The responder for these options.
pub fn responder(args: &HmiEngineArgs) -> Result<Responder> {
    let model = match &args.model {
        Some(p) => p.clone(),
        None => fetch_default_model()?,
    };
    let residency = match args.mode {
        Mode::Resident => edgefuse_llm::Residency::Resident,
        Mode::Streamed => edgefuse_llm::Residency::Streamed {
            budget_bytes: (args.memory_budget * 1e6) as usize,
        },
    };
    Ok(Responder::new(ResponderOptions {
        model,
        engine: edgefuse_llm::EngineOptions {
            residency,
            threads: args.threads,
            nice: args.nice,
        },
        candidates: args.candidates,
        max_new_tokens: 48,
    }))
}

/// The fused drive, once.
pub fn fuse(bag: &Path) -> Result<RunReport> {
    run_bag(
        bag,
        edgefuse_fusion::pipeline::PipelineConfig::default(),
        Timing::Deterministic,
    )
    .with_context(|| format!("running the fusion pipeline on {}", bag.display()))
}

/// The drive's ultrasonic readings that may be the newest at `stamp_ns`, as facts.
fn ultrasonic_facts(report: &RunReport, stamp_ns: i64) -> Vec<UltrasonicFact> {
    let oldest = stamp_ns - (ULTRASONIC_STALE_S * 1e9) as i64;
    report
        .ultrasonic
        .iter()
        .filter(|u| (oldest..=stamp_ns).contains(&u.stamp_ns))
        .filter_map(|u| {
            let name = report.ultrasonic_names.get(&u.sensor)?;
            UltrasonicFact::from_range(name, u)
        })
        .collect()
}

/// The fact sheet at `at_s` seconds after the first cycle, and the last hazard before it
/// (within 15 s) with the fact sheet of its time.
pub fn facts_at(report: &RunReport, at_s: f64) -> Result<(FactSheet, Option<(String, FactSheet)>)> {
    let first = report
        .frames
        .first()
        .context("the pipeline produced no cycle")?
        .cycle
        .stamp_ns;
    let sheet = |i: usize| -> Option<FactSheet> {
        let c = &report.frames[i].cycle;
        c.ego.as_ref().map(|ego| {
            FactSheet::from_world(c.stamp_ns, ego, &c.tracks, &c.findings)
                .with_ultrasonic(ultrasonic_facts(report, c.stamp_ns))
        })
    };
    let target = first + (at_s * 1e9) as i64;
    let index = report
        .frames
        .iter()
        .rposition(|f| f.cycle.stamp_ns <= target)
        .unwrap_or(0);
    let facts = (0..=index)
        .rev()
        .find_map(sheet)
        .context("no ego estimate yet at that time")?;
    // The last alert of the 15 s before, as the HMI node raises them (debounced).
    let mut warning = None;
    let mut debounce = HazardDebounce::default();
    let from = report.frames[..=index]
        .iter()
        .position(|f| f.cycle.stamp_ns >= target - 15_000_000_000)
        .unwrap_or(index);
    for i in from..=index {
        if let Some(s) = sheet(i) {
            if let Some(h) = debounce.update(&s).into_iter().next() {
                warning = Some((h.reason, s));
            }
        }
    }
    Ok((facts, warning))
}

/// Answer one question at one time of a fused drive; returns the answer and the seconds to
/// its first token and to its end.
pub fn ask(
    responder: &mut Responder,
    report: &RunReport,
    at_s: f64,
    question: &str,
    on_token: &mut dyn FnMut(&str),
) -> Result<(Answer, FactSheet, f64, f64)> {
    let (facts, warning) = facts_at(report, at_s)?;
    // "Why did you warn me" is answered from the facts of the warning's time.
    let (facts, reason) = match (classify(question), warning) {
        (Intent::WhyWarned, Some((reason, then))) => (then, Some(reason)),
        _ => (facts, None),
    };
    let start = Instant::now();
    let mut first = None;
    let answer = responder.answer(question.as_bytes(), &facts, reason.as_deref(), &mut |t| {
        first.get_or_insert_with(|| start.elapsed().as_secs_f64());
        on_token(t);
    })?;
    let total = start.elapsed().as_secs_f64();
    Ok((answer, facts, first.unwrap_or(total), total))
}

/// `edgefuse ask`.
pub fn run_ask(args: AskArgs) -> Result<()> {
    let report = fuse(&args.bag)?;
    let mut responder = responder(&args.engine)?;
    let (answer, facts, first_s, total_s) = ask(
        &mut responder,
        &report,
        args.at,
        &args.question,
        &mut |_| {},
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "question": args.question,
                "at_s": args.at,
                "answer": answer,
                "facts": facts,
                "first_token_s": first_s,
                "total_s": total_s,
            })
        );
    } else {
        println!("{}", answer.text);
        eprintln!(
            "[{:?}; first token {:.0} ms, answer {:.0} ms]",
            answer.source,
            first_s * 1e3,
            total_s * 1e3
        );
    }
    Ok(())
}

/// The maintenance report of a fused drive, with its summary phrased by the model and checked.
pub fn maintenance(
    report: &RunReport,
    drive: &str,
    responder: Option<&mut Responder>,
) -> Result<(MaintenanceReport, String, String)> {
    let findings = report
        .frames
        .last()
        .map(|f| f.cycle.findings.clone())
        .unwrap_or_default();
    let start_ns = report.frames.first().map_or(0, |f| f.cycle.stamp_ns);
    let m = MaintenanceReport::from_findings(drive, start_ns, &findings);
    let Some(responder) = responder else {
        let template = m.template_summary();
        return Ok((m, template, "template".into()));
    };
    // The summary's facts: the findings' evidence, as a fact sheet without objects.
    let last = report.frames.last().context("no cycle")?;
    let facts = FactSheet::from_objects(last.cycle.stamp_ns, (0.0, 0.0, 0.0), 0.0, &[], &findings);
    // Each finding phrased on its own, checked against the findings (names, figures).
    let (text, source) = responder.phrase_each(&m.finding_sentences(), &facts)?;
    Ok((m, text, source))
}

/// `edgefuse report`.
pub fn run_report(args: ReportArgs) -> Result<()> {
    let report = fuse(&args.bag)?;
    let drive = args
        .bag
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut responder = if args.no_llm {
        None
    } else {
        Some(responder(&args.engine)?)
    };
    let (m, summary, source) = maintenance(&report, &drive, responder.as_mut())?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"report": m, "summary": summary, "summary_source": source})
        );
    } else {
        print!("{}", m.to_markdown(&summary, &source));
    }
    Ok(())
}
