//! `posfield-server serve --demo`: fills an empty data folder with a
//! living fleet, so a newcomer sees a real back office at once.
//!
//! Nothing here writes the projection tables by hand: agents are enrolled
//! with device keys, every visit is a real visit document built with the
//! domain's operations (agents' edits stamped by agents, reviews by a
//! reviewer, application decisions by an administrator), acceptances are
//! signed by the agent's device key, and photos and signatures are stored
//! as verified blobs. The documents then go through the same path as a
//! visit created at the back office, which projects them.
//!
//! Everything is drawn from a fixed seed, so two demo folders are alike.

use std::collections::BTreeMap;
use std::io::Cursor;

use ed25519_dalek::SigningKey;
use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use posfield_shared::checklist::{Need, Requirement};
use posfield_shared::lifecycle::TerminalState;
use posfield_shared::visit::acceptance::{AcceptanceSummary, sign_binding};
use posfield_shared::visit::completion::applies;
use posfield_shared::visit::outcome::{Registered, application_approved, application_plan, register_plan};
use posfield_shared::visit::satisfy::{self, Choices, Evidence, Identification};
use posfield_shared::visit::schema::{ReviewDecision, StepState};
use posfield_shared::visit::{
    BlobInfo, Ctx, MerchantInput, Schedule, SignatureInput, SimInput, TerminalDetails, Visit, VisitDoc,
    VisitError,
};
use posfield_shared::vocab::{
    DocumentKind, IdentificationMethod, NetworkLink, RepairPlan, SimCarrier, SuspensionCause, Term,
    WarrantyStatus,
};
use posfield_shared::{Actor, CalendarDate, FaultCode, TimeOfDay, Timestamp, VisitKind};
use sha2::{Digest, Sha256};

use crate::State;
use crate::store::{RegisterCause, RegisterWrite, StoreError};

/// What the demo put in the data folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Agents enrolled.
    pub agents: usize,
    /// Terminals registered.
    pub terminals: usize,
    /// Visits created.
    pub visits: usize,
    /// Blobs stored.
    pub blobs: usize,
}

/// Why the demo could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] StoreError),
    /// Enrolling a demo agent failed.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// A domain operation refused (a bug in the demo script).
    #[error("demo visit {step}: {error}")]
    Visit {
        /// What the demo was doing.
        step: String,
        /// The refusal.
        error: VisitError,
    },
    /// Storing a document or a blob failed.
    #[error("storing the demo failed: {0}")]
    Store(String),
}

/// A small deterministic generator (xorshift64*): the demo needs variety,
/// not secrecy.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The demo agents (业务员).
pub const AGENTS: &[&str] = &["agent-demo", "wang.wei", "li.na", "zhang.min", "liu.yang", "chen.jie"];

const SHOPS: &[&str] = &[
    "老王便利店",
    "李记面馆",
    "张姐水果店",
    "好又多超市",
    "鑫源五金店",
    "福满楼酒家",
    "小丁烟酒行",
    "阳光药房",
    "美佳美发店",
    "顺风快递驿站",
    "金凤凰服装店",
    "大众餐厅",
    "聚鲜生鲜超市",
    "明亮眼镜店",
    "四季花店",
    "天天洗衣店",
    "老北京炸酱面",
    "川味小厨",
    "宏达数码城",
    "和平书店",
    "康乐母婴店",
    "一品茶庄",
    "兴旺粮油店",
    "红星电器",
    "春风文具店",
    "喜乐蛋糕房",
    "永和豆浆",
    "家家乐超市",
    "蓝天网吧",
    "百姓大药房",
    "黄记烧腊",
    "东方宠物店",
    "悦来客栈",
    "新华鞋店",
    "万家灯饰",
    "佳佳手机店",
    "绿源菜市",
    "金盛珠宝",
    "平安汽修",
    "月光咖啡馆",
];

const STREETS: &[&str] =
    &["人民路", "解放路", "中山路", "建设路", "和平街", "文化路", "新华路", "长江路", "黄河路"];
const CITIES: &[&str] =
    &["上海市浦东新区", "杭州市西湖区", "南京市鼓楼区", "苏州市姑苏区", "合肥市蜀山区", "宁波市海曙区"];

const MODELS: &[(&str, &str, &str)] = &[
    ("新大陆", "ME31", "NL"),
    ("新大陆", "N910", "NL"),
    ("联迪", "A8", "LD"),
    ("联迪", "E550", "LD"),
    ("百富", "A920", "PX"),
    ("百富", "S910", "PX"),
    ("惠尔丰", "VX520", "VF"),
];

