//! LightGBM text models (`model.txt`, format `version=v3`/`v4`, as written by
//! `booster.save_model`): parsed at start-up into a flat [`TreeEnsemble`],
//! then predicted one row at a time on the engine thread.
//!
//! Loading ([`LightGbmModel::load`]) is cold and fails closed: anything the
//! engine cannot evaluate exactly as LightGBM does — multiclass, categorical
//! splits, linear trees, objectives with another output transform, a custom
//! objective, an unknown header line — and anything damaged — truncation,
//! garbage, indices out of range, counts that disagree — is a
//! [`LightGbmError`] naming the file, the line and the fix.
//!
//! Prediction ([`Predictor::predict`]) is hot path: no allocation, no
//! blocking, no logging. It reproduces LightGBM's `Booster.predict` on a
//! float32 row (see `tree.rs` for the split rules): the trees are summed in
//! file order, divided by the tree count for random-forest models
//! (`average_output`), then the `binary` objective applies
//! `1 / (1 + exp(-sigmoid * raw))` with the file's `sigmoid:` parameter;
//! regression objectives return the sum itself (LightGBM folds the initial
//! score into the first tree, so there is no separate init score).

use std::fmt;
use std::path::{Path, PathBuf};

use super::tree::{
    ChildRef, Node, TreeEnsemble, TreeError, TreeView, DECISION_BITS, LEAF_BIT, MAX_INDEX,
    MISSING_NAN, MISSING_TYPE_MASK,
};
use super::Predictor;

/// How the raw tree sum becomes the model's output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// A regression objective with the identity transform (`regression`,
    /// `regression_l1`, `huber`, `fair`, `quantile`, `mape`).
    Regression,
    /// `binary`: the probability `1 / (1 + exp(-sigmoid * raw))`.
    Binary {
        /// The file's `sigmoid:` parameter (> 0).
        sigmoid: f64,
    },
}

/// Regression objectives whose output is the raw score.
const IDENTITY_OBJECTIVES: [&str; 6] = [
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "quantile",
    "mape",
];

/// Header keys of the v3/v4 format. Any other header line is refused.
const HEADER_KEYS: [&str; 10] = [
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "feature_names",
    "monotone_constraints",
    "feature_infos",
    "tree_sizes",
];

/// Keys of a `Tree=` block. Any other key is refused.
const TREE_KEYS: [&str; 22] = [
    "num_leaves",
    "num_cat",
    "split_feature",
    "split_gain",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "leaf_value",
    "leaf_weight",
    "leaf_count",
    "internal_value",
    "internal_weight",
    "internal_count",
    "cat_boundaries",
    "cat_threshold",
    "is_linear",
    "leaf_const",
    "num_features",
    "leaf_features",
    "leaf_coeff",
    "shrinkage",
];

const END_OF_TREES: &str = "end of trees";
const PARAMETERS: &str = "parameters:";
const END_OF_PARAMETERS: &str = "end of parameters";

/// A model file the engine refuses, with where and why.
#[derive(Debug)]
pub struct LightGbmError {
    /// The model file.
    pub path: PathBuf,
    /// 1-based line of the offending text, where there is one.
    pub line: Option<usize>,
    /// What is wrong (its message ends with the fix).
    pub kind: LightGbmErrorKind,
}

