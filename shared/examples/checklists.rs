//! Prints every visit kind's checklist and the fault taxonomy, in zh-CN and
//! English, as the agent app shows them. `--en` prints English only.
#![allow(clippy::print_stdout)]

use posfield_shared::checklist::{Condition, Need, Requirement};
use posfield_shared::fault::{FAULTS, FaultCategory, faults_in};
use posfield_shared::vocab::Term;
use posfield_shared::{FaultCode, VisitKind};

fn main() {
    let english_only = std::env::args().any(|a| a == "--en");
    let label = |zh: &str, en: &str| if english_only { en.to_owned() } else { format!("{zh}  {en}") };
    println!("Posfield visit checklists ({} kinds)\n", VisitKind::ALL.len());
    for kind in VisitKind::ALL {
        let template = kind.template();
        println!("■ {}  [{}]", label(kind.zh(), kind.en()), kind.code());
        for (index, step) in template.steps.iter().enumerate() {
            let mut marks = Vec::new();
            if step.need == Need::Optional {
                marks.push("optional".to_owned());
            }
            if !step.skippable {
                marks.push("cannot skip".to_owned());
            }
            if step.when != Condition::Always {
                marks.push(format!("when {:?}", step.when));
            }
            marks.extend(step.requires.iter().map(|r: &Requirement| r.code()));
            let marks = if marks.is_empty() { String::new() } else { format!("  ({})", marks.join(", ")) };
            println!("  {:>2}. {:<22} {}{}", index + 1, step.id, label(step.zh, step.en), marks);
        }
        println!();
    }
    println!("■ Faults ({} codes)", FAULTS.len());
    for category in FaultCategory::ALL {
        println!("  {}", label(category.zh(), category.en()));
        for code in faults_in(*category) {
            let remedies: Vec<&str> = FaultCode::recommended_remedies(code)
                .iter()
                .map(|r| if english_only { r.en() } else { r.zh() })
                .collect();
            println!("    - {:<22} {}  → {}", code.code(), label(code.zh(), code.en()), remedies.join(" → "));
        }
    }
}