struct Merchant {
    name: String,
    number: String,
    phone: String,
    address: String,
}

struct Terminal {
    serial: String,
    /// The label's manufacturer, model and production date.
    maker: &'static str,
    model: &'static str,
    produced: CalendarDate,
    merchant: usize,
    iccid: String,
    carrier: SimCarrier,
    sim_expiry: CalendarDate,
}

fn luhn_completed(payload: &str) -> String {
    format!("{payload}{}", posfield_shared::validate::luhn_digit(payload))
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A photographed document: paper with lines of "text", a stamp, a photo
/// box for ID cards, tinted by kind.
fn document_photo(kind: DocumentKind, variant: u32) -> Vec<u8> {
    let (w, h) = (800u32, 560u32);
    // Every kind and variant gets its own layout, so no two photos share a hash.
    let variant = variant * 16 + DocumentKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u32;
    let tint = match kind {
        DocumentKind::BusinessLicence => [250, 240, 215],
        DocumentKind::IdCard => [215, 232, 250],
        DocumentKind::BankCard => [205, 220, 245],
        DocumentKind::ServiceAgreement => [248, 248, 244],
        DocumentKind::PoliceReport => [245, 235, 235],
        DocumentKind::ScreenError => [40, 48, 60],
        DocumentKind::TerminalPhoto => [70, 70, 78],
        _ => [240, 244, 236],
    };
    let img = RgbImage::from_fn(w, h, |x, y| {
        let border = x < 40 || y < 40 || x >= w - 40 || y >= h - 40;
        if border {
            return Rgb([120 + (variant * 20 % 60) as u8, 110, 100]);
        }
        let line = (y - 40) / 36;
        let in_text = (y - 40) % 36 < 12 && x > 80 && x < 80 + 620 - ((line * 97 + variant * 31) % 260);
        let stamp = {
            let (dx, dy) = (x as i64 - 620, y as i64 - 400);
            let r2 = dx * dx + dy * dy;
            (3600..=4900).contains(&r2)
        };
        let photo_box = kind == DocumentKind::IdCard && (540..700).contains(&x) && (90..290).contains(&y);
        if stamp && kind != DocumentKind::ScreenError {
            Rgb([200, 40, 40])
        } else if photo_box {
            Rgb([150, 160, 175])
        } else if in_text {
            if tint[0] < 100 { Rgb([120, 230, 140]) } else { Rgb([60, 60, 70]) }
        } else {
            Rgb(tint)
        }
    });
    let mut out = Cursor::new(Vec::new());
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70);
    img.write_with_encoder(encoder).expect("an image in memory encodes");
    out.into_inner()
}

/// A merchant's handwritten-looking signature.
fn signature_image(variant: u32) -> Vec<u8> {
    let (w, h) = (600u32, 240u32);
    let mut img = GrayImage::from_pixel(w, h, Luma([255]));
    let phase = variant as f32 * 0.7;
    for step in 0..4000 {
        let t = step as f32 / 4000.0;
        let x = 40.0 + t * 520.0;
        let y =
            120.0 + (t * 18.0 + phase).sin() * 45.0 * (1.0 - t * 0.5) + (t * 47.0 + phase * 2.0).cos() * 18.0;
        for (dx, dy) in [(0i32, 0i32), (1, 0), (0, 1), (1, 1), (-1, 0), (0, -1)] {
            let (px, py) = (x as i32 + dx, y as i32 + dy);
            if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                img.put_pixel(px as u32, py as u32, Luma([20]));
            }
        }
    }
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("an image in memory encodes");
    out.into_inner()
}

/// Everything a demo visit needs from outside the document.
struct Kit {
    photos: BTreeMap<(DocumentKind, u32), (BlobInfo, Vec<u8>)>,
    signatures: Vec<(BlobInfo, Vec<u8>)>,
    /// The signature pad's strokes (hash, JSON), as the phone keeps them
    /// beside the image: stored like the images, so the demo's visits
    /// refer to no blob the server lacks.
    strokes: Vec<(String, Vec<u8>)>,
    keys: BTreeMap<String, SigningKey>,
}

fn blob_info(bytes: &[u8], mime: &str, width: u32, height: u32) -> BlobInfo {
    BlobInfo { sha256: sha_hex(bytes), mime: mime.into(), bytes: bytes.len() as u64, width, height }
}

