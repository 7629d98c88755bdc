//! The agent's day: one card per visit (`visit_cards`, migration 6) with
//! what today's list shows and what a search looks in, written in the
//! transaction of every save, and the order the agent put a day's jobs in
//! (`day_order`).
//!
//! The cards live in their own small table so the day's list and a search
//! over ten thousand visits read a few hundred encrypted pages, not the
//! pages that carry every document.

use posfield_shared::visit::Visit;
use posfield_shared::vocab::Term;
use posfield_shared::{CalendarDate, VisitId, VisitKind, VisitStatus};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError, column};

/// What a job's card shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobCard {
    /// Visit id.
    pub id: VisitId,
    /// What the visit is for: what is needed there.
    pub kind: VisitKind,
    /// Where it stands.
    pub status: VisitStatus,
    /// Merchant name.
    pub merchant: String,
    /// 商户号, when the desk gave it.
    pub merchant_number: Option<String>,
    /// The registered phone, when known.
    pub phone: Option<String>,
    /// The street address, when known.
    pub address: Option<String>,
    /// The terminal's serial, once identified.
    pub serial: Option<String>,
    /// The day the desk planned it for (YYYY-MM-DD, Beijing time).
    pub planned_day: Option<String>,
    /// Not before (HH:MM).
    pub planned_from: Option<String>,
    /// Not after (HH:MM).
    pub planned_until: Option<String>,
    /// How far the agent got on the way: `accepted`, `departed`, `arrived`.
    pub trip: Option<String>,
    /// Where the merchant is (WGS-84, millionths of a degree): where the
    /// phone was at this visit's arrival check-in, else the place the desk
    /// gave with the job (schema 5), or, on the day's list and
    /// in a search, at the latest located arrival at the same merchant
    /// number. No address is looked up online.
    pub lat_e6: Option<i64>,
    /// Longitude of the same point.
    pub lon_e6: Option<i64>,
    /// Device time of the last change, ms since the epoch.
    pub updated_at: i64,
    /// Whether the phone holds changes the server has not confirmed.
    pub unsynced: bool,
}

/// A day's jobs: those planned for it in the agent's order, and on today's
/// list also the open jobs planned for an earlier day and those not
/// planned at all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayPlan {
    /// The day shown.
    pub day: String,
    /// The jobs planned for it, in the agent's order (then by window).
    pub planned: Vec<JobCard>,
    /// Open jobs planned for an earlier day (today's list only), oldest first.
    pub overdue: Vec<JobCard>,
    /// Open jobs with no day (today's list only), newest change first.
    pub unplanned: Vec<JobCard>,
}

/// The most cards one section or a search returns.
pub(crate) const CARD_LIMIT: u32 = 200;

/// The longest search text taken, in characters.
pub(crate) const SEARCH_MAX_CHARS: usize = 64;

/// What a search matches of a visit: its words folded, one per line.
fn search_text(visit: &Visit) -> String {
    let merchant = &visit.merchant;
    let serials = [&visit.terminal, &visit.replacement].into_iter().flatten().map(|t| t.serial.clone());
    let words = [Some(&merchant.name), merchant.merchant_number.as_ref(), merchant.phone.as_ref()]
        .into_iter()
        .chain([merchant.terminal_number.as_ref(), merchant.address.as_ref()])
        .flatten()
        .cloned()
        .chain(serials)
        .chain(visit.expected_serials());
    words.map(|w| fold(&w)).collect::<Vec<_>>().join("\n")
}