impl fmt::Display for LightGbmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LightGBM model {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for LightGbmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// The fix for a file that was damaged after LightGBM wrote it.
const REEXPORT: &str =
    "the file is damaged; re-export it with `booster.save_model` and copy it again";

/// What is wrong with a model file. Every message ends with the fix.
#[derive(Debug, thiserror::Error)]
pub enum LightGbmErrorKind {
    #[error(
        "cannot read the file ({0}); fix: check that the run directory is complete and readable"
    )]
    Io(#[source] std::io::Error),
    #[error("the file is empty; fix: copy the `model.txt` written by `booster.save_model` again")]
    Empty,
    #[error(
        "not a text file (byte {offset} is not UTF-8); fix: point the run at the `model.txt` \
         written by LightGBM's `booster.save_model`"
    )]
    NotText { offset: usize },
    #[error(
        "not a LightGBM text model: the first line is `{found}`, expected `tree`; fix: point \
         the run at the `model.txt` written by LightGBM's `booster.save_model`"
    )]
    NotAModel { found: String },
    #[error(
        "the file is truncated: no `{marker}` line; fix: copy the complete file again, or \
         re-export it with `booster.save_model`"
    )]
    Truncated { marker: &'static str },
    #[error(
        "model format `version={found}` is not supported (v3 and v4 are); fix: re-export with \
         LightGBM >= 3 (`booster.save_model`)"
    )]
    UnsupportedVersion { found: String },
    #[error(
        "unexpected line `{found}`; fix: re-export with LightGBM 4 (`booster.save_model`); if \
         it already is, this engine does not know that line yet"
    )]
    UnexpectedLine { found: String },
    #[error("the header has no `{key}=` line; fix: {REEXPORT}")]
    MissingHeaderKey { key: &'static str },
    #[error("tree {tree} has no `{key}=` line; fix: {REEXPORT}")]
    MissingTreeKey { tree: usize, key: &'static str },
    #[error("`{key}` appears twice; fix: {REEXPORT}")]
    DuplicateKey { key: String },
    #[error("`{key}` has `{found}`, expected {expected}; fix: {REEXPORT}")]
    BadValue {
        key: String,
        found: String,
        expected: &'static str,
    },
    #[error(
        "multiclass models are not supported (num_class={num_class}, \
         num_tree_per_iteration={trees_per_iteration}); fix: train one regression or binary \
         model per target"
    )]
    Multiclass {
        num_class: i64,
        trees_per_iteration: i64,
    },
    #[error(
        "objective `{objective}` is not supported (supported: regression, regression_l1, \
         huber, fair, quantile, mape without reg_sqrt, and binary); fix: retrain with one of \
         those objectives"
    )]
    UnsupportedObjective { objective: String },
    #[error(
        "the header has no `objective=` line (a custom objective), so the output transform is \
         unknown; fix: train with a built-in objective (regression or binary)"
    )]
    CustomObjective,
    #[error(
        "tree {tree} has categorical splits, which are not supported; fix: retrain without \
         `categorical_feature`, with categories encoded as numeric features"
    )]
    Categorical { tree: usize },
    #[error(
        "tree {tree} is a linear tree, which is not supported; fix: retrain with \
         `linear_tree=false`"
    )]
    LinearTree { tree: usize },
    #[error("the model has no trees; fix: train at least one boosting round and re-export")]
    NoTrees,
    #[error("expected `Tree={expected}`, found `{found}`; fix: {REEXPORT}")]
    TreeOutOfOrder { expected: usize, found: String },
    #[error("`tree_sizes` lists {declared} trees but the file has {found}; fix: {REEXPORT}")]
    TreeCount { declared: usize, found: usize },
    #[error(
        "`feature_names` has {names} names but `max_feature_idx` says {n_features} features; \
         fix: {REEXPORT}"
    )]
    FeatureCount { names: usize, n_features: usize },
    #[error("tree {tree}: `{key}` has {found} values, expected {expected}; fix: {REEXPORT}")]
    ArrayLength {
        tree: usize,
        key: &'static str,
        found: usize,
        expected: usize,
    },
    #[error(
        "tree {tree}, node {node} splits on feature {feature}, but the model has {n_features} \
         features; fix: {REEXPORT}"
    )]
    FeatureOutOfRange {
        tree: usize,
        node: usize,
        feature: i64,
        n_features: usize,
    },
    #[error(
        "tree {tree}, node {node}: {side} child {child} is out of range for a tree of \
         {num_leaves} leaves; fix: {REEXPORT}"
    )]
    ChildOutOfRange {
        tree: usize,
        node: usize,
        side: &'static str,
        child: i64,
        num_leaves: usize,
    },
    #[error("the trees do not form a valid ensemble ({0}); fix: {REEXPORT}")]
    Ensemble(#[source] TreeError),
    #[error("tree {tree} is not a valid tree ({source}); fix: {REEXPORT}")]
    Structure {
        tree: usize,
        #[source]
        source: TreeError,
    },
    #[error(
        "the model expects {found} features but `model_meta.json` lists {expected}; fix: \
         export the model and its `model_meta.json` from the same training run"
    )]
    FeatureListLength { expected: usize, found: usize },
    #[error(
        "feature {index} is `{found}` in the model but `{expected}` in `model_meta.json`; fix: \
         export the model and its `model_meta.json` from the same training run"
    )]
    FeatureName {
        index: usize,
        expected: String,
        found: String,
    },
}

/// A loaded LightGBM model: one regression or binary booster.
#[derive(Debug, Clone)]
pub struct LightGbmModel {
    path: PathBuf,
    ensemble: TreeEnsemble,
    objective: Objective,
    /// `Some(tree count)` for `average_output` (random forest) models.
    average_over: Option<f64>,
    feature_names: Vec<String>,
}

