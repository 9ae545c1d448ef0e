//! `live-trading models inspect`: a run as a human-readable listing — per
//! target its horizon and role, per model its id, view, family, format,
//! features, checksum, warm-up and status — then the engine's feature
//! vector, warnings and a summary. Errors are kept apart so the command can
//! print them on stderr.
//!
//! Cold path: the `models inspect` command only.

use std::fmt::{self, Write as _};
use std::path::Path;

use super::error::{ArtifactError, ArtifactErrors};
use super::scan::{ModelStatus, RunScan, TargetStatus};
use super::{ModelInput, ModelPlan, PlanSettings};
use crate::models::backend::Backend;
use crate::models::predict::Predictors;
use crate::types::ModelId;

/// A scanned run and its plan (or every error that refuses it), and,
/// once [`Inspection::load_backends`] ran, its model files opened as
/// start-up opens them.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    pub scan: RunScan,
    pub plan: Result<ModelPlan, ArtifactErrors>,
    /// One description per model id, or every model file that does not
    /// load; `None` until loaded (or when the plan failed).
    pub backends: Option<Result<Vec<String>, ArtifactErrors>>,
}

impl Inspection {
    /// Scan `run_root` and try to build its plan.
    pub fn run(run_root: &Path, settings: &PlanSettings) -> Inspection {
        let scan = RunScan::scan(run_root, settings);
        let plan = ModelPlan::from_scan(&scan);
        Inspection {
            scan,
            plan,
            backends: None,
        }
    }

    /// Open every model file of the plan through its back-end, as start-up
    /// does (parse, map, check widths and names). Nothing to do when the
    /// plan failed.
    pub fn load_backends(&mut self) {
        if let Ok(plan) = &self.plan {
            self.backends = Some(Predictors::load(plan, self.scan.settings.history_bars).map(
                |p| {
                    (0..p.len())
                        .filter_map(|i| p.backend(ModelId(i as u16)).map(Backend::describe))
                        .collect()
                },
            ));
        }
    }

    /// Whether the engine would start with this run (as far as inspected).
    pub fn is_loadable(&self) -> bool {
        self.errors().is_empty()
    }

    /// Every error, empty when loadable.
    pub fn errors(&self) -> Vec<&ArtifactError> {
        let backend_errors = match &self.backends {
            Some(Err(errors)) => errors.0.as_slice(),
            _ => &[],
        };
        self.scan.errors.iter().chain(backend_errors).collect()
    }
}

