//! The back office's words in zh-CN (the default) and English.
//!
//! One table of keys; a missing key shows the key itself, which a test
//! forbids for every key the templates use.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese, the default.
    Zh,
    /// English.
    En,
}

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "posfield_lang";

impl Lang {
    /// The `lang` attribute and cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The language a cookie value names (anything else is zh-CN).
    pub fn from_code(code: &str) -> Lang {
        if code.eq_ignore_ascii_case("en") { Lang::En } else { Lang::Zh }
    }

    /// The word for `key`.
    pub fn t(self, key: &str) -> &'static str {
        WORDS.iter().find(|(k, _, _)| *k == key).map_or("?", |(_, zh, en)| match self {
            Lang::Zh => zh,
            Lang::En => en,
        })
    }

    /// A vocabulary term's label in this language.
    pub fn term<T: posfield_shared::vocab::Term>(self, term: T) -> &'static str {
        match self {
            Lang::Zh => term.zh(),
            Lang::En => term.en(),
        }
    }
}

impl Lang {
    /// A vocabulary value from a document in this language: a code unknown
    /// to this version is shown as written, with words saying so.
    pub fn open<T: posfield_shared::vocab::Term>(self, value: &posfield_shared::vocab::Open<T>) -> String {
        match self {
            Lang::Zh => value.zh(),
            Lang::En => value.en(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(super::session::cookie(&parts.headers, LANG_COOKIE).map_or(Lang::Zh, |v| Lang::from_code(&v)))
    }
}

/// Every key with its zh-CN and English words.
pub const WORDS: &[(&str, &str, &str)] = &[
    ("app", "Posfield 后台", "Posfield back office"),
    ("visits", "工单", "Visits"),
    ("terminals", "终端台账", "Terminals"),
    ("alerts", "预警", "Alerts"),
    ("settings", "设置", "Settings"),
    ("save", "保存", "Save"),
    (
        "settings_reasons",
        "退回原因（每行一条，审核员退回时可选，仍可修改）",
        "Return reasons (one a line; a reviewer picks one when returning a visit, and can still edit it)",
    ),
    (
        "settings_reasons_hint",
        "最多 20 条，每条最多 60 字。全部清空则恢复默认原因。",
        "At most 20, of at most 60 characters each. Clear them all for the stock reasons.",
    ),
    ("users", "用户与角色", "Users and roles"),
    ("user_name", "用户名", "User"),
    ("user_role", "角色", "Role"),
    ("user_password", "密码（至少 10 位）", "Password (10 characters or more)"),
    ("user_save", "添加用户或修改角色", "Add a user or set a role"),
    (
        "user_save_hint",
        "已有用户：设置新角色和新密码，其所有登录会话立即结束。",
        "An existing user gets the new role and password, and is signed out everywhere.",
    ),
    ("user_remove", "删除…", "Remove…"),
    (
        "user_remove_means",
        "删除后该用户立即退出登录，不能再登录后台。",
        "The user is signed out at once and can no longer sign in.",
    ),
    ("user_remove_confirm", "确认删除", "Remove the user"),
    ("audit_log", "审计日志", "Audit log"),
    ("audit_actor", "操作人", "Who"),
    ("audit_action", "操作", "Action"),
    ("audit_detail", "详情", "Detail"),
    ("bulk", "批量处理", "Bulk decision"),
    ("bulk_none", "没有勾选任何上门", "No visit was ticked"),
    ("bulk_approve", "批量审核通过", "Approve the ticked"),
    ("bulk_assign", "批量改派", "Reassign the ticked"),
    ("bulk_confirm", "确认批量处理", "Confirm the bulk decision"),
    ("bulk_approve_lead", "审核通过", "Approve"),
    ("bulk_assign_lead", "改派给", "Give to"),
    ("bulk_units", "个上门", "visits"),
    (
        "bulk_each",
        "逐个处理：不完整或无法通过的上门会列出原因，其他上门照常处理；没有上门会只改一半。",
        "Each visit on its own: one that is incomplete or cannot be done is listed with why, the others are done; none is half-changed.",
    ),
    ("bulk_do", "确认处理", "Do it:"),
    ("bulk_result", "批量处理结果", "Bulk result"),
    ("bulk_done", "已完成", "Done"),
    ("bulk_line_done", "已完成", "Done"),
    ("bulk_line_not_done", "未处理", "Not done"),
    ("bulk_ticked", "已勾选", "Ticked"),
    ("dashboard", "概览", "Dashboard"),
    (
        "dashboard_per_day_kind",
        "近 30 天每日新建上门（按类型）",
        "Visits created per day, last 30 days, by kind",
    ),
    (
        "dashboard_per_day_agent",
        "近 30 天每日新建上门（按外勤员）",
        "Visits created per day, last 30 days, by agent",
    ),
    ("dashboard_backlog", "待审核积压（按等待时长）", "Waiting for review, by how long"),
    ("dashboard_sim_weeks", "未来 12 周每周到期的流量卡", "SIM cards expiring per week, next 12 weeks"),
    ("dashboard_states", "终端生命周期状态", "Terminals by lifecycle state"),
    ("dashboard_sim_series", "到期流量卡", "SIM cards expiring"),
    ("dashboard_terminals", "终端数", "Terminals"),
    ("dashboard_other_agents", "其他外勤员", "Other agents"),
    ("dashboard_table", "数据表", "The numbers"),
    ("dashboard_csv", "下载 CSV", "Download CSV"),
    ("dashboard_oldest", "最久已等待", "Longest wait"),
    (
        "dashboard_repeat",
        "重复故障终端（一年内维修两次及以上）",
        "Repeat-fault terminals (two or more repairs in a year)",
    ),
    (
        "dashboard_arrival",
        "到达至完成平均用时（近 30 天完成）",
        "Average time from arrival to completion (completed in the last 30 days)",
    ),
    ("dashboard_counted", "统计上门数", "Visits counted"),
    ("minutes_unit", "分钟", "min"),
    ("backlog_under_day", "不到 1 天", "Under a day"),
    ("backlog_1_3", "1–3 天", "1–3 days"),
    ("backlog_3_7", "3–7 天", "3–7 days"),
    ("backlog_over_7", "7 天以上", "7 days and more"),
    ("state_unknown", "未登记状态", "No state"),
    ("enrol_phone", "绑定手机", "Enrol a phone"),
    (
        "enrol_hint",
        "新外勤员填新名字；换手机填原名字，旧手机在新手机绑定后被吊销。",
        "A new agent: a new name; a replaced phone: the agent's name (the old phone stops once the new one enrols).",
    ),
    (
        "enrol_scan",
        "用外勤员的手机扫描下面的二维码，在 Posfield 中打开即可绑定。",
        "Scan this code with the agent's phone and open it in Posfield to enrol.",
    ),
    ("enrol_qr", "绑定二维码", "Enrolment QR code"),
    ("enrol_or_type", "无法扫码时输入绑定码：", "Cannot scan? Type the code:"),
    ("enrol_link", "绑定链接：", "Enrolment link:"),
    ("enrol_once", "只能使用一次，有效期", "Works once, for"),
    ("revoke", "吊销…", "Revoke…"),
    (
        "revoke_means",
        "吊销后这台手机无法再同步，手机上未同步的记录保留在手机上，不会被清除。手机丢失请用“远程清除”。",
        "The phone can no longer sync; what it has not synced stays on it and is not erased. For a lost phone, use wipe.",
    ),
    ("revoke_confirm", "确认吊销", "Revoke its credential"),
    ("tick_all", "全选", "Tick all"),
    ("became_visit", "已派单：打开这次上门", "Dispatched: open the visit"),
    ("dispatch", "派单", "Dispatch"),
    ("dispatch_ticked", "为勾选的终端派单", "Dispatch the ticked terminals"),
    ("dispatch_confirm", "确认派单", "Confirm the dispatch"),
    ("dispatch_confirm_lead", "将创建", "This creates"),
    ("dispatch_confirm_units", "个上门：", "visits:"),
    ("dispatch_do", "确认创建", "Create them:"),
    ("dispatch_result", "派单结果", "Dispatch result"),
    ("dispatch_made", "已创建", "Created"),
    ("dispatch_outcome", "结果", "Outcome"),
    ("dispatch_none", "没有勾选任何终端", "No terminal was ticked"),
    ("dispatch_created", "已创建", "Created"),
    (
        "dispatch_already_open",
        "已有未完成的同类上门，未重复创建",
        "Already has an open visit of this kind; none added",
    ),
    ("dispatch_not_registered", "终端登记表中没有这个序列号", "The register has no such serial"),
    ("dispatch_no_merchant", "登记表中没有这台终端的商户", "The register names no merchant for it"),
    ("dispatch_invalid", "序列号无效", "Not a serial"),
    ("dispatch_failed", "未能创建", "Could not be created"),
    ("visit", "上门", "Visit"),
    ("cancel", "取消", "Cancel"),
    ("expired_for", "已过期", "Expired"),
    ("days_unit", "天", "days"),
    ("filter_rows", "筛选本表（商户、运营商、序列号…）", "Filter this list (merchant, carrier, serial…)"),
    ("applications", "复机申请", "Reactivation applications"),
    ("new_visit", "新建派单", "New visit"),
    ("import", "导入终端", "Import terminals"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("user", "用户名", "User name"),
    ("password", "密码", "Password"),
    ("bad_login", "用户名或密码不正确", "Wrong user name or password"),
    ("setup_title", "设置首位管理员", "Set up the first administrator"),
    (
        "setup_intro",
        "本服务器还没有管理员。请设置管理员的用户名和密码（至少 10 个字符）；此链接只能使用一次。",
        "This server has no administrator yet. Choose the administrator's user name and password (at least 10 characters); this link works once.",
    ),
    ("password_again", "再次输入密码", "Password again"),
    ("setup_submit", "创建管理员并登录", "Create the administrator and sign in"),
    ("setup_bad_code", "设置链接不正确或已失效", "The setup link is wrong or no longer valid"),
    ("setup_passwords_differ", "两次输入的密码不一致", "The two passwords differ"),
    ("setup_password_short", "密码至少需要 10 个字符", "The password needs at least 10 characters"),
    ("setup_name_taken", "该用户名已被使用", "That user name is taken"),
    (
        "setup_bad_name",
        "用户名只能包含字母、数字、“-”、“_”或“.”，最多 64 个字符",
        "A user name is 1 to 64 letters, digits, '-', '_' or '.'",
    ),
    ("setup_throttled", "尝试次数过多，请稍后再试", "Too many tries; try again later"),
    ("status", "状态", "Status"),
    ("kind", "类型", "Kind"),
    ("agent", "业务员", "Agent"),
    ("merchant", "商户", "Merchant"),
    ("merchant_number", "商户号", "Merchant number"),
    ("terminal_number", "终端号", "Terminal number"),
    ("phone", "注册手机号", "Registered phone"),
    ("address", "地址", "Address"),
    (
        "location",
        "坐标（纬度，经度，WGS-84，如手机定位所示；高德、百度地图上取的坐标有偏移，不可直接填）",
        "Place (latitude,longitude in WGS-84, as a phone gives it; not Amap or Baidu coordinates, which are shifted)",
    ),
    ("serial", "机身号", "Serial"),
    ("from", "起始日期", "From"),
    ("to", "截止日期", "To"),
    ("filter", "筛选", "Filter"),
    ("any", "全部", "Any"),
    ("updated", "更新时间", "Updated"),
    ("created", "创建时间", "Created"),
    ("next_page", "下一页", "Next page"),
    ("first_page", "第一页", "First page"),
    ("no_rows", "没有记录", "Nothing here"),
    ("export_csv", "导出 CSV", "Export CSV"),
    ("export_xlsx", "导出 Excel", "Export XLSX"),
    (
        "xlsx_read",
        "已选择 Excel 文件 {name}，将导入第一张工作表",
        "Excel file {name} chosen: its first sheet is imported",
    ),
    (
        "xlsx_too_large",
        "Excel 文件超过 4 MB，请拆分后再导入",
        "The Excel file is over 4 MB: split it and import the parts",
    ),
    ("photos_missing", "照片未到", "Photos missing"),
    ("marks", "标注", "Marks"),
    ("terminal", "终端", "Terminal"),
    ("replacement", "新终端", "New terminal"),
    ("checklist", "检查项", "Checklist"),
    ("step", "步骤", "Step"),
    ("note", "备注", "Note"),
    ("reason", "原因", "Reason"),
    ("faults", "故障", "Faults"),
    ("attempts", "现场处理", "What was tried"),
    ("fixed", "已解决", "Fixed"),
    ("waits_for", "等待：", "Waits for "),
    ("not_fixed", "未解决", "Not fixed"),
    ("photos", "材料照片", "Document photos"),
    ("signature", "验收签字", "Acceptance signature"),
    ("signer", "签字人", "Signer"),
    ("sig_valid", "签字有效：与验收摘要一致", "Signature valid: matches the acceptance summary"),
    ("sig_mismatch", "签字失效：摘要已改动，需重新签字", "Signature no longer matches: must be signed again"),
    ("sig_unsigned", "尚未签字", "Not signed yet"),
    ("device_sig_valid", "设备签名已核验", "Device signature verified"),
    ("device_sig_invalid", "设备签名未通过核验", "Device signature not verified"),
    ("approval_incomplete", "不能审核通过，记录不完整：", "Cannot approve: the visit is incomplete: "),
    (
        "approval_unsigned",
        "不能审核通过，签字无法核验：",
        "Cannot approve: the signature cannot be verified: ",
    ),
    ("approval_blocked", "审核通过前还缺少：", "Before it can be approved, still missing:"),
    ("list_separator", "；", "; "),
    ("signing_device", "签字设备", "Signing device"),
    ("key_fingerprint", "密钥指纹", "Key fingerprint"),
    ("device_enrolled_at", "设备登记时间", "Device enrolled"),
    ("countersigned_at", "服务器收到时间", "Received by the server"),
    (
        "signing_device_unrecorded",
        "（未记录：早于本版本的签字）",
        "(not recorded: signed before this version)",
    ),
    ("sim", "流量卡", "SIM data card"),
    ("iccid", "ICCID", "ICCID"),
    ("carrier", "运营商", "Carrier"),
    ("expiry", "到期日", "Expiry"),
    ("sim_action", "处理方式", "Action"),
    ("history", "操作记录", "History"),
    ("received_from", "服务器收到自", "Received from"),
    ("concurrent_edits", "并发修改", "Concurrent edits"),
    (
        "concurrent_hint",
        "以下内容曾在两台设备上同时修改：页面显示胜出的值，其余的值保留在这里，未被删除。",
        "These were changed on two devices at once: the visit shows the winning value; the others are kept here, not deleted.",
    ),
    ("field", "内容", "Field"),
    ("shown_value", "显示的值", "Value shown"),
    ("other_values", "未采用的值", "Values not shown"),
    ("reviews", "审核记录", "Reviews"),
    ("approve", "审核通过", "Approve"),
    ("return", "退回", "Return"),
    ("return_note", "退回原因（必填）", "Why it is returned (required)"),
    ("approve_next", "审核通过并下一个", "Approve and next"),
    ("return_next", "退回并下一个", "Return and next"),
    ("queue", "审核队列", "Review queue"),
    ("queue_skip", "跳过", "Skip"),
    ("queue_decide", "去审核", "To the decision"),
    ("queue_empty", "待审核的工单都已处理完。", "Nothing is waiting for review."),
    ("queue_list", "查看待审核列表", "See the list of visits waiting"),
    (
        "review_keys",
        "快捷键：A 审核通过，R 填写退回原因，N 跳过（队列中）",
        "Keys: A approves, R writes the return note, N skips (in the queue)",
    ),
    (
        "read_only_newer",
        "此工单由更新版本的应用写入，只能查看；升级服务器后才能处理。",
        "This visit was written by a newer version of the app: it is read-only here until the server is updated.",
    ),
    (
        "damaged_visit",
        "此工单的部分数据已损坏并被隔离，显示的是最后一次完好的内容。",
        "Part of this visit's stored data was damaged and set aside: what is shown is its last good state.",
    ),
    ("decision_saved", "已保存，业务员下次同步时收到", "Saved; the agent receives it at the next sync"),
    ("assign", "指派", "Assign"),
    ("assignee", "指派给", "Assigned to"),
    ("planned", "预约时间", "Planned for"),
    ("trip_accepted", "已接单", "Accepted"),
    ("trip_departed", "已出发", "Set off"),
    ("trip_arrived", "已到达", "Arrived"),
    ("trip_location", "到达位置", "Arrival location"),
    ("trip_no_fix_refused", "业务员未授权定位", "The agent did not allow positioning"),
    ("trip_no_fix_timeout", "定位超时", "Positioning took too long"),
    ("trip_no_fix_unavailable", "手机无法定位", "The phone could not tell"),
    ("not_planned", "未排期", "Not planned"),
    ("plan_day", "上门日期", "Day"),
    ("plan_from", "最早", "Not before"),
    ("plan_until", "最晚", "Not after"),
    ("create", "创建并指派", "Create and assign"),
    ("model", "型号", "Model"),
    ("manufacturer", "厂商", "Manufacturer"),
    ("state", "状态", "State"),
    ("production_date", "生产日期", "Production date"),
    ("age", "机龄", "Age"),
    ("years", "年", "years"),
    ("warranty_end", "保修截止", "Warranty end"),
    ("last_visit", "最近工单", "Last visit"),
    ("csv_text", "CSV 内容（首行为表头）", "CSV text (first line is the header)"),
    ("csv_file", "或选择文件", "or choose a file"),
    (
        "csv_encoding",
        "文件已按 {encoding} 读取，请核对下方内容后导入",
        "The file was read as {encoding}: check the text below, then import",
    ),
    ("imported", "已导入", "Imported"),
    ("rows", "行", "rows"),
    ("bad_rows", "有问题的行（未导入）", "Rows with problems (not imported)"),
    ("line", "行号", "Line"),
    ("problem", "问题", "Problem"),
    (
        "correct_register_admin",
        "更正终端登记表需由管理员确认后审核通过。",
        "Correcting the terminal register needs an administrator to confirm it and approve.",
    ),
    ("sim_expiring", "流量卡 30 天内到期或已过期", "SIM cards expiring within 30 days or expired"),
    ("old_terminals", "使用满 3 年的终端", "Terminals 3 years or older"),
    ("warranty_ending", "保修 60 天内到期", "Warranty ending within 60 days"),
    (
        "repeated_faults",
        "反复故障的终端（一年内 2 次以上维修）",
        "Terminals with repeated faults (2+ repairs in a year)",
    ),
    ("waiting_applications", "待审批的复机申请", "Reactivation applications waiting"),
    ("check_in", "入库登记", "Check-in"),
    ("checked_in", "已登记入库：", "Checked in:"),
    (
        "check_in_help",
        "扫描或输入收到的终端机身号，记录状况和封条/袋号；送修请填写承诺返回日期。",
        "Scan or type the serial of each terminal received, with its condition and seal or bag number; for a repair centre, the day it is promised back.",
    ),
    ("received_at", "收货方", "Received by"),
    ("hand_out_to", "出库交给外勤", "Hand out to agent"),
    ("condition", "状况", "Condition"),
    ("seal", "封条/袋号", "Seal or bag number"),
    ("promised_back", "承诺返回日期", "Promised back on"),
    ("holder_merchant", "商户", "Merchant"),
    ("holder_agent", "外勤人员", "Agent"),
    ("holder_warehouse", "仓库", "Warehouse"),
    ("holder_repair_centre", "维修中心", "Repair centre"),
    ("holder_now", "当前持有人", "Held by"),
    ("held_since", "持有起始", "Held since"),
    ("custody", "交接记录", "Chain of custody"),
    ("giver", "交出方", "From"),
    ("receiver", "接收方", "To"),
    ("place", "地点", "Place"),
    ("confirmed_by", "确认", "Confirmed by"),
    ("held_too_long", "外勤人员持有超过 7 天的终端", "Terminals held by an agent for more than 7 days"),
    (
        "recalled_not_checked_in",
        "回收后 14 天未入库的终端",
        "Recalled terminals not checked in within 14 days",
    ),
    ("repair_overdue", "超过承诺日期未修回的终端", "Repairs not back by the promised day"),
    ("days_held", "持有天数", "Days held"),
    ("holder", "持有人", "Holder"),
    ("cause_check_in", "入库登记", "Check-in"),
    ("cause_import", "登记表导入", "Register import"),
    ("inspection_due", "超过 12 个月未巡检的终端", "Terminals not inspected for 12 months"),
    ("last_inspected", "上次巡检（或投入使用）", "Last inspected (or in service since)"),
    ("days_since", "已过天数", "Days since"),
    ("lifecycle", "状态变更", "Lifecycle"),
    ("event", "变更", "Change"),
    ("from_state", "原状态", "From"),
    ("to_state", "新状态", "To"),
    ("caused_by", "来源", "Caused by"),
    ("cause_visit_approved", "工单审核通过", "Visit approved"),
    ("cause_application_approved", "复机申请批准", "Application approved"),
    ("register_effects", "审核通过后终端登记表的变更", "What approval changes in the terminal register"),
    (
        "register_effects_applied",
        "本工单对终端登记表的变更已生效",
        "This visit's changes to the register were applied",
    ),
    (
        "register_refused",
        "终端状态不允许本工单的变更，不能审核通过：",
        "The terminal's state does not allow this visit's changes; it cannot be approved: ",
    ),
    ("register_conflicts", "本工单与终端登记表不符：", "The visit contradicts the terminal register: "),
    (
        "correct_register",
        "我已核实，审核通过时按本工单更正登记表",
        "I checked: correct the register from this visit on approval",
    ),
    ("incomplete_blobs", "照片未到齐的工单", "Visits incomplete because photos have not arrived"),
    ("waiting_review", "待审核", "Waiting for review"),
    ("returned", "已退回", "Returned"),
    ("expired", "已过期", "expired"),
    ("days_left", "剩余天数", "Days left"),
    ("repairs", "维修次数", "Repairs"),
    ("missing", "缺少", "Missing"),
    ("application", "申请状态", "Application"),
    ("cause", "停用原因", "Cause of suspension"),
    ("materials", "申请材料", "Materials"),
    ("approve_application", "批准", "Approve"),
    ("reject_application", "驳回", "Reject"),
    ("reject_reason", "驳回原因", "Reason for rejecting"),
    ("certificate", "验收单 PDF", "Acceptance certificate (PDF)"),
    ("verify_page", "商户核验页", "Merchant's verification page"),
    ("forbidden", "需要管理员权限", "Only an administrator may open this page"),
    ("not_found", "找不到该记录", "Not found"),
    ("refused", "操作被拒绝", "Refused"),
    ("bad_form", "表单已过期，请刷新页面后重试", "The form expired; reload the page and try again"),
    ("devices", "设备", "Devices"),
    ("device", "设备", "Device"),
    ("enrolled_at", "绑定时间", "Enrolled"),
    ("credential_until", "凭证有效期至", "Credential valid until"),
    ("app_version", "应用版本", "App version"),
    ("schema_version", "工单格式版本", "Visit schema"),
    ("protocol", "同步协议", "Sync protocol"),
    ("version_since", "该版本首次同步", "First synced with it"),
    ("not_synced_since", "尚未同步", "Not synced yet"),
    ("below_minimum", "低于最低版本", "Below the minimum"),
    ("minimum_app_version", "最低应用版本", "Minimum app version"),
    ("revoked", "已吊销", "Revoked"),
    ("wipe", "远程清除…", "Wipe…"),
    ("wipe_confirm", "确认清除这部手机", "Wipe this phone"),
    (
        "wipe_means",
        "清除后，这部手机下次联网时会先把尚未同步的工作发给服务器，然后销毁本机密钥：手机上的工单、照片和签名从此无法读取，它的凭证同时吊销。无法撤销。只在手机丢失或被盗时使用；若只想停止同步，请吊销。",
        "At its next contact the phone first sends the work it has not synced, then destroys its keys: the visits, photos and signatures left on it can no longer be read, and its credential is revoked. This cannot be undone. Use it for a lost or stolen phone; to only stop its syncs, revoke it instead.",
    ),
    ("wipe_requested", "已要求清除", "Wipe asked"),
    ("device_key", "设备密钥", "Device key"),
    ("earlier_keys", "已更换次数", "keys replaced:"),
    ("rotate_key", "更换密钥", "Rotate key"),
    (
        "rotate_key_means",
        "手机下次同步时生成新的设备密钥并用旧密钥证明；此前签的字仍由当时的密钥核验。",
        "At its next sync the phone makes a new device key, vouched for by the old one; acceptances signed before stay verified by the key that made them.",
    ),
    ("key_rotation_requested", "已要求更换密钥", "Key rotation asked"),
    ("wiped", "已清除", "Wiped"),
    ("role_admin", "管理员", "Administrator"),
    ("role_reviewer", "审核员", "Reviewer"),
    ("yes", "是", "yes"),
    ("no", "否", "no"),
    ("open", "查看", "Open"),
    ("count", "数量", "Count"),
    ("by", "操作人", "By"),
    ("when", "时间", "When"),
    ("action", "操作", "Action"),
    ("detail", "详情", "Detail"),
    ("warranty", "保修状态", "Warranty"),
    ("repair_plan", "维修方案", "Repair plan"),
    ("fee", "费用（元）", "Fee (yuan)"),
    ("backup", "数据备份", "Data backup"),
    ("label_details", "终端铭牌", "Terminal label"),
    ("new_label_details", "新终端铭牌", "New terminal's label"),
    ("age_years", "年", "years old"),
    ("parameters", "参数配置", "Parameters"),
    ("parameters_ok", "参数和密钥已下载", "parameters and keys downloaded"),
    ("parameters_missing", "参数或密钥未下载", "parameters or keys not downloaded"),
    ("network_test", "网络测试", "Network test"),
    ("passed", "通过", "passed"),
    ("failed", "未通过", "failed"),
    ("restore", "数据恢复", "Data restored"),
    ("backup_waiver", "商户拒绝备份（已签字）", "Backup declined by the merchant (signed)"),
    ("unbind_reference", "解绑流水号", "Unbinding reference"),
    ("settled_balance", "结清金额（元）", "Settled balance (yuan)"),
    ("follow_up", "回访日期", "Follow-up day"),
    ("handover", "终端交接", "Hand-over"),
    ("checklist_edition", "检查清单版本", "Checklist edition"),
    ("notes", "备注", "Notes"),
    ("completed_at", "完成时间", "Completed"),
    ("signed_at", "签字时间", "Signed"),
    ("outbox", "商户通知", "Merchant messages"),
    ("outbox_sender", "发送方式", "Sent by"),
    ("outbox_sender_keep", "仅保存在后台（未配置发送）", "Kept here only (no sender configured)"),
    ("outbox_sender_sms", "短信网关", "SMS gateway"),
    ("outbox_sender_webhook", "公司系统（Webhook）", "The company's systems (webhook)"),
    ("outbox_event", "通知事项", "Event"),
    ("outbox_recipient", "接收手机号", "Recipient"),
    ("outbox_attempts", "尝试次数", "Attempts"),
    ("outbox_next_try", "下次尝试", "Next try"),
    ("outbox_last_error", "最近错误", "Last error"),
    ("outbox_delivered_at", "送达时间", "Delivered"),
    ("outbox_pending", "待发送", "Pending"),
    ("outbox_sending", "发送中", "Sending"),
    ("outbox_delivered", "已送达", "Delivered"),
    ("outbox_failed", "发送失败（已放弃）", "Failed (given up)"),
    ("outbox_no_recipient", "无注册手机号（不发送）", "No registered phone (not sent)"),
    (
        "new_visit_hint",
        "派单后，业务员下次同步时在手机上看到该工单。",
        "The agent sees the visit on the phone at the next sync.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_words_and_appears_once() {
        let mut seen = std::collections::HashSet::new();
        for (key, zh, en) in WORDS {
            assert!(seen.insert(*key), "duplicate key {key}");
            assert!(!zh.is_empty() && !en.is_empty(), "{key}");
        }
    }

    #[test]
    fn every_key_the_templates_use_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/office");
        let mut used = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for part in text.split("t(\"").skip(1) {
                let key = &part[..part.find('"').unwrap()];
                assert_ne!(Lang::Zh.t(key), "?", "the key {key:?} has no words");
                used += 1;
            }
        }
        assert!(used > 50, "only {used} keys found in the templates");
    }
}