impl LightGbmModel {
    /// Reads and parses `path`. Cold: allocates, reads the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LightGbmError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| LightGbmError {
            path: path.to_path_buf(),
            line: None,
            kind: LightGbmErrorKind::Io(e),
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses file contents; `path` only names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, LightGbmError> {
        let fail = |kind| LightGbmError {
            path: path.to_path_buf(),
            line: None,
            kind,
        };
        if bytes.is_empty() {
            return Err(fail(LightGbmErrorKind::Empty));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            fail(LightGbmErrorKind::NotText {
                offset: e.valid_up_to(),
            })
        })?;
        Self::parse(text, path)
    }

    /// Parses the text of a model file; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LightGbmError> {
        Parser::new(text, path).model()
    }

    /// The file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The flat trees.
    pub fn ensemble(&self) -> &TreeEnsemble {
        &self.ensemble
    }

    /// The output transform.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Whether the sum is averaged over the trees (`average_output`, random
    /// forest).
    pub fn averages_output(&self) -> bool {
        self.average_over.is_some()
    }

    /// Feature names in input order, as the model file lists them.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Checks the model against `model_meta.json`'s `feature_list`: the
    /// counts must match, and so must the names unless the model carries
    /// LightGBM's placeholder names (`Column_0`, `Column_1`, …, from training
    /// on an unnamed array).
    pub fn check_feature_list<S: AsRef<str>>(
        &self,
        feature_list: &[S],
    ) -> Result<(), LightGbmError> {
        let fail = |kind| LightGbmError {
            path: self.path.clone(),
            line: None,
            kind,
        };
        if feature_list.len() != self.feature_names.len() {
            return Err(fail(LightGbmErrorKind::FeatureListLength {
                expected: feature_list.len(),
                found: self.feature_names.len(),
            }));
        }
        let placeholders = self
            .feature_names
            .iter()
            .enumerate()
            .all(|(i, name)| name.strip_prefix("Column_") == Some(i.to_string().as_str()));
        if placeholders {
            return Ok(());
        }
        for (index, (expected, found)) in feature_list.iter().zip(&self.feature_names).enumerate() {
            if expected.as_ref() != found {
                return Err(fail(LightGbmErrorKind::FeatureName {
                    index,
                    expected: expected.as_ref().to_string(),
                    found: found.clone(),
                }));
            }
        }
        Ok(())
    }

    /// LightGBM's raw score of an `f32` row: the tree sum, before averaging
    /// and the output transform (`predict(..., raw_score=True)`); `None`
    /// when the row length is wrong. Hot path.
    #[inline]
    pub fn raw_f32(&self, row: &[f32]) -> Option<f64> {
        self.ensemble.sum_f32(row)
    }

    /// As [`Self::raw_f32`] for an `f64` row.
    #[inline]
    pub fn raw_f64(&self, row: &[f64]) -> Option<f64> {
        self.ensemble.sum_f64(row)
    }

    /// The model output (see the module doc) for an `f32` row; `None` when
    /// the row length is wrong. Hot path.
    #[inline]
    pub fn predict_f32(&self, row: &[f32]) -> Option<f64> {
        self.raw_f32(row).map(|raw| self.output(raw))
    }

    /// As [`Self::predict_f32`] for an `f64` row.
    #[inline]
    pub fn predict_f64(&self, row: &[f64]) -> Option<f64> {
        self.raw_f64(row).map(|raw| self.output(raw))
    }

    /// Raw score → output: the average (random forests), then the transform.
    #[inline]
    fn output(&self, raw: f64) -> f64 {
        self.transform(self.average(raw))
    }

    #[inline]
    fn average(&self, sum: f64) -> f64 {
        match self.average_over {
            Some(n) => sum / n,
            None => sum,
        }
    }

    #[inline]
    fn transform(&self, raw: f64) -> f64 {
        match self.objective {
            Objective::Regression => raw,
            Objective::Binary { sigmoid } => 1.0 / (1.0 + (-sigmoid * raw).exp()),
        }
    }
}

impl Predictor for LightGbmModel {
    fn n_features(&self) -> usize {
        self.ensemble.n_features()
    }

    fn predict(&mut self, row: &[f32]) -> Option<f64> {
        self.predict_f32(row)
    }
}

/// One `key=value` line.
#[derive(Clone, Copy)]
struct Entry<'a> {
    line: usize,
    key: &'a str,
    value: &'a str,
}

/// The header's values.
struct Header {
    n_features: usize,
    objective: Objective,
    average_output: bool,
    feature_names: Vec<String>,
    tree_sizes: Option<(usize, usize)>,
}

struct Parser<'a> {
    path: &'a Path,
    /// `(1-based line number, line without its line ending)`.
    lines: Vec<(usize, &'a str)>,
    at: usize,
}