impl Kit {
    fn new(keys: BTreeMap<String, SigningKey>) -> Kit {
        let mut photos = BTreeMap::new();
        for kind in DocumentKind::ALL {
            for variant in 0..2 {
                let bytes = document_photo(*kind, variant);
                photos.insert((*kind, variant), (blob_info(&bytes, "image/jpeg", 800, 560), bytes));
            }
        }
        let signatures = (0..12)
            .map(|v| {
                let bytes = signature_image(v);
                (blob_info(&bytes, "image/png", 600, 240), bytes)
            })
            .collect();
        let strokes = (0..12)
            .map(|v| {
                let bytes = signature_strokes(v);
                (sha_hex(&bytes), bytes)
            })
            .collect();
        Kit { photos, signatures, strokes, keys }
    }
}

/// The strokes of demo signature `variant`, in the phone's format (the pad's
/// size and each stroke's points with their time): two strokes along a
/// wave that differs by variant.
fn signature_strokes(variant: u32) -> Vec<u8> {
    let stroke = |first: u32, lift: f32| -> Vec<serde_json::Value> {
        (0..24)
            .map(|i| {
                let x = 40.0 + i as f32 * 10.0 + lift;
                let y = 120.0 + ((i + variant) as f32 * 0.6).sin() * (30.0 + variant as f32);
                serde_json::json!({ "x": x, "y": y.round(), "t": first + i * 16 })
            })
            .collect()
    };
    let strokes = serde_json::json!({
        "width": 600.0,
        "height": 240.0,
        "strokes": [stroke(0, 0.0), stroke(600, 280.0)],
    });
    strokes.to_string().into_bytes()
}

/// How far a demo visit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Draft,
    InProgress,
    Completed,
    Approved,
    Returned,
    Cancelled,
    /// A reactivation whose application waits for the back office.
    ApplicationWaiting,
    /// Signed, then a signed field changed: the signature no longer matches.
    SignatureBroken,
}

/// Builds visit documents with a moving clock.
struct Builder<'k> {
    kit: &'k Kit,
    dice: Dice,
    clock: i64,
    ops: u64,
    /// A new terminal's production date: before the oldest visit began.
    new_produced: CalendarDate,
    /// Today in Beijing: the drafts are planned around it.
    today: CalendarDate,
}