/// Text as a search compares it: lower-cased, without spaces (an address
/// typed with or without them, a phone number typed as `138 0013 8000`).
fn fold(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

/// A search as typed, ready to match ([`fold`], its first
/// [`SEARCH_MAX_CHARS`] characters); `None` when nothing is left to look for.
fn search_key(typed: &str) -> Option<String> {
    let key = fold(&typed.chars().take(SEARCH_MAX_CHARS).collect::<String>());
    (!key.is_empty()).then_some(key)
}

/// The card of `visit` and the text a search matches.
fn card_of(visit: &Visit, updated_at: i64, unsynced: bool) -> Result<(JobCard, String), StoreError> {
    let merchant = &visit.merchant;
    let plan = visit.assignment.schedule.as_ref();
    let time = |t: Option<posfield_shared::TimeOfDay>| t.map(|t| t.to_string());
    // Where the phone was at the arrival, else where the desk says the shop is.
    let arrived = visit
        .trip
        .as_ref()
        .and_then(|t| t.arrived.as_ref())
        .and_then(|a| a.location)
        .or(visit.merchant.location);
    let id = VisitId::parse(&visit.id).map_err(|error| StoreError::Document {
        id: visit.id.clone(),
        source: posfield_shared::visit::DocError::Undecodable(error.to_string()),
    })?;
    let card = JobCard {
        id,
        kind: visit.kind,
        status: visit.status,
        merchant: merchant.name.clone(),
        merchant_number: merchant.merchant_number.clone(),
        phone: merchant.phone.clone(),
        address: merchant.address.clone(),
        serial: visit.terminal.as_ref().map(|t| t.serial.clone()),
        planned_day: plan.map(|p| p.day.to_string()),
        planned_from: time(plan.and_then(|p| p.from)),
        planned_until: time(plan.and_then(|p| p.until)),
        trip: visit.trip.as_ref().and_then(|t| {
            let stage = if t.arrived.is_some() {
                "arrived"
            } else if t.departed.is_some() {
                "departed"
            } else {
                t.accepted.as_ref().map(|_| "accepted")?
            };
            Some(stage.to_owned())
        }),
        lat_e6: arrived.map(|p| p.lat_e6),
        lon_e6: arrived.map(|p| p.lon_e6),
        updated_at,
        unsynced,
    };
    Ok((card, search_text(visit)))
}

/// Writes the card of `visit` (in the caller's transaction), as holding
/// changes the server has not confirmed: it was just saved.
pub(crate) fn write_card(conn: &Connection, visit: &Visit, updated_at: i64) -> Result<(), StoreError> {
    let (card, search) = card_of(visit, updated_at, true)?;
    conn.execute(
        "INSERT INTO visit_cards (id, kind, status, merchant, merchant_number, phone, address, serial,
             planned_day, planned_from, planned_until, updated_at, unsynced, search, trip, arrived_lat_e6,
             arrived_lon_e6)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO UPDATE SET kind = ?2, status = ?3, merchant = ?4, merchant_number = ?5,
             phone = ?6, address = ?7, serial = ?8, planned_day = ?9, planned_from = ?10,
             planned_until = ?11, updated_at = ?12, unsynced = 1, search = ?13, trip = ?14,
             arrived_lat_e6 = ?15, arrived_lon_e6 = ?16",
        params![
            card.id.as_str(),
            card.kind.code(),
            card.status.code(),
            card.merchant,
            card.merchant_number,
            card.phone,
            card.address,
            card.serial,
            card.planned_day,
            card.planned_from,
            card.planned_until,
            card.updated_at,
            search,
            card.trip,
            card.lat_e6,
            card.lon_e6,
        ],
    )?;
    Ok(())
}

/// Whether the stored card of `visit` differs from the one its document
/// gives (the index check of the tests and `posfield-agent check`).
pub(crate) fn card_differs(
    conn: &Connection,
    visit: &Visit,
    updated_at: i64,
    unsynced: bool,
) -> Result<bool, StoreError> {
    let expected = card_of(visit, updated_at, unsynced)?;
    let stored = conn
        .query_row(
            &format!("SELECT {CARD_COLUMNS}, search FROM visit_cards WHERE id = ?1"),
            [&visit.id],
            |r| Ok((card(r)?, r.get::<_, String>(16)?)),
        )
        .optional()?;
    Ok(stored.as_ref() != Some(&expected))
}

const CARD_COLUMNS: &str = "id, kind, status, merchant, merchant_number, phone, address, serial, planned_day, \
                            planned_from, planned_until, updated_at, unsynced, trip, arrived_lat_e6, \
                            arrived_lon_e6";

/// The statuses of a job still to do.
const OPEN: &str = "status IN ('draft', 'in_progress', 'returned')";

