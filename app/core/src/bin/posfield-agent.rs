//! `posfield-agent`: the agent's actions from the command line, over the
//! same `Agent` facade the app uses. Every subcommand is one user action.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use posfield_core::agent::PhotoIdentified;
use posfield_core::background::{BackgroundSync, Schedule, SyncEvent};
use posfield_core::identify::barcode;
use posfield_core::network::{Connection, Reported};
use posfield_core::photo::{self, PhotoLimits};
use posfield_core::signature::Strokes;
use posfield_core::{Agent, KeyFile, VisitFilter};
use posfield_shared::visit::schema::{MarkPoint, MarkShape, StepState};
use posfield_shared::visit::{MerchantInput, SimInput};
use posfield_shared::vocab::{
    BackupItem, DocumentKind, RepairPlan, SimAction, SimCarrier, SuspensionCause, Term, WarrantyStatus,
};
use posfield_shared::{BlobHash, CalendarDate, FaultCode, Remedy, VisitId, VisitKind, VisitStatus};

#[derive(Parser)]
#[command(
    name = "posfield-agent",
    version,
    about = "The Posfield field agent's actions, offline, from the command line"
)]
struct Cli {
    /// The agent's data folder (store and photos).
    #[arg(long, env = "POSFIELD_AGENT_DATA", default_value = "posfield-agent-data", global = true)]
    data: PathBuf,
    /// The file holding the data folder's key (owner-only); by default
    /// `<data>.key`, beside the folder.
    #[arg(long, env = "POSFIELD_AGENT_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enrols this phone with a server using a one-time code from
    /// `posfield-server enroll-agent`, and signs that agent in: either an
    /// enrolment link alone (posfield://HOST[:PORT]/CODE?pin=sha256/...) or
    /// a server address and a code.
    Enroll {
        /// An enrolment link, or a server address (https://..., or
        /// http://127.0.0.1:PORT on this machine).
        server: String,
        /// The enrolment code, when the first argument is a server address.
        code: Option<String>,
        /// A name for the phone, shown at the back office.
        #[arg(long, default_value = "posfield-agent")]
        device_name: String,
    },
    /// Runs one full sync with the server; exits 0 only when every visit and
    /// photo is on the server, or (photos on Wi-Fi only, `--network
    /// cellular`) every visit with its photos left for Wi-Fi, which the
    /// report counts. Progress goes to stderr, the report, with the bytes it
    /// used, to stdout.
    Sync {
        /// The network the phone is on: wifi, cellular or unknown (a desktop
        /// cannot tell; photos then go).
        #[arg(long, default_value = "unknown", value_parser = parse_connection)]
        network: Connection,
    },
    /// Runs the background sync, printing its events as JSON lines: syncs
    /// at once when work is waiting, retries with a growing delay while the
    /// server cannot be reached.
    SyncLoop {
        /// Exit 0 after the first sync that finishes everything.
        #[arg(long)]
        until_synced: bool,
        /// Exit 1 after this many failed syncs in a row.
        #[arg(long)]
        max_failures: Option<u32>,
        /// Delay after the first failure, in milliseconds.
        #[arg(long, default_value_t = 5_000)]
        first_retry_ms: u64,
        /// Longest delay between retries, in milliseconds.
        #[arg(long, default_value_t = 600_000)]
        max_retry_ms: u64,
        /// The network the phone is on: wifi, cellular or unknown.
        #[arg(long, default_value = "unknown", value_parser = parse_connection)]
        network: Connection,
    },
    /// Photos and signature images wait for Wi-Fi while the phone is on
    /// mobile data (`on`), or go on any network (`off`, the default); the
    /// visit documents go at once either way.
    PhotosOnWifiOnly {
        /// on or off
        #[arg(value_parser = parse_on_off, action = clap::ArgAction::Set)]
        choice: bool,
    },
    /// Prints the data the syncs used, per visit and in all, as JSON
    /// (bodies and websocket messages; not HTTP headers or TLS).
    DataUsage,
    /// Prints where this phone's sync stands, as JSON.
    SyncStatus,
    /// Signs an agent in on this device.
    SignIn { user: String },
    /// Signs out; unsynced visits stay on the device.
    SignOut,
    /// Creates a visit and prints its id.
    Create {
        /// installation, replacement, repair, reactivation, deregistration, sim_renewal, inspection
        #[arg(long)]
        kind: String,
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        merchant_number: Option<String>,
        #[arg(long)]
        terminal_number: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        address: Option<String>,
    },
    /// Identifies the terminal by typed serial, label photo or NFC dump.
    Identify {
        visit: VisitId,
        #[arg(long, conflicts_with_all = ["photo", "ndef"])]
        serial: Option<String>,
        #[arg(long, conflicts_with = "ndef")]
        photo: Option<PathBuf>,
        /// With --photo: the serial chosen among the photo's candidates when
        /// the label does not say which code is the serial.
        #[arg(long, requires = "photo")]
        choose: Option<String>,
        /// A file holding the raw NDEF message bytes.
        #[arg(long, requires = "uid")]
        ndef: Option<PathBuf>,
        /// The tag UID in hex.
        #[arg(long)]
        uid: Option<String>,
        /// Record the new (replacement) terminal instead of the visited one.
        #[arg(long)]
        replacement: bool,
    },
    /// Sets a checklist step: done, skipped (with --reason) or n/a.
    Step {
        visit: VisitId,
        step: String,
        state: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Records a fault and prints its id.
    Fault {
        visit: VisitId,
        code: String,
        #[arg(long)]
        symptom: Option<String>,
    },
    /// Records what was tried against a fault.
    Attempt {
        visit: VisitId,
        fault: String,
        #[arg(long)]
        remedy: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        fixed: bool,
    },
    /// Resolves a fault.
    Resolve {
        visit: VisitId,
        fault: String,
        #[arg(long)]
        fixed: bool,
        #[arg(long)]
        note: Option<String>,
    },
    /// Attaches a document photo of a kind (business_licence, id_card, bank_card, ...).
    Photo { visit: VisitId, kind: String, file: PathBuf },
    /// Draws a mark over a photo: arrow, circle or text; points are
    /// `x,y` in thousandths of the photo.
    Mark {
        visit: VisitId,
        photo: BlobHash,
        shape: String,
        from: String,
        to: String,
        /// A text mark's words.
        #[arg(long)]
        text: Option<String>,
    },
    /// Records the SIM data card.
    Sim {
        visit: VisitId,
        #[arg(long)]
        iccid: String,
        /// china_mobile, china_unicom, china_telecom
        #[arg(long)]
        carrier: String,
        /// YYYY-MM-DD
        #[arg(long)]
        expiry: String,
    },
    /// Records what was done about the SIM card: renewed, replaced, shared_plan.
    SimAction {
        visit: VisitId,
        action: String,
        #[arg(long)]
        new_iccid: Option<String>,
        #[arg(long)]
        new_expiry: Option<String>,
    },
    /// Confirms the data backup: daily_settlement_reports, transaction_records, settlement_slips.
    Backup {
        visit: VisitId,
        #[arg(required = true)]
        items: Vec<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Records the warranty status (in_warranty, out_of_warranty, human_damage, lost).
    Warranty { visit: VisitId, status: String },
    /// Records the repair plan (fixed_on_site, sent_for_repair, replaced).
    Plan { visit: VisitId, plan: String },
    /// Records the agreed repair fee in fen.
    Fee { visit: VisitId, fen: u64 },
    /// Records the suspension cause.
    Cause { visit: VisitId, cause: String },
    /// Submits the reactivation application.
    Apply { visit: VisitId },
    /// Adds a note.
    Note { visit: VisitId, text: String },
    /// The merchant signs, from a strokes JSON file {"width","height","strokes":[[{"x","y","t","p"}]]}.
    Sign {
        visit: VisitId,
        #[arg(long)]
        signer: String,
        #[arg(long)]
        strokes: PathBuf,
    },
    /// Verifies the visit's signature; exit 1 when something changed.
    Verify { visit: VisitId },
    /// Lists what is missing before completion.
    Missing { visit: VisitId },
    /// Completes the visit.
    Complete { visit: VisitId },
    /// Lists visits, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        unsynced: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only the visits whose follow-up check is on this day (YYYY-MM-DD).
        #[arg(long)]
        follow_up_on: Option<String>,
    },
    /// Prints a visit as JSON.
    Show { visit: VisitId },
    /// Prints every barcode in an image, one JSON object per line.
    DecodeBarcodes { image: PathBuf },
    /// Prints the terminal serial read from a label photo. When the label
    /// does not say which code is the serial, prints the candidates (one
    /// JSON object a line) and exits with status 3.
    ScanSerial {
        image: PathBuf,
        /// The serial the visit expects (the dispatch's); repeatable.
        #[arg(long = "expect")]
        expected: Vec<String>,
    },
    /// Writes the normalized JPEG of a document photo and prints its width, height and bytes.
    NormalizePhoto { input: PathBuf, output: PathBuf },
}

fn term<T: Term>(what: &str, code: &str) -> Result<T> {
    T::from_code(code).ok_or_else(|| {
        let known: Vec<&str> = T::ALL.iter().map(|t| t.code()).collect();
        anyhow!("unknown {what} {code:?}; one of: {}", known.join(", "))
    })
}

/// The exit status of `scan-serial` and `identify --photo` when the label
/// does not say which code is the serial.
const UNSURE: u8 = 3;

/// Why a label photo's answer is not sure, in words.
fn unsure_words(evidence: &barcode::Evidence) -> String {
    match evidence {
        barcode::Evidence::NotExpected { expected } => format!(
            "the serial the visit expects ({}) is not on the label, but another is: possibly the wrong terminal",
            expected.join(", ")
        ),
        barcode::Evidence::Several => "the label holds several serials".to_owned(),
        barcode::Evidence::UnknownFormat => "the serial is in no known maker's format".to_owned(),
        barcode::Evidence::Incomplete => {
            "the reading stopped before it tried everything, so the serial's code may be unread".to_owned()
        }
        sure => format!("sure ({sure:?})"),
    }
}

/// Says why the label's answer is not sure and what to do, prints the
/// candidates one JSON object a line, and exits with [`UNSURE`].
fn unsure(evidence: &barcode::Evidence, candidates: &[barcode::Candidate], next: &str) -> Result<ExitCode> {
    eprintln!("posfield-agent: {}; {next}", unsure_words(evidence));
    for candidate in candidates {
        let line = serde_json::json!({
            "serial": candidate.serial,
            "format": candidate.symbol.format,
            "text": candidate.symbol.text,
            "maker": candidate.maker,
        });
        println!("{line}");
    }
    Ok(ExitCode::from(UNSURE))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("posfield-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A network named on the command line.
fn parse_connection(code: &str) -> Result<Connection, String> {
    Connection::from_code(code).ok_or_else(|| format!("{code:?} is not wifi, cellular or unknown"))
}

fn parse_on_off(word: &str) -> Result<bool, String> {
    match word {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{word:?} is not on or off")),
    }
}

/// The network given, as the syncs' source.
fn reported(network: Connection) -> Arc<Reported> {
    let reported = Arc::new(Reported::new());
    reported.set(network);
    reported
}

fn run(cli: Cli) -> Result<ExitCode> {
    // The three capture commands work without a data folder.
    match &cli.command {
        Command::DecodeBarcodes { image } => {
            let symbols = barcode::decode_symbols(&read(image)?, &barcode::DecodeOptions::default())?;
            if symbols.is_empty() {
                bail!("no barcode found in {}", image.display());
            }
            for symbol in symbols {
                println!("{}", serde_json::json!({ "format": symbol.format, "text": symbol.text }));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::ScanSerial { image, expected } => {
            for serial in expected {
                posfield_shared::validate::serial(serial).with_context(|| format!("--expect {serial:?}"))?;
            }
            let answer = barcode::scan_serial(&read(image)?, &barcode::DecodeOptions::default(), expected)?;
            if let Some(serial) = &answer.serial {
                println!("{serial}");
                return Ok(ExitCode::SUCCESS);
            }
            return unsure(&answer.evidence, &answer.candidates, "the candidates follow, choose one");
        }
        Command::NormalizePhoto { input, output } => {
            let photo = photo::normalize_photo(&read(input)?, &PhotoLimits::default())?;
            std::fs::write(output, &photo.jpeg)
                .with_context(|| format!("cannot write {}", output.display()))?;
            println!("{} {} {}", photo.width, photo.height, photo.jpeg.len());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let keys = match &cli.key_file {
        Some(path) => KeyFile::at(path),
        None => KeyFile::beside(&cli.data),
    };
    let mut agent = Agent::open(&cli.data, Arc::new(keys))
        .with_context(|| format!("cannot open {}", cli.data.display()))?;
    match cli.command {
        Command::SignIn { user } => agent.sign_in(&user)?,
        Command::SignOut => {
            let report = agent.sign_out()?;
            println!("signed out; {} visits not yet synced stay on this device", report.unsynced_visits);
        }
        Command::Create { kind, merchant, merchant_number, terminal_number, phone, address } => {
            let merchant = MerchantInput {
                name: merchant,
                merchant_number,
                terminal_number,
                phone,
                address,
                location: None,
            };
            let row = agent.create_visit(term::<VisitKind>("visit kind", &kind)?, &merchant)?;
            println!("{}", row.id);
        }
        Command::Identify { visit, serial, photo, choose, ndef, uid, replacement } => {
            let found = match (serial, photo, ndef) {
                (Some(serial), _, _) => agent.identify_typed(&visit, &serial, replacement)?,
                (_, Some(photo), _) => match agent.identify_photo(&visit, &read(&photo)?, replacement)? {
                    PhotoIdentified::Recorded(found) => found,
                    PhotoIdentified::Choose(choice) => match choose {
                        Some(serial) => {
                            agent.identify_photo_choice(&visit, &choice.photo, &serial, replacement)?
                        }
                        None => {
                            let next = "nothing recorded: run again with --choose SERIAL";
                            return unsure(&choice.evidence, &choice.candidates, next);
                        }
                    },
                },
                (_, _, Some(ndef)) => {
                    let uid = hex::decode(uid.unwrap_or_default().replace([':', ' '], ""))
                        .context("the tag UID must be hex")?;
                    agent.identify_nfc(&visit, &read(&ndef)?, &uid, replacement)?
                }
                _ => bail!("give --serial, --photo or --ndef with --uid"),
            };
            print_json(&found)?;
        }
        Command::Step { visit, step, state, reason, note } => {
            let state = match state.as_str() {
                "done" => StepState::Done,
                "skipped" => StepState::Skipped,
                "n/a" | "na" | "not_applicable" => StepState::NotApplicable,
                "pending" => StepState::Pending,
                other => bail!("unknown step state {other:?}; one of: done, skipped, n/a, pending"),
            };
            agent.set_step(&visit, &step, state, reason.as_deref(), note.as_deref())?;
        }
        Command::Fault { visit, code, symptom } => {
            println!("{}", agent.add_fault(&visit, term::<FaultCode>("fault", &code)?, symptom.as_deref())?);
        }
        Command::Attempt { visit, fault, remedy, description, fixed } => {
            let remedy = remedy.map(|r| term::<Remedy>("remedy", &r)).transpose()?;
            agent.add_attempt(&visit, &fault, remedy, description.as_deref(), fixed)?;
        }
        Command::Resolve { visit, fault, fixed, note } => {
            agent.resolve_fault(&visit, &fault, fixed, note.as_deref())?;
        }
        Command::Photo { visit, kind, file } => {
            let info =
                agent.add_photo(&visit, &read(&file)?, term::<DocumentKind>("document kind", &kind)?)?;
            println!("{} {}x{} {} bytes", info.sha256, info.width, info.height, info.bytes);
        }
        Command::Mark { visit, photo, shape, from, to, text } => {
            let point = |text: &str| -> Result<MarkPoint> {
                let (x, y) = text.split_once(',').ok_or_else(|| anyhow!("a point is x,y: {text:?}"))?;
                Ok(MarkPoint { x: x.trim().parse()?, y: y.trim().parse()? })
            };
            let shape = term::<MarkShape>("mark shape", &shape)?;
            let visit = agent.annotate(&visit, &photo, shape, point(&from)?, point(&to)?, text.as_deref())?;
            println!("{}", visit.annotations.last().map(|m| m.id.as_str()).unwrap_or_default());
        }
        Command::Sim { visit, iccid, carrier, expiry } => {
            let sim = SimInput {
                iccid,
                carrier: term::<SimCarrier>("carrier", &carrier)?,
                expiry: CalendarDate::parse(&expiry)?,
            };
            agent.set_sim(&visit, &sim)?;
        }
        Command::SimAction { visit, action, new_iccid, new_expiry } => {
            let expiry = new_expiry.map(|e| CalendarDate::parse(&e)).transpose()?;
            agent.set_sim_action(
                &visit,
                term::<SimAction>("SIM action", &action)?,
                new_iccid.as_deref(),
                expiry,
            )?;
        }
        Command::Backup { visit, items, note } => {
            let items: Vec<BackupItem> =
                items.iter().map(|i| term::<BackupItem>("backup item", i)).collect::<Result<_>>()?;
            agent.confirm_backup(&visit, &items, note.as_deref())?;
        }
        Command::Warranty { visit, status } => {
            agent.set_warranty(&visit, term::<WarrantyStatus>("warranty status", &status)?)?;
        }
        Command::Plan { visit, plan } => {
            agent.set_repair_plan(&visit, term::<RepairPlan>("repair plan", &plan)?)?;
        }
        Command::Fee { visit, fen } => {
            agent.set_repair_fee(&visit, fen)?;
        }
        Command::Cause { visit, cause } => {
            agent.set_suspension_cause(&visit, term::<SuspensionCause>("suspension cause", &cause)?)?;
        }
        Command::Apply { visit } => {
            agent.submit_application(&visit)?;
        }
        Command::Note { visit, text } => {
            agent.add_note(&visit, &text)?;
        }
        Command::Sign { visit, signer, strokes } => {
            let strokes: Strokes =
                serde_json::from_slice(&read(&strokes)?).context("the strokes file is not valid JSON")?;
            let visit = agent.sign(&visit, &signer, &strokes)?;
            if let Some(acceptance) = visit.acceptance {
                println!("{}", acceptance.content_hash);
            }
        }
        Command::Verify { visit } => {
            let problems = agent.verify_signature(&visit)?;
            print_json(&problems)?;
            if !problems.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Missing { visit } => {
            for (_, words) in agent.missing(&visit)? {
                println!("{words}");
            }
        }
        Command::Complete { visit } => {
            agent.complete(&visit)?;
        }
        Command::List { status, unsynced, limit, follow_up_on } => {
            let status = status.map(|s| term::<VisitStatus>("visit status", &s)).transpose()?;
            let follow_up_on = follow_up_on.as_deref().map(CalendarDate::parse).transpose()?;
            let filter = VisitFilter {
                status,
                unsynced_only: unsynced,
                limit: Some(limit),
                before: None,
                follow_up_on,
            };
            for row in agent.list_visits(&filter)? {
                println!("{}", serde_json::to_string(&row)?);
            }
        }
        Command::Show { visit } => print_json(&agent.visit(&visit)?)?,
        Command::Enroll { server, code, device_name } => {
            let enrolled = match code {
                Some(code) => agent.enroll(&server, &code, &device_name)?,
                None => agent.enroll_link(&server, &device_name)?,
            };
            println!("{}", serde_json::json!({ "agent": enrolled.agent, "device_id": enrolled.device_id }));
        }
        Command::Sync { network } => {
            agent.use_connection_source(reported(network));
            let report = agent.sync(&mut |p| {
                eprintln!(
                    "sync: {:?} visits {}/{} bytes {}/{}",
                    p.phase, p.docs_done, p.docs_total, p.bytes_done, p.bytes_total
                );
            })?;
            print_json(&report)?;
        }
        Command::SyncStatus => print_json(&agent.sync_status()?)?,
        Command::PhotosOnWifiOnly { choice } => agent.set_photos_on_wifi_only(choice)?,
        Command::DataUsage => print_json(&agent.data_usage()?)?,
        Command::SyncLoop { until_synced, max_failures, first_retry_ms, max_retry_ms, network } => {
            let schedule = Schedule {
                first_retry: Duration::from_millis(first_retry_ms),
                max_retry: Duration::from_millis(max_retry_ms),
                ..Schedule::default()
            };
            let (events, inbox) = std::sync::mpsc::channel();
            let worker = BackgroundSync::start_with_connection(
                agent.data_dir().to_owned(),
                agent.keystore(),
                schedule,
                reported(network),
                move |event| {
                    let _ = events.send(event);
                },
            )?;
            worker.sync_now();
            for event in inbox {
                println!("{}", serde_json::to_string(&event)?);
                match event {
                    SyncEvent::Synced { .. } if until_synced => break,
                    SyncEvent::Failed { failures, retry_in_ms, .. }
                        if retry_in_ms.is_none() || max_failures.is_some_and(|max| failures >= max) =>
                    {
                        return Ok(ExitCode::FAILURE);
                    }
                    _ => {}
                }
            }
            worker.stop();
        }
        Command::DecodeBarcodes { .. } | Command::ScanSerial { .. } | Command::NormalizePhoto { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}