impl Builder<'_> {
    fn ctx(&mut self, actor: &Actor) -> Ctx {
        self.clock += 60_000 + self.dice.below(240_000) as i64;
        self.ops += 1;
        Ctx::new(actor.clone(), Timestamp(self.clock), format!("demo-op-{}", self.ops))
    }

    fn run(
        &mut self,
        step: &str,
        result: Result<posfield_shared::visit::Visit, VisitError>,
    ) -> Result<(), DemoError> {
        result.map(|_| ()).map_err(|error| DemoError::Visit { step: step.to_owned(), error })
    }

    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        id: &str,
        kind: VisitKind,
        stage: Stage,
        agent: &str,
        merchant: &Merchant,
        terminal: &Terminal,
        replacement_serial: &str,
        start_millis: i64,
        photo_missing: Option<&[u8]>,
    ) -> Result<VisitDoc, DemoError> {
        self.clock = start_millis;
        let device = format!("demo-phone-{agent}");
        let agent_actor = Actor::agent(agent, &device);
        let admin = Actor::admin("demo", "back-office");
        let reviewer = Actor::reviewer("chen.li", "back-office");
        let input = MerchantInput {
            name: merchant.name.clone(),
            merchant_number: Some(merchant.number.clone()),
            terminal_number: Some(format!("T{}", &terminal.serial[terminal.serial.len() - 7..])),
            phone: Some(merchant.phone.clone()),
            address: Some(merchant.address.clone()),
            location: None,
        };
        // Drafts and about a third of the others were assigned by the back office.
        let by_office = stage == Stage::Draft || self.dice.chance(30);
        let creator = if by_office { admin.clone() } else { agent_actor.clone() };
        let ctx = self.ctx(&creator);
        let actor_id =
            if by_office { crate::projection::SERVER_ACTOR_ID.to_vec() } else { device.as_bytes().to_vec() };
        let mut doc = VisitDoc::create_visit(&ctx, &actor_id, id, kind, &input, agent)
            .map_err(|error| DemoError::Visit { step: "create".into(), error })?;
        if stage == Stage::Draft {
            // The desk planned its drafts from yesterday (overdue) to the
            // day after tomorrow, some with the window the merchant asked for.
            let n = self.ops;
            let windows = [
                (None, None),
                (TimeOfDay::from_hm(9, 0), TimeOfDay::from_hm(12, 0)),
                (TimeOfDay::from_hm(14, 0), TimeOfDay::from_hm(17, 30)),
                (TimeOfDay::from_hm(10, 0), None),
            ];
            let (from, until) = windows[(n / 4 % 4) as usize];
            let day = self.today.add_days((n % 4) as i64 - 1);
            self.clock += 60_000;
            let ctx = Ctx::new(admin.clone(), Timestamp(self.clock), format!("demo-plan-{n}"));
            self.run("schedule", doc.schedule(&ctx, Some(Schedule { day, from, until })))?;
            doc.set_actor(device.as_bytes());
            return Ok(doc);
        }
        doc.set_actor(device.as_bytes());
        let template = kind.template();
        let edition = doc.visit().map_err(|e| DemoError::Store(e.to_string()))?.checklist_edition();
        let steps: Vec<_> = template.steps_in(edition).collect();
        let stop_at = match stage {
            Stage::InProgress | Stage::Cancelled => 1 + self.dice.below(steps.len() as u64 / 2 + 1) as usize,
            _ => steps.len(),
        };
        let mut site = OnSite {
            agent: &agent_actor,
            admin: &admin,
            terminal,
            replacement_serial,
            photo_variant: self.dice.below(2) as u32,
            stage,
            photo_missing,
        };
        let mut signed = false;
        for (n, step) in steps.iter().enumerate() {
            if n >= stop_at {
                break;
            }
            let current = doc.visit().map_err(|e| DemoError::Store(e.to_string()))?;
            if !applies(&current, step.when) {
                continue;
            }
            if step.requires.contains(&Requirement::Signature) && step.id.as_str() == "acceptance" {
                if matches!(stage, Stage::ApplicationWaiting) {
                    break;
                }
                // Signed by the requirement below, with the device's key.
                signed = true;
            }
            for requirement in step.requires_in(edition) {
                self.satisfy(&mut doc, &mut site, requirement)?;
                if stage == Stage::ApplicationWaiting && requirement == Requirement::ApplicationApproved {
                    return Ok(doc);
                }
            }
            let optional_skip =
                step.need == Need::Optional && step.skippable_in(edition) && self.dice.chance(25);
            let ctx = self.ctx(&agent_actor);
            let result = if optional_skip {
                doc.set_step(&ctx, step.id.as_str(), StepState::Skipped, Some("商户暂不需要"), None)
            } else {
                let note = self.dice.chance(15).then_some("已向商户说明");
                doc.set_step(&ctx, step.id.as_str(), StepState::Done, None, note)
            };
            self.run(step.id.as_str(), result)?;
        }
        match stage {
            Stage::Cancelled => {
                let ctx = self.ctx(&admin);
                self.run("cancel", doc.cancel(&ctx, "商户已关店"))?;
            }
            Stage::SignatureBroken => {
                if !signed {
                    self.satisfy(&mut doc, &mut site, Requirement::Signature)?;
                }
                let ctx = self.ctx(&agent_actor);
                self.run(
                    "change after signing",
                    doc.identify_terminal(
                        &ctx,
                        &format!("{}X", &terminal.serial[..terminal.serial.len() - 1]),
                        IdentificationMethod::Manual,
                        None,
                        false,
                    ),
                )?;
            }
            Stage::Completed | Stage::Approved | Stage::Returned => {
                let ctx = self.ctx(&agent_actor);
                self.run(&format!("complete {kind}"), doc.complete(&ctx))?;
                if stage != Stage::Completed {
                    let ctx = self.ctx(&reviewer);
                    let (decision, note) = match stage {
                        Stage::Approved => (ReviewDecision::Approve, None),
                        _ => (
                            ReviewDecision::Return,
                            Some(*self.dice.pick(&[
                                "营业执照照片模糊，请补拍",
                                "签字不清楚，请让商户重签",
                                "请补充交易测试备注",
                            ])),
                        ),
                    };
                    doc.set_actor(crate::projection::SERVER_ACTOR_ID);
                    self.run("review", doc.review(&ctx, decision, note))?;
                }
            }
            _ => {}
        }
        Ok(doc)
    }

    /// Does what `requirement` takes, by the domain's rule
    /// ([`satisfy::operations`]): the agent's operations stamped by the
    /// agent, the application's approval by an administrator, unless the
    /// stage leaves the application waiting.
    fn satisfy(
        &mut self,
        doc: &mut VisitDoc,
        site: &mut OnSite<'_>,
        requirement: Requirement,
    ) -> Result<(), DemoError> {
        let visit = doc.visit().map_err(|e| DemoError::Store(e.to_string()))?;
        let mut choices = DemoChoices {
            dice: &mut self.dice,
            terminal: site.terminal,
            replacement_serial: site.replacement_serial,
            new_produced: self.new_produced,
        };
        let operations = satisfy::operations(&visit, requirement, &mut choices);
        let kit = self.kit;
        let agent = site.agent;
        let key = kit
            .keys
            .get(&agent.user)
            .ok_or_else(|| DemoError::Store(format!("no key for {}", agent.user)))?;
        for operation in &operations {
            let back_office = operation.by_back_office();
            if back_office && site.stage == Stage::ApplicationWaiting {
                return Ok(());
            }
            let ctx = self.ctx(if back_office { site.admin } else { agent });
            if back_office {
                doc.set_actor(crate::projection::SERVER_ACTOR_ID);
            }
            let mut evidence = DemoEvidence {
                kit,
                dice: &mut self.dice,
                key,
                photo_variant: site.photo_variant,
                photo_missing: &mut site.photo_missing,
            };
            let result = satisfy::apply(doc, &ctx, operation, &mut evidence);
            if back_office {
                doc.set_actor(format!("demo-phone-{}", agent.user).as_bytes());
            }
            self.run(&format!("{requirement:?}"), result)?;
        }
        Ok(())
    }
}