/// The listing (without the errors, which [`ArtifactErrors`] displays).
impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scan = &self.scan;
        let s = &scan.settings;
        let plan = self.plan.as_ref().ok();
        writeln!(f, "run: {}", scan.run_root.display())?;
        writeln!(
            f,
            "settings: horizons {}; bar_minutes {}; history_bars {}; checksums {}",
            s.horizons.labels().collect::<Vec<_>>().join(","),
            s.bar_minutes,
            s.history_bars,
            match (s.verify_checksums, s.strict_checksums) {
                (false, _) => "not verified",
                (true, true) => "verified, strict",
                (true, false) => "verified, not strict (problems are warnings)",
            }
        )?;

        let rows = table_rows(scan, plan);
        let width = |col: usize| {
            rows.iter()
                .map(|r| r[col].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..HEADER.len())
            .map(|c| width(c).max(HEADER[c].len()))
            .collect();
        let mut row_iter = rows.iter();
        for target in &scan.targets {
            writeln!(f)?;
            let models = match &target.status {
                TargetStatus::Ignored(reason) => {
                    writeln!(f, "target {}: ignored: {reason}", target.name)?;
                    continue;
                }
                TargetStatus::Used {
                    horizon,
                    role,
                    models,
                } => {
                    writeln!(
                        f,
                        "target {}: horizon {}, {}",
                        target.name,
                        s.horizons.get(*horizon).label,
                        role.as_str()
                    )?;
                    models
                }
            };
            write_row(f, &HEADER.map(str::to_owned), &widths)?;
            for model in models {
                if let Some(row) = row_iter.next() {
                    write_row(f, row, &widths)?;
                }
                if let ModelStatus::Loadable(l) = &model.status {
                    if let ModelInput::RawWindow { normalization, .. } = l.input {
                        let channels: Vec<&str> = l
                            .meta
                            .sequence_channels
                            .iter()
                            .map(|c| c.column())
                            .collect();
                        writeln!(
                            f,
                            "      input: {} bars, normalised as {}",
                            channels.join("/"),
                            normalization.name()
                        )?;
                    }
                    if !l.features.is_empty() {
                        let names: Vec<&str> = l.features.iter().filter_map(|x| x.name()).collect();
                        writeln!(f, "      features: {}", names.join(", "))?;
                    }
                }
            }
        }

        writeln!(f)?;
        let (ignored, skipped) = scan.counts();
        match plan {
            Some(plan) => {
                let names = plan.feature_names();
                writeln!(
                    f,
                    "feature vector ({}): {}",
                    names.len(),
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                )?;
                writeln!(f, "warm-up: {} bars", plan.warmup_bars())?;
                match &self.backends {
                    None => writeln!(f, "model files: not opened")?,
                    Some(Err(errors)) => writeln!(
                        f,
                        "model files: {} do not load (see the errors)",
                        count(errors.len(), "model")
                    )?,
                    Some(Ok(descriptions)) => {
                        writeln!(f, "model files: all {} opened", descriptions.len())?;
                        for (m, d) in plan.models().iter().zip(descriptions) {
                            writeln!(f, "  {:>3} {}: {d}", m.id.0, m.name)?;
                        }
                    }
                }
                let barrier = plan.barrier_models().count();
                writeln!(
                    f,
                    "summary: {} loadable ({} return, {barrier} barrier), {} skipped, {} ignored",
                    count(plan.len(), "model"),
                    plan.len() - barrier,
                    count(skipped, "model"),
                    count(ignored, "target"),
                )?;
            }
            None => writeln!(
                f,
                "summary: not loadable: {}; {} skipped, {} ignored",
                count(scan.errors.len(), "error"),
                count(skipped, "model"),
                count(ignored, "target"),
            )?,
        }
        if !scan.warnings.is_empty() {
            writeln!(f, "warnings:")?;
            for w in &scan.warnings {
                writeln!(f, "  {w}")?;
            }
        }
        Ok(())
    }
}

const HEADER: [&str; 8] = [
    "id", "family", "view", "format", "features", "checksum", "warm-up", "status",
];

/// One row per model of a used target, in listing order.
fn table_rows(scan: &RunScan, plan: Option<&ModelPlan>) -> Vec<[String; 8]> {
    let mut rows = Vec::new();
    for target in &scan.targets {
        let TargetStatus::Used { models, .. } = &target.status else {
            continue;
        };
        for m in models {
            let dash = || "-".to_owned();
            let id = plan
                .and_then(|p| p.id_of(&format!("{}/{}", target.name, m.family)))
                .map_or_else(dash, |id| id.0.to_string());
            let mut row = [
                id,
                m.family.clone(),
                m.view.name().to_owned(),
                dash(),
                dash(),
                dash(),
                dash(),
                String::new(),
            ];
            match &m.status {
                ModelStatus::Loadable(l) => {
                    row[3] = l.format.name().to_owned();
                    row[4] = match l.input {
                        ModelInput::Row => l.features.len().to_string(),
                        ModelInput::FeatureWindow { length } => {
                            format!("{}x{length} rows", l.features.len())
                        }
                        ModelInput::RawWindow { length, .. } => format!("raw x{length} bars"),
                    };
                    row[5] = l.checksum.label().to_owned();
                    row[6] = l.warmup_bars.to_string();
                    let mut status = "loadable".to_owned();
                    if l.meta.cross_sectional_ranking {
                        status.push_str(", cross-sectional ranking");
                    }
                    if let Some(ic) = l.meta.ic {
                        let _ = write!(status, ", ic {ic}");
                    }
                    row[7] = status;
                }
                ModelStatus::Skipped(reason) => row[7] = format!("skipped: {reason}"),
                ModelStatus::Failed => row[7] = "ERROR (see the errors)".to_owned(),
            }
            rows.push(row);
        }
    }
    rows
}

fn write_row(f: &mut fmt::Formatter<'_>, row: &[String; 8], widths: &[usize]) -> fmt::Result {
    let mut line = String::from("  ");
    for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
        if i + 1 == row.len() {
            line.push_str(cell);
        } else {
            let _ = write!(line, "{cell:<w$}  ");
        }
    }
    writeln!(f, "{}", line.trim_end())
}

/// `1 model`, `2 models`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