fn card(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobCard> {
    Ok(JobCard {
        id: column(r, 0, |text| VisitId::parse(text).ok())?,
        kind: column(r, 1, VisitKind::from_code)?,
        status: column(r, 2, VisitStatus::from_code)?,
        merchant: r.get(3)?,
        merchant_number: r.get(4)?,
        phone: r.get(5)?,
        address: r.get(6)?,
        serial: r.get(7)?,
        planned_day: r.get(8)?,
        planned_from: r.get(9)?,
        planned_until: r.get(10)?,
        updated_at: r.get(11)?,
        unsynced: r.get(12)?,
        trip: r.get(13)?,
        lat_e6: r.get(14)?,
        lon_e6: r.get(15)?,
    })
}

impl Store {
    /// The jobs of `day`; with `day == today` also the overdue and the
    /// unplanned ones. Cancelled jobs are not on a day's list.
    pub(crate) fn day_plan(&self, day: CalendarDate, today: CalendarDate) -> Result<DayPlan, StoreError> {
        let day_text = day.to_string();
        let mut planned = self.cards(
            &format!(
                "SELECT {CARD_COLUMNS} FROM visit_cards LEFT JOIN day_order ON day = ?1 AND visit_id = id
                 WHERE planned_day = ?1 AND status != 'cancelled'
                 ORDER BY position IS NULL, position, planned_from IS NULL, planned_from, planned_until, merchant, id
                 LIMIT ?2"
            ),
            params![day_text, CARD_LIMIT],
        )?;
        // Done jobs keep their place only while the agent ordered them;
        // otherwise they follow the jobs still to do.
        planned.sort_by_key(|c| {
            !matches!(c.status, VisitStatus::Draft | VisitStatus::InProgress | VisitStatus::Returned) as u8
        });
        let (overdue, unplanned) = if day == today {
            let overdue = self.cards(
                &format!(
                    "SELECT {CARD_COLUMNS} FROM visit_cards
                     WHERE planned_day < ?1 AND {OPEN}
                     ORDER BY planned_day, planned_from IS NULL, planned_from, id LIMIT ?2"
                ),
                params![day_text, CARD_LIMIT],
            )?;
            let unplanned = self.cards(
                &format!(
                    "SELECT {CARD_COLUMNS} FROM visit_cards
                     WHERE planned_day IS NULL AND {OPEN}
                     ORDER BY updated_at DESC, id LIMIT ?1"
                ),
                params![CARD_LIMIT],
            )?;
            (overdue, unplanned)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut plan = DayPlan { day: day_text, planned, overdue, unplanned };
        for list in [&mut plan.planned, &mut plan.overdue, &mut plan.unplanned] {
            self.place_merchants(list)?;
        }
        Ok(plan)
    }

    /// The visits whose merchant name, merchant or terminal number, phone,
    /// address or serial contains `typed`, newest change first.
    pub(crate) fn search_cards(&self, typed: &str, limit: u32) -> Result<Vec<JobCard>, StoreError> {
        let Some(key) = search_key(typed) else {
            return Ok(Vec::new());
        };
        let mut found = self.cards(
            &format!(
                "SELECT {CARD_COLUMNS} FROM visit_cards WHERE instr(search, ?1) > 0
                 ORDER BY updated_at DESC, id LIMIT ?2"
            ),
            params![key, limit.min(CARD_LIMIT)],
        )?;
        self.place_merchants(&mut found)?;
        Ok(found)
    }

    /// Gives each card without a place of its own the place of the latest
    /// located arrival at the same merchant number.
    fn place_merchants(&self, cards: &mut [JobCard]) -> Result<(), StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT arrived_lat_e6, arrived_lon_e6 FROM visit_cards
             WHERE merchant_number = ?1 AND arrived_lat_e6 IS NOT NULL
             ORDER BY updated_at DESC LIMIT 1",
        )?;
        for card in cards.iter_mut().filter(|c| c.lat_e6.is_none()) {
            let Some(number) = &card.merchant_number else { continue };
            if let Some((lat, lon)) =
                statement.query_row([number], |r| Ok((r.get(0)?, r.get(1)?))).optional()?
            {
                (card.lat_e6, card.lon_e6) = (Some(lat), Some(lon));
            }
        }
        Ok(())
    }

    /// Puts the jobs of `day` in the agent's order: `ids` first, in that
    /// order; the day's other jobs follow by their window.
    pub(crate) fn set_day_order(&mut self, day: CalendarDate, ids: &[VisitId]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let day = day.to_string();
        tx.execute("DELETE FROM day_order WHERE day = ?1", [&day])?;
        for (position, id) in ids.iter().take(CARD_LIMIT as usize).enumerate() {
            tx.execute(
                "INSERT OR IGNORE INTO day_order (day, visit_id, position) VALUES (?1, ?2, ?3)",
                params![day, id.as_str(), position as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn cards(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<JobCard>, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(args, card)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests;