/// One demo visit on site: who works on it, on which terminal, and how far
/// it gets.
struct OnSite<'v> {
    agent: &'v Actor,
    admin: &'v Actor,
    terminal: &'v Terminal,
    replacement_serial: &'v str,
    /// Which of the kit's two photos of each kind the visit uses.
    photo_variant: u32,
    stage: Stage,
    /// The bytes of a photo that never reaches the server, until the
    /// visit's first photo takes it.
    photo_missing: Option<&'v [u8]>,
}

/// The demo's answers to what a visit leaves free, drawn from its dice.
struct DemoChoices<'a> {
    dice: &'a mut Dice,
    terminal: &'a Terminal,
    replacement_serial: &'a str,
    /// A new terminal's production date.
    new_produced: CalendarDate,
}

impl Choices for DemoChoices<'_> {
    fn terminal(&mut self) -> Identification {
        let method = *self.dice.pick(&[
            IdentificationMethod::Nfc,
            IdentificationMethod::Photo,
            IdentificationMethod::Manual,
        ]);
        Identification { serial: self.terminal.serial.clone(), method, evidence: None }
    }

    fn replacement(&mut self) -> Identification {
        Identification {
            serial: self.replacement_serial.to_owned(),
            method: IdentificationMethod::Photo,
            evidence: None,
        }
    }

    fn sim(&mut self) -> SimInput {
        SimInput {
            iccid: self.terminal.iccid.clone(),
            carrier: self.terminal.carrier,
            expiry: self.terminal.sim_expiry,
        }
    }

    fn backup_note(&mut self) -> Option<String> {
        Some("已导出至U盘".into())
    }

    fn fault(&mut self) -> (FaultCode, Option<String>) {
        let code = *self.dice.pick(&[
            FaultCode::PrinterFault,
            FaultCode::ScreenBroken,
            FaultCode::KeypadUnresponsive,
            FaultCode::BatteryFault,
            FaultCode::CardReaderFault,
            FaultCode::CannotConnect,
            FaultCode::SystemCrash,
            FaultCode::TransactionFailure,
        ]);
        let symptom = *self.dice.pick(&["打印空白", "开机黑屏", "刷卡无反应", "交易提示超时", "按键失灵"]);
        (code, Some(symptom.to_owned()))
    }

    fn remedies_tried(&mut self, recommended: usize) -> usize {
        recommended.min(1 + self.dice.below(2) as usize)
    }

    fn attempt_note(&mut self) -> Option<String> {
        None
    }

    fn fixed_on_site(&mut self) -> bool {
        self.dice.chance(70)
    }

    fn resolution_note(&mut self) -> Option<String> {
        None
    }

    fn warranty(&mut self) -> WarrantyStatus {
        *self.dice.pick(&[
            WarrantyStatus::InWarranty,
            WarrantyStatus::InWarranty,
            WarrantyStatus::OutOfWarranty,
            WarrantyStatus::HumanDamage,
        ])
    }

    fn repair_plan(&mut self) -> RepairPlan {
        *self.dice.pick(RepairPlan::ALL)
    }

    fn repair_fee(&mut self) -> u64 {
        5_000 + self.dice.below(30) * 1_000
    }

    fn suspension_cause(&mut self) -> SuspensionCause {
        *self.dice.pick(SuspensionCause::ALL)
    }

    fn details(&mut self, replacement: bool) -> TerminalDetails {
        if replacement {
            // The new terminal: this year's model, produced before the
            // oldest demo visit began.
            TerminalDetails {
                model: "N910".into(),
                manufacturer: Some("新大陆".into()),
                production_date: self.terminal.produced.max(self.new_produced),
            }
        } else {
            TerminalDetails {
                model: self.terminal.model.into(),
                manufacturer: Some(self.terminal.maker.into()),
                production_date: self.terminal.produced,
            }
        }
    }

    fn terminal_number(&mut self) -> String {
        format!("{:08}", 10_000_000 + self.dice.below(89_999_999))
    }

    fn network_link(&mut self) -> NetworkLink {
        *self.dice.pick(&[NetworkLink::Mobile, NetworkLink::Mobile, NetworkLink::Wifi])
    }

    fn backup_declined(&mut self) -> Option<Option<String>> {
        self.dice.chance(15).then(|| Some("结算单商户已自行打印留存".into()))
    }

    fn unbind_reference(&mut self) -> String {
        format!("JB{:010}", self.dice.below(9_999_999_999))
    }

    fn settled_balance(&mut self) -> u64 {
        self.dice.below(500_000)
    }

    fn follow_up_days(&mut self) -> u16 {
        3 + self.dice.below(5) as u16
    }

    fn handover(&mut self) -> (String, Option<String>) {
        let condition = *self.dice.pick(&["外观完好，配件齐全", "屏幕有划痕", "外壳磨损，缺电源适配器"]);
        (condition.to_owned(), Some(format!("FD-{:06}", self.dice.below(999_999))))
    }
}

