//! The zh-CN words for the field's things: one list, which the app's
//! words (`app/ui/src/i18n.ts`), the back office's pages and messages, the
//! certificate, the merchant's verification page and this crate's
//! vocabulary all follow. `tidy/tests/terms.rs` fails on a word this list
//! replaces anywhere user-facing Chinese is written, and on half-width
//! brackets in Chinese text (（）, not ()).

/// One term: the word used, and the words it replaces.
#[derive(Debug, Clone, Copy)]
pub struct ZhTerm {
    /// The word every screen and document uses.
    pub term: &'static str,
    /// What it names, in English.
    pub means: &'static str,
    /// Words for the same thing that must not appear.
    pub instead_of: &'static [&'static str],
}

/// The list (the words the field uses, `DOMAIN.md`).
pub const ZH_TERMS: &[ZhTerm] = &[
    ZhTerm { term: "工单", means: "a unit of work: a visit", instead_of: &["任务", "走访"] },
    ZhTerm { term: "到期换机", means: "replacing an expired terminal", instead_of: &["过期更换"] },
    ZhTerm {
        term: "复机",
        means: "reactivating a suspended terminal",
        instead_of: &["停用后恢复", "重新激活"],
    },
    ZhTerm { term: "巡检", means: "the yearly inspection", instead_of: &["定期检查", "年检"] },
    ZhTerm { term: "机具", means: "the terminal as equipment", instead_of: &["POS设备", "刷卡设备"] },
    ZhTerm { term: "解绑", means: "unbinding a terminal from its merchant", instead_of: &["解除绑定"] },
    ZhTerm { term: "注销", means: "deregistering a terminal", instead_of: &["注消"] },
    ZhTerm {
        term: "流量卡",
        means: "the terminal's SIM data card",
        instead_of: &["SIM卡", "SIM 卡", "物联网卡"],
    },
];
