//! Answering a driver: the template answer from the fact sheet, phrased by the LLM, checked.
//! The engine is loaded when a request wakes the responder and dropped when it goes idle, so
//! an idle HMI holds no weights.

use crate::checker::{check, covers, CheckReport};
use crate::facts::FactSheet;
use crate::intent::{classify, template_answer, Intent};
use edgefuse_llm::{Engine, EngineOptions, GenerateRequest, Message, Sampling};
use serde::Serialize;
use std::path::PathBuf;

/// Requests longer than this many bytes are refused before they reach the model.
pub const MAX_REQUEST_BYTES: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AnswerSource {
    /// The model's greedy answer passed the checker.
    Llm,
    /// One of the sampled candidates passed (the greedy one did not).
    LlmBestOfN,
    /// No candidate passed: the deterministic answer.
    Template,
    /// The request was refused (empty, too long, not text).
    Refused,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub text: String,
    pub source: AnswerSource,
    pub intent: Option<Intent>,
    /// The checker's verdict on the answer given (templates are checked too).
    pub check: Option<CheckReport>,
    /// Candidates tried and why each failed.
    pub rejected: Vec<(String, Vec<String>)>,
}

/// The answer without the model: the template (or the refusal), checked. For when the model
/// cannot be loaded.
pub fn template_only(request: &[u8], facts: &FactSheet, warning: Option<&str>) -> Answer {
    match Responder::validate(request) {
        Err((said, detail)) => Answer {
            text: format!("Sorry, I cannot take that request: {said}."),
            source: AnswerSource::Refused,
            intent: None,
            check: None,
            rejected: vec![(String::new(), vec![detail])],
        },
        Ok(question) => {
            let intent = classify(question);
            let text = template_answer(intent, facts, warning);
            let report = check(&text, facts);
            Answer {
                text,
                source: AnswerSource::Template,
                intent: Some(intent),
                check: Some(report),
                rejected: Vec::new(),
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResponderOptions {
    pub model: PathBuf,
    pub engine: EngineOptions,
    /// Candidates besides the greedy one, decoded together.
    pub candidates: usize,
    pub max_new_tokens: usize,
}

pub struct Responder {
    options: ResponderOptions,
    engine: Option<Engine>,
}

const SYSTEM: &str = "You are the voice of a car's driver assistant. Say the given answer to the driver in one short, friendly sentence. Keep every number, side and object exactly as given. Add nothing else.";

impl Responder {
    pub fn new(options: ResponderOptions) -> Self {
        Self {
            options,
            engine: None,
        }
    }

    /// Whether weights are held.
    pub fn is_awake(&self) -> bool {
        self.engine.as_ref().is_some_and(Engine::holds_weights)
    }

    /// Load the engine (a request, a hazard or a health finding woke the HMI).
    pub fn wake(&mut self) -> Result<&mut Engine, edgefuse_llm::LlmError> {
        if self.engine.is_none() {
            self.engine = Some(Engine::load(&self.options.model, &self.options.engine)?);
        }
        match self.engine.as_mut() {
            Some(e) => Ok(e),
            None => Err(edgefuse_llm::LlmError::Loader(
                "the engine did not load".into(),
            )),
        }
    }

    /// Give every weight back. The tokenizer and the cached system-prompt keys and values
    /// (about a megabyte) stay, so the next wake only maps the layers again.
    pub fn sleep(&mut self) {
        if let Some(e) = self.engine.as_mut() {
            e.release_weights();
        }
    }

    /// Refuse what must not reach the model: the reason as it is said to the driver (with no
    /// figures, which the driver could take for facts) and the detail for the log.
    pub fn validate(request: &[u8]) -> Result<&str, (&'static str, String)> {
        let text = std::str::from_utf8(request)
            .map_err(|e| ("it is not text", format!("the request is not UTF-8 ({e})")))?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(("it is empty", "the request is empty".into()));
        }
        if trimmed.len() > MAX_REQUEST_BYTES {
            return Err((
                "it is too long",
                format!(
                    "the request is {} bytes long; at most {MAX_REQUEST_BYTES} are accepted",
                    trimmed.len()
                ),
            ));
        }
        Ok(trimmed)
    }

    /// Answer `request` from `facts`. `warning` is the last alert's reason, for "why did you
    /// warn me". `on_token` sees the greedy candidate's text as it is generated, before
    /// it is checked: for timing or a "thinking" cue, never to be said (only the returned
    /// answer is checked).
    pub fn answer(
        &mut self,
        request: &[u8],
        facts: &FactSheet,
        warning: Option<&str>,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Answer, edgefuse_llm::LlmError> {
        let question = match Self::validate(request) {
            Ok(q) => q.to_string(),
            Err((said, detail)) => {
                return Ok(Answer {
                    text: format!("Sorry, I cannot take that request: {said}."),
                    source: AnswerSource::Refused,
                    intent: None,
                    check: None,
                    rejected: vec![(String::new(), vec![detail])],
                })
            }
        };
        let intent = classify(&question);
        let template = template_answer(intent, facts, warning);
        let mut answer = self.phrase(template, facts, on_token)?;
        answer.intent = Some(intent);
        Ok(answer)
    }

    /// Several statements, each phrased by the model on its own and checked as an answer is
    /// (a short sentence is what a small model phrases best); each that fails is said as its
    /// template. Returns the joined text and its source: `Llm` when the model phrased every
    /// one, `Template` when none, else how many it phrased.
    pub fn phrase_each(
        &mut self,
        templates: &[String],
        facts: &FactSheet,
    ) -> Result<(String, String), edgefuse_llm::LlmError> {
        let mut parts = Vec::with_capacity(templates.len());
        let mut by_model = 0;
        for t in templates {
            let a = self.phrase(t.clone(), facts, &mut |_| {})?;
            by_model += usize::from(a.source != AnswerSource::Template);
            parts.push(a.text);
        }
        let source = match by_model {
            0 => "Template".to_string(),
            k if k == templates.len() => "Llm".to_string(),
            k => format!(
                "Llm for {k} of {} sentences, template for the others",
                templates.len()
            ),
        };
        Ok((parts.join(" "), source))
    }

    /// Says `template` in the model's words: the greedy phrasing if it passes the checker and
    /// covers the template, else the first of the sampled candidates that does, else the
    /// template itself. `on_token` sees the greedy text as it is generated.
    pub fn phrase(
        &mut self,
        template: String,
        facts: &FactSheet,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Answer, edgefuse_llm::LlmError> {
        let intent = None;
        let mut rejected = Vec::new();
        let candidates = self.options.candidates;
        let max_new_tokens = self.options.max_new_tokens;
        let engine = self.wake()?;
        // The model sees the answer to phrase, never the driver's words: a request that tries
        // to make it ignore its instructions has nothing to act on.
        let prompt = engine.chat_prompt(&[
            Message::new("system", SYSTEM),
            Message::new("user", &format!("Answer to say: {template}")),
        ])?;
        let greedy = GenerateRequest {
            max_new_tokens,
            sampling: Sampling::Greedy,
            n: 1,
            ignore_stop: false,
        };
        let (out, _) = engine.generate(&prompt, &greedy, &mut |ev| {
            if let Some(t) = ev.text {
                on_token(t);
            }
            true
        })?;
        let text = out
            .first()
            .map(|g| g.text.trim().to_string())
            .unwrap_or_default();
        let mut report = check(&text, facts);
        report.failures.extend(covers(&text, &template, facts));
        if report.passed() && !text.is_empty() {
            return Ok(Answer {
                text,
                source: AnswerSource::Llm,
                intent,
                check: Some(report),
                rejected,
            });
        }
        rejected.push((text, report.failures));
        if candidates > 0 {
            let sampled = GenerateRequest {
                max_new_tokens,
                sampling: Sampling::TopP {
                    temperature: 0.7,
                    top_p: 0.9,
                    seed: 1,
                },
                n: candidates,
                ignore_stop: false,
            };
            let (outs, _) = engine.generate(&prompt, &sampled, &mut |_| true)?;
            for g in outs {
                let text = g.text.trim().to_string();
                let mut report = check(&text, facts);
                report.failures.extend(covers(&text, &template, facts));
                if report.passed() && !text.is_empty() {
                    return Ok(Answer {
                        text,
                        source: AnswerSource::LlmBestOfN,
                        intent,
                        check: Some(report),
                        rejected,
                    });
                }
                rejected.push((text, report.failures));
            }
        }
        let report = check(&template, facts);
        Ok(Answer {
            text: template,
            source: AnswerSource::Template,
            intent,
            check: Some(report),
            rejected,
        })
    }
}