/// The demo's photos (from the kit, the first one of a visit waiting for
/// a photo that never arrives) and signatures (signed by the device's key
/// over exactly what the merchant saw, as the phone does).
struct DemoEvidence<'a, 'v> {
    kit: &'a Kit,
    dice: &'a mut Dice,
    key: &'a SigningKey,
    photo_variant: u32,
    photo_missing: &'a mut Option<&'v [u8]>,
}

impl Evidence for DemoEvidence<'_, '_> {
    fn photo(&mut self, kind: DocumentKind) -> BlobInfo {
        match self.photo_missing.take() {
            Some(bytes) => blob_info(bytes, "image/jpeg", 800, 560),
            None => self.kit.photos[&(kind, self.photo_variant)].0.clone(),
        }
    }

    fn signature(&mut self, visit: &Visit, at: Timestamp) -> SignatureInput {
        let (image, _) =
            self.kit.signatures[self.dice.below(self.kit.signatures.len() as u64) as usize].clone();
        let drawn = self.dice.next() % self.kit.strokes.len() as u64;
        let strokes = self.kit.strokes[drawn as usize].0.clone();
        let summary = AcceptanceSummary::of(visit, at);
        let content_hash = AcceptanceSummary::hash_of(&summary.canonical_json());
        let device_signature = sign_binding(self.key, &content_hash, &strokes, &image.sha256);
        let signer = format!("{}老板", self.dice.pick(&["王", "李", "张", "刘", "陈", "杨", "赵", "黄"]));
        SignatureInput {
            signer_name: signer,
            image,
            strokes_sha256: strokes,
            device_signature: Some(device_signature),
        }
    }
}

