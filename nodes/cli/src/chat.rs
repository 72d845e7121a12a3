//! `edgefuse chat`: talk to a running HMI node over its topics. Each line typed is published
//! on `/hmi/request`; the answer from `/hmi/response` is printed with its source, and alerts
//! from `/hmi/alert` are printed as they come.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use edgefuse_msgs::std_msgs::String as RosString;
use edgefuse_ros::dds::DdsTransport;
use edgefuse_ros::shutdown::Shutdown;
use edgefuse_ros::{Node, NodeArgs, Qos, Transport};

/// `edgefuse chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 30.0)]
    pub timeout_s: f64,
    /// ROS arguments (`--ros-args -r ...`), after `--`.
    #[arg(last = true)]
    pub ros_args: Vec<String>,
}

/// What a chat session saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatStats {
    /// Questions sent.
    pub asked: u64,
    /// Answers received.
    pub answered: u64,
    /// Questions that got no answer within the timeout.
    pub unanswered: u64,
    /// Alerts printed.
    pub alerts: u64,
}

fn field(json: &str, key: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get(key).and_then(|x| x.as_str()).map(str::to_string))
        .unwrap_or_else(|| json.to_string())
}

/// Reads questions from `input` until its end, prints answers and alerts to `out`.
pub fn chat(
    input: impl BufRead,
    out: &mut dyn Write,
    args: NodeArgs,
    transport: Arc<dyn Transport>,
    shutdown: &Shutdown,
    timeout: Duration,
) -> Result<ChatStats> {
    let mut node = Node::new(args, transport).context("starting the chat node")?;
    let request = node.advertise::<RosString>("/hmi/request", Qos::RELIABLE)?;
    let responses = node.subscribe::<RosString>("/hmi/response", Qos::RELIABLE)?;
    let alerts = node.subscribe::<RosString>("/hmi/alert", Qos::RELIABLE)?;
    let mut stats = ChatStats::default();
    // Let discovery match the publisher before the first question.
    std::thread::sleep(Duration::from_millis(300));
    for line in input.lines() {
        let question = line.context("reading a question")?;
        if question.trim().is_empty() {
            continue;
        }
        if shutdown.requested() {
            break;
        }
        request.publish(&RosString {
            data: question.clone(),
        })?;
        stats.asked += 1;
        let deadline = Instant::now() + timeout;
        let mut answered = false;
        while !answered && Instant::now() < deadline && !shutdown.requested() {
            let Some(d) = node.recv(Duration::from_millis(50))? else {
                continue;
            };
            if alerts.is(&d) {
                if let Some(a) = node.decode(alerts, &d) {
                    writeln!(out, "[alert] {}", field(&a.data, "text"))?;
                    stats.alerts += 1;
                }
            } else if responses.is(&d) {
                if let Some(r) = node.decode(responses, &d) {
                    let value: serde_json::Value =
                        serde_json::from_str(&r.data).unwrap_or_default();
                    // Answers to other clients' questions are not ours.
                    if value.get("request").and_then(|q| q.as_str()) == Some(question.as_str()) {
                        writeln!(
                            out,
                            "{} [{}]",
                            field(&r.data, "text"),
                            field(&r.data, "source")
                        )?;
                        stats.answered += 1;
                        answered = true;
                    }
                }
            }
        }
        if !answered {
            writeln!(
                out,
                "(no answer within {:.0} s: is hmi_node running?)",
                timeout.as_secs_f64()
            )?;
            stats.unanswered += 1;
        }
        out.flush()?;
    }
    Ok(stats)
}

/// Runs `edgefuse chat` on stdin and stdout over DDS.
pub fn run(a: ChatArgs) -> Result<()> {
    let args = NodeArgs::parse("chat", a.ros_args.clone()).context("reading ROS arguments")?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let transport = DdsTransport::for_node(&args).context("joining DDS")?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    chat(
        stdin.lock(),
        &mut stdout,
        args,
        Arc::new(transport),
        &shutdown,
        Duration::from_secs_f64(a.timeout_s),
    )?;
    Ok(())
}