/// A short, printable excerpt of untrusted text for an error message.
fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for c in text.chars().take(MAX) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, path: &'a Path) -> Self {
        let lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .collect();
        Parser { path, lines, at: 0 }
    }

    fn err(&self, line: Option<usize>, kind: LightGbmErrorKind) -> LightGbmError {
        LightGbmError {
            path: self.path.to_path_buf(),
            line,
            kind,
        }
    }

    fn model(mut self) -> Result<LightGbmModel, LightGbmError> {
        let first = self.lines.first().map_or("", |&(_, l)| l);
        if first.trim() != "tree" {
            let found = excerpt(first);
            return Err(self.err(Some(1), LightGbmErrorKind::NotAModel { found }));
        }
        self.check_complete()?;
        self.at = 1;
        let header = self.header()?;
        let ensemble = self.trees(&header)?;
        let n_trees = ensemble.n_trees();
        Ok(LightGbmModel {
            path: self.path.to_path_buf(),
            ensemble,
            objective: header.objective,
            average_over: header.average_output.then_some(n_trees as f64),
            feature_names: header.feature_names,
        })
    }

    /// Truncation first: a file cut anywhere inside the trees lacks the end
    /// marker, and that is the clearest thing to say about it.
    fn check_complete(&self) -> Result<(), LightGbmError> {
        let has = |marker: &str| self.lines.iter().any(|&(_, l)| l == marker);
        let marker = if !has(END_OF_TREES) {
            END_OF_TREES
        } else if has(PARAMETERS) && !has(END_OF_PARAMETERS) {
            END_OF_PARAMETERS
        } else {
            return Ok(());
        };
        let last = self.lines.last().map(|&(n, _)| n);
        Err(self.err(last, LightGbmErrorKind::Truncated { marker }))
    }

    /// The `Tree=` blocks up to `end of trees`, as one flat ensemble.
    fn trees(&mut self, header: &Header) -> Result<TreeEnsemble, LightGbmError> {
        let mut nodes = Vec::new();
        let mut leaves = Vec::new();
        let mut roots = Vec::new();
        // `check_complete` proved the end marker is there.
        while let Some(&(line, text)) = self.lines.get(self.at) {
            self.at += 1;
            if text.is_empty() {
                continue;
            }
            if text == END_OF_TREES {
                break;
            }
            let tree = roots.len();
            if text.strip_prefix("Tree=") != Some(tree.to_string().as_str()) {
                let found = excerpt(text);
                let kind = if text.starts_with("Tree=") {
                    LightGbmErrorKind::TreeOutOfOrder {
                        expected: tree,
                        found,
                    }
                } else {
                    LightGbmErrorKind::UnexpectedLine { found }
                };
                return Err(self.err(Some(line), kind));
            }
            let entries = self.tree_block()?;
            let root = self.tree(tree, line, &entries, header, &mut nodes, &mut leaves)?;
            roots.push(root);
        }
        if roots.is_empty() {
            return Err(self.err(None, LightGbmErrorKind::NoTrees));
        }
        if let Some((line, declared)) = header.tree_sizes {
            if declared != roots.len() {
                let found = roots.len();
                return Err(self.err(Some(line), LightGbmErrorKind::TreeCount { declared, found }));
            }
        }
        // Each tree was checked on its own, so this cannot fail; it is the
        // check the evaluation relies on, so it runs all the same.
        TreeEnsemble::new(header.n_features, nodes, leaves, roots)
            .map_err(|source| self.err(None, LightGbmErrorKind::Ensemble(source)))
    }

    /// A tree's `key=value` lines, from `self.at` up to an empty line,
    /// `Tree=` or the end marker. Unknown keys, bare words and duplicates
    /// are errors.
    fn tree_block(&mut self) -> Result<Vec<Entry<'a>>, LightGbmError> {
        let mut entries: Vec<Entry<'a>> = Vec::new();
        while let Some(&(line, text)) = self.lines.get(self.at) {
            if text.is_empty() || text.starts_with("Tree=") || text == END_OF_TREES {
                break;
            }
            self.at += 1;
            let (key, value) = match text.split_once('=') {
                Some((key, value)) if TREE_KEYS.contains(&key) => (key, value),
                _ => {
                    let found = excerpt(text);
                    return Err(self.err(Some(line), LightGbmErrorKind::UnexpectedLine { found }));
                }
            };
            if entries.iter().any(|e| e.key == key) {
                let key = key.to_string();
                return Err(self.err(Some(line), LightGbmErrorKind::DuplicateKey { key }));
            }
            entries.push(Entry { line, key, value });
        }
        Ok(entries)
    }

    fn header(&mut self) -> Result<Header, LightGbmError> {
        // `key=value` lines and the bare flag `average_output`, up to the
        // first tree.
        let mut entries: Vec<Entry<'a>> = Vec::new();
        let mut average_output = false;
        while let Some(&(line, text)) = self.lines.get(self.at) {
            if text.starts_with("Tree=") || text == END_OF_TREES {
                break;
            }
            self.at += 1;
            if text.is_empty() {
                continue;
            }
            let (key, value) = match text.split_once('=') {
                Some((key, value)) if HEADER_KEYS.contains(&key) => (key, value),
                None if text == "average_output" => (text, ""),
                _ => {
                    let found = excerpt(text);
                    return Err(self.err(Some(line), LightGbmErrorKind::UnexpectedLine { found }));
                }
            };
            if entries.iter().any(|e| e.key == key) {
                let key = key.to_string();
                return Err(self.err(Some(line), LightGbmErrorKind::DuplicateKey { key }));
            }
            average_output |= key == "average_output";
            entries.push(Entry { line, key, value });
        }
        let get = |key: &'static str| -> Result<Entry<'a>, LightGbmError> {
            entries
                .iter()
                .find(|e| e.key == key)
                .copied()
                .ok_or_else(|| self.err(None, LightGbmErrorKind::MissingHeaderKey { key }))
        };

        let version = get("version")?;
        if !matches!(version.value, "v3" | "v4") {
            return Err(self.err(
                Some(version.line),
                LightGbmErrorKind::UnsupportedVersion {
                    found: excerpt(version.value),
                },
            ));
        }
        let num_class = get("num_class")?;
        let num_class_v = self.int(num_class, "an integer >= 1")?;
        let per_iter = get("num_tree_per_iteration")?;
        let per_iter_v = self.int(per_iter, "an integer >= 1")?;
        if num_class_v != 1 || per_iter_v != 1 {
            return Err(self.err(
                Some(num_class.line),
                LightGbmErrorKind::Multiclass {
                    num_class: num_class_v,
                    trees_per_iteration: per_iter_v,
                },
            ));
        }
        let max_idx = get("max_feature_idx")?;
        let n_features = match self.int(max_idx, "an integer >= 0")? {
            v @ 0..=0x7fff_fffe => v as usize + 1,
            _ => return Err(self.bad(max_idx, "an integer from 0 to 2^31 - 2")),
        };
        let names = get("feature_names")?;
        let feature_names: Vec<String> = names
            .value
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect();
        if feature_names.len() != n_features {
            return Err(self.err(
                Some(names.line),
                LightGbmErrorKind::FeatureCount {
                    names: feature_names.len(),
                    n_features,
                },
            ));
        }
        let objective = match entries.iter().find(|e| e.key == "objective") {
            Some(&e) => self.objective(e)?,
            None => return Err(self.err(None, LightGbmErrorKind::CustomObjective)),
        };
        let tree_sizes = match entries.iter().find(|e| e.key == "tree_sizes") {
            Some(&e) => {
                let sizes = self.ints(e, "tree sizes (non-negative integers)")?;
                if sizes.iter().any(|&s| s < 0) {
                    return Err(self.bad(e, "tree sizes (non-negative integers)"));
                }
                Some((e.line, sizes.len()))
            }
            None => None,
        };
        Ok(Header {
            n_features,
            objective,
            average_output,
            feature_names,
            tree_sizes,
        })
    }

    fn objective(&self, e: Entry<'a>) -> Result<Objective, LightGbmError> {
        let unsupported = || {
            self.err(
                Some(e.line),
                LightGbmErrorKind::UnsupportedObjective {
                    objective: excerpt(e.value),
                },
            )
        };
        let mut tokens = e.value.split_ascii_whitespace();
        let name = tokens.next().ok_or_else(unsupported)?;
        if IDENTITY_OBJECTIVES.contains(&name) {
            // `sqrt` (reg_sqrt) or anything else changes the transform.
            return match tokens.next() {
                None => Ok(Objective::Regression),
                Some(_) => Err(unsupported()),
            };
        }
        if name != "binary" {
            return Err(unsupported());
        }
        let mut sigmoid = None;
        for token in tokens {
            match token.strip_prefix("sigmoid:").map(str::parse::<f64>) {
                Some(Ok(s)) if s.is_finite() && s > 0.0 && sigmoid.is_none() => sigmoid = Some(s),
                Some(_) => return Err(self.bad(e, "`binary sigmoid:<positive number>`")),
                None => return Err(unsupported()),
            }
        }
        match sigmoid {
            Some(sigmoid) => Ok(Objective::Binary { sigmoid }),
            None => Err(self.bad(e, "`binary sigmoid:<positive number>`")),
        }
    }

    /// Converts one `Tree=` block, appending its nodes and leaves with global
    /// indices; returns the tree's root reference.
    fn tree(
        &self,
        tree: usize,
        tree_line: usize,
        entries: &[Entry<'a>],
        header: &Header,
        nodes: &mut Vec<Node>,
        leaves: &mut Vec<f64>,
    ) -> Result<u32, LightGbmError> {
        let get = |key: &'static str| -> Result<Entry<'a>, LightGbmError> {
            entries
                .iter()
                .find(|e| e.key == key)
                .copied()
                .ok_or_else(|| {
                    self.err(
                        Some(tree_line),
                        LightGbmErrorKind::MissingTreeKey { tree, key },
                    )
                })
        };
        let num_leaves_e = get("num_leaves")?;
        let num_leaves = match self.int(num_leaves_e, "an integer >= 1")? {
            v @ 1..=0x7fff_ffff => v as usize,
            _ => return Err(self.bad(num_leaves_e, "an integer from 1 to 2^31 - 1")),
        };
        let num_cat = get("num_cat")?;
        match self.int(num_cat, "an integer >= 0")? {
            0 => {}
            v if v > 0 => {
                return Err(self.err(Some(num_cat.line), LightGbmErrorKind::Categorical { tree }))
            }
            _ => return Err(self.bad(num_cat, "an integer >= 0")),
        }
        if let Some(&e) = entries.iter().find(|e| e.key == "is_linear") {
            match self.int(e, "0 or 1")? {
                0 => {}
                1 => return Err(self.err(Some(e.line), LightGbmErrorKind::LinearTree { tree })),
                _ => return Err(self.bad(e, "0 or 1")),
            }
        }

        let leaf_e = get("leaf_value")?;
        let leaf_values = self.floats(leaf_e, "finite numbers")?;
        self.check_len(tree, leaf_e, "leaf_value", leaf_values.len(), num_leaves)?;
        if leaf_values.iter().any(|v| !v.is_finite()) {
            return Err(self.bad(leaf_e, "finite numbers"));
        }
        let (node_base, leaf_base) = (nodes.len(), leaves.len());
        if node_base + num_leaves > MAX_INDEX || leaf_base + num_leaves > MAX_INDEX {
            return Err(self.too_large(tree, tree_line));
        }
        if num_leaves == 1 {
            // LightGBM reads nothing else of a single-leaf tree.
            leaves.extend_from_slice(&leaf_values);
            return Ok(leaf_base as u32 | LEAF_BIT);
        }

        let n_nodes = num_leaves - 1;
        let feature_e = get("split_feature")?;
        let features = self.ints(feature_e, "feature indices")?;
        self.check_len(tree, feature_e, "split_feature", features.len(), n_nodes)?;
        let threshold_e = get("threshold")?;
        let thresholds = self.floats(threshold_e, "numbers")?;
        self.check_len(tree, threshold_e, "threshold", thresholds.len(), n_nodes)?;
        if thresholds.iter().any(|t| t.is_nan()) {
            return Err(self.bad(threshold_e, "numbers (not NaN)"));
        }
        let decision_e = get("decision_type")?;
        let decisions = self.ints(decision_e, "decision flags")?;
        self.check_len(tree, decision_e, "decision_type", decisions.len(), n_nodes)?;
        let left_e = get("left_child")?;
        let lefts = self.ints(left_e, "child indices")?;
        self.check_len(tree, left_e, "left_child", lefts.len(), n_nodes)?;
        let right_e = get("right_child")?;
        let rights = self.ints(right_e, "child indices")?;
        self.check_len(tree, right_e, "right_child", rights.len(), n_nodes)?;

        // Build the tree with local indices (LightGBM's own numbering, so
        // structure errors name the node as LightGBM does), check it alone,
        // then shift it to global indices.
        let child = |node: usize, side: &'static str, e: Entry<'a>, c: i64| {
            let r = if c >= 0 && (c as usize) < n_nodes {
                Some(ChildRef::Node(c as u32))
            } else if c < 0 && ((!c) as usize) < num_leaves {
                Some(ChildRef::Leaf((!c) as u32))
            } else {
                None
            };
            r.and_then(ChildRef::encode).ok_or_else(|| {
                self.err(
                    Some(e.line),
                    LightGbmErrorKind::ChildOutOfRange {
                        tree,
                        node,
                        side,
                        child: c,
                        num_leaves,
                    },
                )
            })
        };
        let mut local = Vec::with_capacity(n_nodes);
        for node in 0..n_nodes {
            let feature = features[node];
            if feature < 0 || feature as u64 >= header.n_features as u64 {
                return Err(self.err(
                    Some(feature_e.line),
                    LightGbmErrorKind::FeatureOutOfRange {
                        tree,
                        node,
                        feature,
                        n_features: header.n_features,
                    },
                ));
            }
            let decision = decisions[node];
            if decision & 1 != 0 {
                return Err(self.err(
                    Some(decision_e.line),
                    LightGbmErrorKind::Categorical { tree },
                ));
            }
            if !(0..=i64::from(DECISION_BITS)).contains(&decision)
                || decision as u32 & MISSING_TYPE_MASK > MISSING_NAN
            {
                return Err(self.bad(decision_e, "LightGBM decision flags (0, 2, 4, 6, 8 or 10)"));
            }
            local.push(Node {
                threshold: thresholds[node],
                feature: feature as u32,
                decision: decision as u32,
                left: child(node, "left", left_e, lefts[node])?,
                right: child(node, "right", right_e, rights[node])?,
            });
        }
        TreeView::new(header.n_features, &local, &leaf_values, &[0]).map_err(|source| {
            self.err(
                Some(tree_line),
                LightGbmErrorKind::Structure { tree, source },
            )
        })?;

        // Store the tree in preorder with its leaves left to right (the
        // order `tree::preorder_leaves` checks and the `.ltw` bit-vector
        // section relies on), at global indices. Validation above proved
        // a proper tree: every node and leaf is numbered exactly once.
        let (mut node_at, mut leaf_at) = (vec![0u32; n_nodes], vec![0u32; num_leaves]);
        let (mut next_node, mut next_leaf) = (node_base as u32, leaf_base as u32);
        let mut stack = vec![0u32];
        while let Some(raw) = stack.pop() {
            match ChildRef::decode(raw) {
                ChildRef::Node(i) => {
                    if let (Some(at), Some(n)) =
                        (node_at.get_mut(i as usize), local.get(i as usize))
                    {
                        *at = next_node;
                        next_node += 1;
                        stack.push(n.right);
                        stack.push(n.left);
                    }
                }
                ChildRef::Leaf(i) => {
                    if let Some(at) = leaf_at.get_mut(i as usize) {
                        *at = next_leaf;
                        next_leaf += 1;
                    }
                }
            }
        }
        let global = |raw: u32| match ChildRef::decode(raw) {
            ChildRef::Node(i) => node_at.get(i as usize).copied().unwrap_or(0),
            ChildRef::Leaf(i) => leaf_at.get(i as usize).copied().unwrap_or(0) | LEAF_BIT,
        };
        let placeholder = Node {
            threshold: 0.0,
            feature: 0,
            decision: 0,
            left: 0,
            right: 0,
        };
        nodes.resize(node_base + n_nodes, placeholder);
        for (n, &at) in local.iter().zip(&node_at) {
            if let Some(slot) = nodes.get_mut(at as usize) {
                *slot = Node {
                    left: global(n.left),
                    right: global(n.right),
                    ..*n
                };
            }
        }
        leaves.resize(leaf_base + num_leaves, 0.0);
        for (&v, &at) in leaf_values.iter().zip(&leaf_at) {
            if let Some(slot) = leaves.get_mut(at as usize) {
                *slot = v;
            }
        }
        Ok(node_base as u32)
    }

    fn too_large(&self, tree: usize, line: usize) -> LightGbmError {
        self.err(
            Some(line),
            LightGbmErrorKind::Structure {
                tree,
                source: TreeError::TooLarge {
                    what: "node or leaf",
                    count: MAX_INDEX + 1,
                },
            },
        )
    }

    fn check_len(
        &self,
        tree: usize,
        e: Entry<'a>,
        key: &'static str,
        found: usize,
        expected: usize,
    ) -> Result<(), LightGbmError> {
        if found == expected {
            return Ok(());
        }
        Err(self.err(
            Some(e.line),
            LightGbmErrorKind::ArrayLength {
                tree,
                key,
                found,
                expected,
            },
        ))
    }

    fn bad(&self, e: Entry<'a>, expected: &'static str) -> LightGbmError {
        self.err(
            Some(e.line),
            LightGbmErrorKind::BadValue {
                key: e.key.to_string(),
                found: excerpt(e.value),
                expected,
            },
        )
    }

    fn int(&self, e: Entry<'a>, expected: &'static str) -> Result<i64, LightGbmError> {
        e.value.trim().parse().map_err(|_| self.bad(e, expected))
    }

    fn ints(&self, e: Entry<'a>, expected: &'static str) -> Result<Vec<i64>, LightGbmError> {
        e.value
            .split_ascii_whitespace()
            .map(|t| t.parse().map_err(|_| self.bad(e, expected)))
            .collect()
    }

    fn floats(&self, e: Entry<'a>, expected: &'static str) -> Result<Vec<f64>, LightGbmError> {
        e.value
            .split_ascii_whitespace()
            .map(|t| t.parse().map_err(|_| self.bad(e, expected)))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::*;

    const STUMP: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n\
max_feature_idx=1\nobjective=regression\nfeature_names=a b\nfeature_infos=none none\n\
tree_sizes=1 1\n\nTree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nsplit_gain=1\n\
threshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=-1 1\n\
shrinkage=1\n\n\nTree=1\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nthreshold=\n\
leaf_value=10\nshrinkage=1\n\n\nend of trees\n\nfeature_importances:\nb=1\n\n\
parameters:\n[boosting: gbdt]\nend of parameters\n\npandas_categorical:null\n";

    fn parse(text: &str) -> Result<LightGbmModel, LightGbmError> {
        LightGbmModel::parse(text, Path::new("m/model.txt"))
    }

    #[test]
    fn parses_a_minimal_model() {
        let mut m = parse(STUMP).unwrap();
        assert_eq!(m.n_features(), 2);
        assert_eq!(m.feature_names(), ["a", "b"]);
        assert_eq!(m.ensemble().n_trees(), 2);
        assert_eq!(m.objective(), Objective::Regression);
        assert_eq!(m.predict(&[0.0, 0.5]), Some(9.0));
        assert_eq!(m.predict(&[0.0, 0.6]), Some(11.0));
        assert_eq!(m.predict(&[0.0]), None);
        assert_eq!(m.predict_f64(&[7.0, -3.0]), Some(9.0));
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let m = parse(&STUMP.replace('\n', "\r\n")).unwrap();
        assert_eq!(m.predict_f32(&[0.0, 0.6]), Some(11.0));
    }

    #[test]
    fn binary_applies_the_sigmoid_parameter() {
        let m =
            parse(&STUMP.replace("objective=regression", "objective=binary sigmoid:0.5")).unwrap();
        let p = m.predict_f32(&[0.0, 0.6]).unwrap();
        assert_eq!(m.raw_f32(&[0.0, 0.6]), Some(11.0));
        assert_eq!(p, 1.0 / (1.0 + (-0.5_f64 * 11.0).exp()));
        for bad in [
            "binary",
            "binary sigmoid:0",
            "binary sigmoid:x",
            "binary sigmoid:1 sigmoid:1",
        ] {
            let e = parse(&STUMP.replace("objective=regression", &format!("objective={bad}")));
            assert!(
                matches!(e.unwrap_err().kind, LightGbmErrorKind::BadValue { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn average_output_divides_by_the_tree_count() {
        let m = parse(&STUMP.replace(
            "objective=regression\n",
            "objective=regression\naverage_output\n",
        ))
        .unwrap();
        assert!(m.averages_output());
        assert_eq!(m.predict_f32(&[0.0, 0.6]), Some(5.5));
        assert_eq!(
            m.raw_f32(&[0.0, 0.6]),
            Some(11.0),
            "raw scores are not averaged"
        );
    }

    /// Recognises the expected error.
    type Check = fn(&LightGbmErrorKind) -> bool;

    fn kind(text: &str) -> LightGbmErrorKind {
        parse(text).unwrap_err().kind
    }

    #[test]
    fn unsupported_objectives_are_refused() {
        for o in [
            "regression sqrt",
            "poisson",
            "cross_entropy",
            "lambdarank",
            "multiclass num_class:3",
        ] {
            let k = kind(&STUMP.replace("objective=regression", &format!("objective={o}")));
            assert!(
                matches!(k, LightGbmErrorKind::UnsupportedObjective { .. }),
                "{o}: {k}"
            );
        }
        let k = kind(&STUMP.replace("objective=regression\n", ""));
        assert!(matches!(k, LightGbmErrorKind::CustomObjective), "{k}");
    }

    #[test]
    fn header_problems_are_refused() {
        let cases: [(&str, &str, Check); 9] = [
            ("version=v4", "version=v2", |k| {
                matches!(k, LightGbmErrorKind::UnsupportedVersion { .. })
            }),
            ("version=v4\n", "", |k| {
                matches!(k, LightGbmErrorKind::MissingHeaderKey { key: "version" })
            }),
            ("num_class=1", "num_class=3", |k| {
                matches!(k, LightGbmErrorKind::Multiclass { .. })
            }),
            (
                "num_tree_per_iteration=1",
                "num_tree_per_iteration=2",
                |k| matches!(k, LightGbmErrorKind::Multiclass { .. }),
            ),
            ("feature_names=a b", "feature_names=a", |k| {
                matches!(k, LightGbmErrorKind::FeatureCount { .. })
            }),
            ("max_feature_idx=1", "max_feature_idx=-1", |k| {
                matches!(k, LightGbmErrorKind::BadValue { .. })
            }),
            ("label_index=0", "label_index=0\nlabel_index=0", |k| {
                matches!(k, LightGbmErrorKind::DuplicateKey { .. })
            }),
            ("label_index=0", "label_index=0\nfancy_new_flag", |k| {
                matches!(k, LightGbmErrorKind::UnexpectedLine { .. })
            }),
            ("tree_sizes=1 1", "tree_sizes=1 1 1", |k| {
                matches!(k, LightGbmErrorKind::TreeCount { .. })
            }),
        ];
        for (from, to, ok) in cases {
            let k = kind(&STUMP.replacen(from, to, 1));
            assert!(ok(&k), "{from} -> {to}: {k}");
        }
    }

    #[test]
    fn tree_problems_are_refused() {
        let cases: [(&str, &str, Check); 12] = [
            ("left_child=-1", "left_child=-3", |k| {
                matches!(k, LightGbmErrorKind::ChildOutOfRange { .. })
            }),
            ("right_child=-2", "right_child=1", |k| {
                matches!(k, LightGbmErrorKind::ChildOutOfRange { .. })
            }),
            ("right_child=-2", "right_child=-1", |k| {
                matches!(k, LightGbmErrorKind::Structure { .. })
            }),
            ("split_feature=1", "split_feature=2", |k| {
                matches!(k, LightGbmErrorKind::FeatureOutOfRange { .. })
            }),
            ("leaf_value=-1 1", "leaf_value=-1", |k| {
                matches!(k, LightGbmErrorKind::ArrayLength { .. })
            }),
            ("leaf_value=-1 1", "leaf_value=-1 inf", |k| {
                matches!(k, LightGbmErrorKind::BadValue { .. })
            }),
            ("threshold=0.5", "threshold=nan", |k| {
                matches!(k, LightGbmErrorKind::BadValue { .. })
            }),
            ("threshold=0.5", "threshold=0.5x", |k| {
                matches!(k, LightGbmErrorKind::BadValue { .. })
            }),
            ("decision_type=2", "decision_type=1", |k| {
                matches!(k, LightGbmErrorKind::Categorical { tree: 0 })
            }),
            ("decision_type=2", "decision_type=12", |k| {
                matches!(k, LightGbmErrorKind::BadValue { .. })
            }),
            ("Tree=1", "Tree=2", |k| {
                matches!(k, LightGbmErrorKind::TreeOutOfOrder { expected: 1, .. })
            }),
            (
                "shrinkage=1\n\n\nTree=1",
                "shrinkage=1\nwhat=1\n\n\nTree=1",
                |k| matches!(k, LightGbmErrorKind::UnexpectedLine { .. }),
            ),
        ];
        for (from, to, ok) in cases {
            let k = kind(&STUMP.replacen(from, to, 1));
            assert!(ok(&k), "{from} -> {to}: {k}");
        }
    }

    #[test]
    fn empty_garbage_and_truncated_files_are_refused() {
        let p = Path::new("x/model.txt");
        let e = LightGbmModel::from_bytes(b"", p).unwrap_err();
        assert!(matches!(e.kind, LightGbmErrorKind::Empty));
        let e = LightGbmModel::from_bytes(b"tree\n\xff\xfe", p).unwrap_err();
        assert!(matches!(e.kind, LightGbmErrorKind::NotText { offset: 5 }));
        let cut = &STUMP[..STUMP.find("end of trees").unwrap()];
        assert!(matches!(
            kind(cut),
            LightGbmErrorKind::Truncated {
                marker: END_OF_TREES
            }
        ));
        let cut = &STUMP[..STUMP.find("end of parameters").unwrap()];
        assert!(matches!(
            kind(cut),
            LightGbmErrorKind::Truncated {
                marker: END_OF_PARAMETERS
            }
        ));
        let header = &STUMP[..STUMP.find("Tree=0").unwrap()];
        let no_trees = header.replace("tree_sizes=1 1\n", "") + "end of trees\n";
        assert!(matches!(kind(&no_trees), LightGbmErrorKind::NoTrees));
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let e = parse(&STUMP.replace("left_child=-1", "left_child=-3")).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.line, Some(19));
        assert!(
            msg.starts_with("LightGBM model m/model.txt, line 19: tree 0, node 0: left child -3"),
            "{msg}"
        );
        assert!(msg.contains("fix: "), "{msg}");
    }

    #[test]
    fn feature_list_check() {
        let m = parse(STUMP).unwrap();
        assert!(m.check_feature_list(&["a", "b"]).is_ok());
        let k = m.check_feature_list(&["a"]).unwrap_err().kind;
        assert!(matches!(
            k,
            LightGbmErrorKind::FeatureListLength {
                expected: 1,
                found: 2
            }
        ));
        let k = m.check_feature_list(&["a", "c"]).unwrap_err().kind;
        assert!(matches!(k, LightGbmErrorKind::FeatureName { index: 1, .. }));
        let anon =
            parse(&STUMP.replace("feature_names=a b", "feature_names=Column_0 Column_1")).unwrap();
        assert!(anon.check_feature_list(&["x", "y"]).is_ok());
    }
}