/// Fills the data folder behind `state` with the demo fleet, unless it
/// already holds visits (then nothing is done and `None` is returned).
pub async fn fill(state: &State) -> Result<Option<DemoReport>, DemoError> {
    if state.store.has_visits().await? {
        return Ok(None);
    }
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let now = crate::clock::now();
    let today = Timestamp::from_seconds(now).beijing_date();
    let date = |offset_days: i64| today.add_days(offset_days);

    // Agents, each with an enrolled device whose key signs acceptances.
    let mut keys = BTreeMap::new();
    let mut devices = BTreeMap::new();
    for (n, agent) in AGENTS.iter().enumerate() {
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&(n as u64 + 1).to_le_bytes());
        secret[8..16].copy_from_slice(&dice.next().to_le_bytes());
        let key = SigningKey::from_bytes(&secret);
        let public = hex::encode(key.verifying_key().to_bytes());
        let agent_name = (*agent).to_owned();
        let store = state.store.as_ref();
        let code = crate::auth::issue_enrolment_code(store, &agent_name).await?;
        let enrolled =
            crate::auth::enrol(store, &code, &format!("demo-phone-{agent_name}"), "演示手机", &public, now)
                .await?;
        devices.insert((*agent).to_owned(), enrolled.device_id);
        keys.insert((*agent).to_owned(), key);
    }

    // Merchants and the terminal register.
    let merchants: Vec<Merchant> = SHOPS
        .iter()
        .map(|name| Merchant {
            name: (*name).to_owned(),
            number: format!("8983{}", dice.digits(11)),
            phone: format!("1{}{}", dice.pick(&['3', '5', '7', '8', '9']), dice.digits(9)),
            address: format!("{}{}{}号", dice.pick(CITIES), dice.pick(STREETS), 1 + dice.below(300)),
        })
        .collect();
    let mut terminals = Vec::new();
    let mut suspended = Vec::new();
    let mut register = String::from(
        "serial,model,manufacturer,merchant,merchant_number,state,production_date,warranty_end,sim_iccid,sim_carrier,sim_expiry\n",
    );
    for n in 0..320 {
        let (maker, model, prefix) = *dice.pick(MODELS);
        let serial = format!("{prefix}{model}{:08}", 10_000_000 + n * 7_919 + dice.below(7_000));
        let serial =
            posfield_shared::validate::serial(&serial).map_err(|e| DemoError::Store(e.to_string()))?;
        let merchant = n as usize % merchants.len();
        // Produced before the oldest demo visit began, so every visit's
        // label reading is of a day that had come.
        let produced = -(130 + dice.below(1_650) as i64);
        let warranty_end = produced + 730;
        let iccid = luhn_completed(&format!("8986{}", dice.digits(15)));
        let carrier = *dice.pick(SimCarrier::ALL);
        let sim_expiry = date(-60 + dice.below(460) as i64);
        let state = match dice.below(20) {
            0 => TerminalState::Suspended,
            1 => TerminalState::InRepair,
            2 => TerminalState::InStock,
            3 => TerminalState::Deregistered,
            4 => TerminalState::Faulty,
            5 => TerminalState::Lost,
            _ => TerminalState::Installed,
        };
        if state == TerminalState::Suspended {
            suspended.push(terminals.len());
        }
        let state_code = state.code();
        let m = &merchants[merchant];
        register.push_str(&format!(
            "{serial},{model},{maker},{},{},{state_code},{},{},{iccid},{},{}\n",
            m.name,
            m.number,
            date(produced),
            date(warranty_end),
            carrier.code(),
            sim_expiry
        ));
        terminals.push(Terminal {
            serial,
            maker,
            model,
            produced: date(produced),
            merchant,
            iccid,
            carrier,
            sim_expiry,
        });
    }
    let report = crate::office::import::import_terminals(state.store.as_ref(), &register, |report| {
        let detail = format!("{} imported, {} refused", report.imported, report.bad.len());
        crate::store::AuditEntry::new(None, "demo", "import_terminals", &detail)
    })
    .await?;
    if !report.bad.is_empty() {
        return Err(DemoError::Store(format!("demo register rows refused: {:?}", report.bad)));
    }

    // Blobs: a pool of document photos and signatures, stored verified.
    let kit = Kit::new(keys);
    let mut blobs: Vec<(String, Vec<u8>)> =
        kit.photos.values().map(|(i, b)| (i.sha256.clone(), b.clone())).collect();
    blobs.extend(kit.signatures.iter().map(|(i, b)| (i.sha256.clone(), b.clone())));
    blobs.extend(kit.strokes.iter().cloned());
    for (sha, bytes) in &blobs {
        store_blob(state, sha, bytes).await?;
    }

    // Visits: every kind in every status, and the cases the alerts watch.
    let mut plan: Vec<(VisitKind, Stage)> = Vec::new();
    for kind in VisitKind::ALL {
        for stage in [
            Stage::Draft,
            Stage::InProgress,
            Stage::Completed,
            Stage::Approved,
            Stage::Returned,
            Stage::Cancelled,
        ] {
            for _ in 0..5 {
                plan.push((*kind, stage));
            }
        }
    }
    for _ in 0..30 {
        plan.push((VisitKind::Repair, Stage::Approved));
        plan.push((VisitKind::Installation, Stage::Approved));
    }
    for _ in 0..5 {
        plan.push((VisitKind::Reactivation, Stage::ApplicationWaiting));
        plan.push((VisitKind::Repair, Stage::SignatureBroken));
    }
    let mut builder = Builder {
        kit: &kit,
        dice: Dice(0x005e_ed0f_d370),
        clock: 0,
        ops: 0,
        new_produced: date(-140),
        today,
    };
    let mut made = 0;
    let repeat_faults: Vec<usize> = (0..8).map(|i| i * 37 % terminals.len()).collect();
    for (n, (kind, stage)) in plan.iter().enumerate() {
        let terminal_index = if *kind == VisitKind::Repair && n % 3 == 0 {
            repeat_faults[n % repeat_faults.len()]
        } else if *kind == VisitKind::Reactivation && suspended.len() >= 4 {
            // A reactivation is for a suspended terminal: approved ones put
            // the first quarter back in service, the others' approved
            // applications issue the second, and half stay suspended.
            let quarter = suspended.len() / 4;
            let offset = if *stage == Stage::Approved { 0 } else { quarter };
            suspended[offset + n % quarter]
        } else {
            builder.dice.below(terminals.len() as u64) as usize
        };
        let terminal = &terminals[terminal_index];
        let merchant = &merchants[terminal.merchant];
        let agent = AGENTS[n % AGENTS.len()];
        let id = uuid::Uuid::from_u64_pair(
            0x0192_0000_0000_7000 | (n as u64 >> 12),
            0x8000_0000_0000_0000 | (n as u64) << 8 | builder.dice.below(256),
        )
        .to_string();
        let start = (now - 110 * 86_400 + (n as i64 * 97_003) % (105 * 86_400)) * 1000;
        let replacement = terminals[(terminal_index + 1) % terminals.len()].serial.clone();
        // A few completed visits wait for a photo that never arrived.
        let missing_photo = (*stage == Stage::Completed && n % 4 == 0)
            .then(|| document_photo(DocumentKind::Other, 100 + n as u32));
        let doc = builder.visit(
            &id,
            *kind,
            *stage,
            agent,
            merchant,
            terminal,
            &replacement,
            start,
            missing_photo.as_deref(),
        )?;
        let mut doc = doc;
        let audit = crate::store::AuditEntry::new(Some(&id), "demo", "create_visit", kind.code());
        // The agent's phone signed its acceptances: its key verifies them.
        let device = devices.get(agent).map(String::as_str);
        // An approved visit moved its terminals, as the desk's approval
        // does; an approved application issued its terminal. What the
        // lifecycle refuses of the dice's register moves nothing.
        let stage = *stage;
        let decide = |visit: &Visit, register: &BTreeMap<String, Registered>| {
            let (cause, plan) = if stage == Stage::Approved {
                (RegisterCause::VisitApproved, register_plan(visit, register).ok()?)
            } else if visit.kind == VisitKind::Reactivation && application_approved(visit) {
                (RegisterCause::ApplicationApproved, application_plan(visit, register))
            } else {
                return None;
            };
            (plan.conflicts.is_empty() && !plan.changes.is_empty()).then(|| RegisterWrite {
                cause,
                plan,
                actor: "chen.li".into(),
            })
        };
        crate::projection::office_create_deciding(state, &mut doc, audit, device, decide)
            .await
            .map_err(|e| DemoError::Store(e.to_string()))?;
        made += 1;
    }
    tracing::info!(visits = made, terminals = terminals.len(), "demo fleet ready");
    Ok(Some(DemoReport {
        agents: AGENTS.len(),
        terminals: terminals.len(),
        visits: made,
        blobs: blobs.len(),
    }))
}

async fn store_blob(state: &State, sha: &str, bytes: &[u8]) -> Result<(), DemoError> {
    let body = axum::body::Body::from(bytes.to_vec()).into_data_stream();
    let total = bytes.len() as u64;
    let hash = posfield_shared::BlobHash::parse(sha).map_err(|e| DemoError::Store(e.to_string()))?;
    state
        .blobs
        .append(&hash, "demo", true, 0, total, total, body)
        .await
        .map_err(|e| DemoError::Store(format!("blob {sha}: {}", e.message)))?;
    state.store.blob_received(sha, total, "demo").await?;
    Ok(())
}
