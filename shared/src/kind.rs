//! The seven kinds of visit an agent makes.

use crate::vocab::vocabulary;

vocabulary! {
    /// What a visit is for. Each kind has its own checklist template
    /// (see [`crate::checklist`]).
    pub enum VisitKind {
        /// 装机 / 新装: a new terminal at a new merchant.
        Installation = ("installation", "装机", "Installation"),
        /// 到期换机: replace a terminal past its service life.
        Replacement = ("replacement", "到期换机", "Replacement of an expired terminal"),
        /// 维修 / 损坏: repair a faulty or damaged terminal.
        Repair = ("repair", "维修", "Repair"),
        /// 复机: bring a suspended terminal back into service.
        Reactivation = ("reactivation", "复机", "Reactivation after suspension"),
        /// 注销 / 撤机: deregister and take the terminal back.
        Deregistration = ("deregistration", "注销撤机", "Deregistration"),
        /// 流量卡到期: renew or replace the SIM data card.
        SimRenewal = ("sim_renewal", "流量卡续费", "SIM data card renewal"),
        /// 巡检: preventive inspection, at least yearly.
        Inspection = ("inspection", "巡检", "Preventive inspection"),
    }
}
