//! The connector's native row path (`connectors.rowpath`): a raw GB18030 or UTF-8 CSV
//! row of an export the plan describes -> field rules -> case key, content hash, uuid5 ids -> the
//! model's checks -> Avro -> CloudEvents headers -> murmur2, giving exactly the outcome
//! `connectors.chunks.map_rows` gives, or `None` ("doubt") for any row it is not sure
//! of. A doubted row goes through the Python path, which also writes every dead letter:
//! the reasons a clerk reads live in one place. The plan (JSON) is built in Python
//! (`connectors/rowpath/plan.py`) once per export; what this code does not know is
//! refused there, never guessed here.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use serde::Deserialize;
use serde_json::Value;
use sha1::{Digest, Sha1};
use sha2::Sha256;

// ------------------------------------------------------------------------------ plan (JSON)

#[derive(Deserialize)]
struct RuleJ {
    name: String,
    top: String,
    sub: Option<String>,
    cols: Vec<usize>,
    kind: String,
    codes: HashMap<String, Value>,
    /// the code list a cell must be in (known_codes); outside it Python refuses the row
    #[serde(default)]
    known: Option<Vec<String>>,
    fallback: Value,
    split: Option<String>,
    empty: Value,
    required: bool,
    in_event: bool,
    /// hashed under this field's name when that one is empty, else left out of the hash
    #[serde(default)]
    hash_as: Option<String>,
}

#[derive(Deserialize, Clone)]
struct TypeJ {
    k: String,
    opt: bool,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    fields: Vec<FieldJ>,
}

#[derive(Deserialize, Clone)]
struct FieldJ {
    name: String,
    #[serde(rename = "type")]
    ty: TypeJ,
    checks: Vec<String>,
    default: Value,
    has_default: bool,
}

#[derive(Deserialize)]
struct PlanJ {
    ncols: usize,
    delimiter: String,
    max_field_chars: usize,
    prefix: Vec<u8>,
    unit: String,
    connector_id: String,
    source_system: String,
    source: String,
    avro_name: String,
    number_fields: Vec<String>,
    unit_field: Option<String>,
    natural_key: Vec<String>,
    earliest_days: i32,
    ceiling_fen: i64,
    rules: Vec<RuleJ>,
    fields: Vec<FieldJ>,
    /// date-order rules: (later, earlier) rule indexes, compared by China calendar day
    #[serde(default)]
    order: Vec<(usize, usize)>,
    ce_source: String,
    content_type: String,
    gb_doubt_pairs: Vec<u16>,
    namespace_hex: String,
    /// rows are UTF-8 (else GB18030)
    #[serde(default)]
    utf8: bool,
}

// ------------------------------------------------------------------------------ compiled

#[derive(Clone, Debug)]
enum Cv {
    Null,
    Str(String),
    Int(i64),
    EmptyList,
}

fn cv_of(v: &Value) -> Result<Cv, String> {
    Ok(match v {
        Value::Null => Cv::Null,
        Value::String(s) => Cv::Str(s.clone()),
        Value::Number(n) => Cv::Int(n.as_i64().ok_or("constant not i64")?),
        Value::Array(a) if a.is_empty() => Cv::EmptyList,
        _ => return Err(format!("constant {v}")),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Conv {
    Text,
    Fen,
    Date,
    DateStart,
    DateTime,
    Decimal,
}

struct Rule {
    cols: Vec<usize>,
    conv: Conv,
    known: Option<HashSet<String>>,
    codes: Option<HashMap<String, String>>,
    fallback: Option<String>,
    split: Option<String>,
    empty: Cv,
    required: bool,
}

#[derive(Clone, Debug)]
enum V<'a> {
    Null,
    Str(&'a str),
    Int(i64),
    Date(i32),
    /// midnight China time of a day (date_start)
    Ts(i32),
    Micros(i64),
    List(Vec<&'a str>),
    EmptyList,
}

fn v_of(c: &Cv) -> V<'_> {
    match c {
        Cv::Null => V::Null,
        Cv::Str(s) => V::Str(s),
        Cv::Int(i) => V::Int(*i),
        Cv::EmptyList => V::EmptyList,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Long,
    Date,
    Ts,
    Enum,
    ArrayEnum,
    ArrayRecord,
}

#[derive(Clone, Copy, PartialEq)]
enum Check {
    UnitCode,
    PartyCreditCode,
    PastDate,
    PastInstant,
    NonNegative,
    DivisionCode,
    MinLen(usize),
    ResidentId,
    Decimal,
}

#[derive(Clone, Copy, PartialEq)]
enum Hdr {
    None,
    EventId,
    CaseId,
    SourceUnit,
    SourceSystem,
    SourceRecord,
    ConnectorId,
    RecordedAt,
}

struct Field {
    kind: Kind,
    opt: bool,
    symbols: HashMap<String, i64>,
    checks: Vec<Check>,
    default: Cv,
    has_default: bool,
    hdr: Hdr,
    /// the rule whose value this field takes (top-level rule, or the sub rule in a record)
    rule: Option<usize>,
    /// for ArrayRecord: the record's fields (rule = the group's sub rules)
    sub: Vec<Field>,
    /// for a Party-like record: indexes of (id_type, id_number) pairs in `sub`
    resident_pairs: Vec<(usize, usize)>,
    is_first_named: bool,
}

enum JsonEntry {
    One(String, usize),
    Group(String, Vec<(String, usize)>),
    /// a field and the one split off it (`hash_as`): the first with a value, under this name
    Either(String, Option<usize>, usize),
}

#[pyclass]
struct Plan {
    ncols: usize,
    delim: u8,
    max_field_chars: usize,
    prefix: Vec<u8>,
    unit: String,
    connector_id: String,
    source_system: String,
    source: String,
    number_rules: Vec<usize>,
    unit_rule: Option<usize>,
    natural_rules: Vec<usize>,
    earliest_days: i32,
    ceiling_fen: i64,
    rules: Vec<Rule>,
    fields: Vec<Field>,
    order: Vec<(usize, usize)>,
    json: Vec<JsonEntry>,
    gb_doubt: Vec<bool>,
    /// UTF-8 rows: whether a BMP character may stand in a row the core maps (see
    /// `utf8_characters`); empty for GB18030 rows
    utf8_allowed: Vec<bool>,
    case_prefix: Sha1,
    event_prefix: Sha1,
    // Python objects reused across rows (as the Python path reuses its constant tuples)
    h_spec: Py<PyTuple>,
    h_source: Py<PyTuple>,
    h_type: Py<PyTuple>,
    h_ctype: Py<PyTuple>,
    n_ce_id: Py<PyString>,
    n_ce_subject: Py<PyString>,
    n_ce_time: Py<PyString>,
    times: Mutex<HashMap<i32, Py<PyTuple>>>,
}

fn compile_field(f: &FieldJ, rules: &[RuleJ], group: Option<&str>) -> Result<Field, String> {
    let kind = match f.ty.k.as_str() {
        "string" => Kind::Str,
        "long" => Kind::Long,
        "date" => Kind::Date,
        "ts" => Kind::Ts,
        "enum" => Kind::Enum,
        "array_enum" => Kind::ArrayEnum,
        "array_record" => Kind::ArrayRecord,
        k => return Err(format!("kind {k}")),
    };
    let mut checks = vec![];
    for c in &f.checks {
        checks.push(match c.as_str() {
            "unit_code" => Check::UnitCode,
            "party_credit_code" => Check::PartyCreditCode,
            "past_date" => Check::PastDate,
            "past_instant" => Check::PastInstant,
            "non_negative" => Check::NonNegative,
            "division_code" => Check::DivisionCode,
            "resident_id" => Check::ResidentId,
            "decimal" => Check::Decimal,
            s if s.starts_with("min_len:") => Check::MinLen(s[8..].parse().map_err(|_| "min_len")?),
            s => return Err(format!("check {s}")),
        });
    }
    let hdr = if group.is_some() {
        Hdr::None
    } else {
        match f.name.as_str() {
            "event_id" => Hdr::EventId,
            "case_id" => Hdr::CaseId,
            "source_unit" => Hdr::SourceUnit,
            "source_system" => Hdr::SourceSystem,
            "source_record" => Hdr::SourceRecord,
            "connector_id" => Hdr::ConnectorId,
            "recorded_at" => Hdr::RecordedAt,
            _ => Hdr::None,
        }
    };
    let rule = rules.iter().position(|r| {
        r.in_event
            && match group {
                Some(g) => r.top == g && r.sub.as_deref() == Some(f.name.as_str()),
                None => r.top == f.name && r.sub.is_none(),
            }
    });
    let mut sub = vec![];
    let mut resident_pairs = vec![];
    if kind == Kind::ArrayRecord {
        for sf in &f.ty.fields {
            sub.push(compile_field(sf, rules, Some(&f.name))?);
        }
        let pos = |n: &str| f.ty.fields.iter().position(|x| x.name == n);
        for (t, n) in [("id_type", "id_number"), ("legal_representative_id_type", "legal_representative_id_number")] {
            if let (Some(a), Some(b)) = (pos(t), pos(n)) {
                resident_pairs.push((a, b));
            }
        }
    }
    let symbols = f.ty.symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as i64)).collect();
    Ok(Field {
        kind,
        opt: f.ty.opt,
        symbols,
        checks,
        default: cv_of(&f.default)?,
        has_default: f.has_default,
        hdr,
        rule,
        sub,
        resident_pairs,
        is_first_named: group.is_none() && f.name == "parties",
    })
}

fn prefix_sha1(ns: &[u8], tag: &[u8]) -> Sha1 {
    let mut h = Sha1::new();
    h.update(ns);
    h.update(tag);
    h
}

#[pymethods]
impl Plan {
    #[new]
    fn new(py: Python<'_>, plan_json: &str) -> PyResult<Self> {
        let p: PlanJ = serde_json::from_str(plan_json).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let err = |e: String| PyValueError::new_err(e);
        let mut rules = vec![];
        for r in &p.rules {
            let conv = match r.kind.as_str() {
                "text" => Conv::Text,
                "wan_yuan_to_fen" => Conv::Fen,
                "date" => Conv::Date,
                "date_start" => Conv::DateStart,
                "datetime" => Conv::DateTime,
                "decimal" => Conv::Decimal,
                k => return Err(err(format!("{}: kind {k}", r.name))),
            };
            let codes = if r.codes.is_empty() {
                None
            } else {
                let mut m = HashMap::new();
                for (k, v) in &r.codes {
                    m.insert(k.clone(), v.as_str().ok_or_else(|| err(format!("{}: code value", r.name)))?.to_string());
                }
                Some(m)
            };
            rules.push(Rule {
                cols: r.cols.clone(),
                conv,
                known: r.known.as_ref().map(|k| k.iter().cloned().collect()),
                codes,
                fallback: r.fallback.as_str().map(str::to_string),
                split: r.split.clone(),
                empty: cv_of(&r.empty).map_err(err)?,
                required: r.required,
            });
        }
        let find = |n: &str| p.rules.iter().position(|r| r.name == n);
        let number_rules = p.number_fields.iter().map(|n| find(n).ok_or_else(|| err(format!("key {n}")))).collect::<PyResult<Vec<_>>>()?;
        let natural_rules = p.natural_key.iter().map(|n| find(n).ok_or_else(|| err(format!("key {n}")))).collect::<PyResult<Vec<_>>>()?;
        let unit_rule = match &p.unit_field {
            Some(n) => Some(find(n).ok_or_else(|| err(format!("unit {n}")))?),
            None => None,
        };
        for &(later, earlier) in &p.order {
            if later >= p.rules.len() || earlier >= p.rules.len() {
                return Err(err("order rule".into()));
            }
        }
        let mut fields = vec![];
        for f in &p.fields {
            fields.push(compile_field(f, &p.rules, None).map_err(err)?);
        }
        // content hash layout: payload keys sorted (code point order == UTF-8 byte order)
        // a rule hashed as another field (`hash_as`) is hashed under that field's name
        let hashed_top = |r: &RuleJ| r.hash_as.clone().unwrap_or_else(|| r.top.clone());
        let mut tops: Vec<String> = p.rules.iter().filter(|r| r.in_event).map(hashed_top).collect();
        tops.sort();
        tops.dedup();
        let mut json = vec![];
        for t in tops {
            let split_off: Vec<usize> = (0..p.rules.len())
                .filter(|&i| p.rules[i].in_event && p.rules[i].hash_as.as_deref() == Some(t.as_str()))
                .collect();
            let members: Vec<usize> = (0..p.rules.len())
                .filter(|&i| p.rules[i].in_event && p.rules[i].hash_as.is_none() && p.rules[i].top == t)
                .collect();
            if !split_off.is_empty() {
                if split_off.len() != 1 || members.len() > 1 || members.iter().chain(&split_off).any(|&i| p.rules[i].sub.is_some()) {
                    return Err(err(format!("{t}: hash_as")));
                }
                json.push(JsonEntry::Either(t, members.first().copied(), split_off[0]));
            } else if members.iter().all(|&i| p.rules[i].sub.is_none()) {
                if members.len() != 1 {
                    return Err(err(format!("{t}: several rules")));
                }
                json.push(JsonEntry::One(t, members[0]));
            } else {
                if members.iter().any(|&i| p.rules[i].sub.is_none()) {
                    return Err(err(format!("{t}: mixed")));
                }
                let mut subs: Vec<(String, usize)> = members.iter().map(|&i| (p.rules[i].sub.clone().unwrap(), i)).collect();
                subs.sort();
                json.push(JsonEntry::Group(t, subs));
            }
        }
        let mut gb_doubt = vec![false; 65536];
        for pair in &p.gb_doubt_pairs {
            gb_doubt[*pair as usize] = true;
        }
        let ns = (0..p.namespace_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&p.namespace_hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| err(e.to_string()))?;
        let delim = p.delimiter.as_bytes();
        if delim.len() != 1 {
            return Err(err("delimiter".into()));
        }
        let pair = |n: &str, v: &[u8]| -> Py<PyTuple> {
            PyTuple::new_bound(py, [PyString::new_bound(py, n).into_any(), PyBytes::new_bound(py, v).into_any()]).unbind()
        };
        Ok(Plan {
            ncols: p.ncols,
            delim: delim[0],
            max_field_chars: p.max_field_chars,
            prefix: p.prefix.clone(),
            unit: p.unit.clone(),
            connector_id: p.connector_id.clone(),
            source_system: p.source_system.clone(),
            source: p.source.clone(),
            number_rules,
            unit_rule,
            natural_rules,
            earliest_days: p.earliest_days,
            ceiling_fen: p.ceiling_fen,
            rules,
            fields,
            order: p.order.clone(),
            json,
            utf8_allowed: if p.utf8 { utf8_characters(&gb_doubt) } else { Vec::new() },
            gb_doubt,
            case_prefix: prefix_sha1(&ns, b"case:"),
            event_prefix: prefix_sha1(&ns, b"event:"),
            h_spec: pair("ce_specversion", b"1.0"),
            h_source: pair("ce_source", p.ce_source.as_bytes()),
            h_type: pair("ce_type", p.avro_name.as_bytes()),
            h_ctype: pair("content-type", p.content_type.as_bytes()),
            n_ce_id: PyString::new_bound(py, "ce_id").unbind(),
            n_ce_subject: PyString::new_bound(py, "ce_subject").unbind(),
            n_ce_time: PyString::new_bound(py, "ce_time").unbind(),
            times: Mutex::new(HashMap::new()),
        })
    }

    /// The same work without building any Python result (a measurement aid): how many
    /// rows mapped, and the total bytes of their values.
    fn compute_only(&self, raws: &Bound<'_, PyList>, refs: &Bound<'_, PyList>, recorded_at_us: i64) -> PyResult<(usize, usize)> {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let today_china = (now_us + 8 * 3600 * 1_000_000).div_euclid(86_400_000_000) as i32;
        let ctx = Ctx { today_china, now_us, recorded_at_us };
        let mut value = Vec::with_capacity(1024);
        let mut scratch = String::with_capacity(1024);
        let (mut mapped, mut total) = (0, 0);
        for i in 0..raws.len() {
            let item = raws.get_item(i)?;
            let raw = item.downcast::<PyBytes>()?.as_bytes();
            let r = refs.get_item(i)?;
            let reference = r.downcast::<PyString>()?.to_str()?;
            value.clear();
            if let Some(m) = self.row(raw, reference, &ctx, &mut value, &mut scratch) {
                mapped += 1;
                total += value.len() + m.case_id.len() + m.event_id.len() + murmur2(m.case_id.as_bytes()) as usize % 2
                    + ce_time(m.occurred_day).len();
            }
        }
        Ok((mapped, total))
    }

    /// One outcome per raw row: the tuple `map_rows` returns, or None (doubt).
    fn map_chunk<'py>(
        &self,
        py: Python<'py>,
        raws: &Bound<'py, PyList>,
        refs: &Bound<'py, PyList>,
        recorded_at_us: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let today_china = (now_us + 8 * 3600 * 1_000_000).div_euclid(86_400_000_000) as i32;
        let ctx = Ctx { today_china, now_us, recorded_at_us };
        let n = raws.len();
        let out = PyList::empty_bound(py);
        let mut value = Vec::with_capacity(1024);
        let mut scratch = String::with_capacity(1024);
        for i in 0..n {
            let item = raws.get_item(i)?;
            let raw = item.downcast::<PyBytes>()?.as_bytes();
            let r = refs.get_item(i)?;
            let reference = r.downcast::<PyString>()?.to_str()?;
            value.clear();
            match self.row(raw, reference, &ctx, &mut value, &mut scratch) {
                Some(m) => {
                    let key = PyBytes::new_bound(py, m.case_id.as_bytes());
                    let val = PyBytes::new_bound(py, &value);
                    let time = {
                        let mut times = self.times.lock().unwrap();
                        times
                            .entry(m.occurred_day)
                            .or_insert_with(|| {
                                let text = ce_time(m.occurred_day);
                                PyTuple::new_bound(
                                    py,
                                    [self.n_ce_time.bind(py).clone().into_any(), PyBytes::new_bound(py, text.as_bytes()).into_any()],
                                )
                                .unbind()
                            })
                            .clone_ref(py)
                    };
                    let ce_id = PyTuple::new_bound(
                        py,
                        [self.n_ce_id.bind(py).clone().into_any(), PyBytes::new_bound(py, m.event_id.as_bytes()).into_any()],
                    );
                    let ce_subject = PyTuple::new_bound(
                        py,
                        [self.n_ce_subject.bind(py).clone().into_any(), PyBytes::new_bound(py, m.case_id.as_bytes()).into_any()],
                    );
                    let headers = PyList::new_bound(
                        py,
                        [
                            self.h_spec.bind(py).clone().into_any(),
                            ce_id.into_any(),
                            self.h_source.bind(py).clone().into_any(),
                            self.h_type.bind(py).clone().into_any(),
                            time.into_bound(py).into_any(),
                            ce_subject.into_any(),
                            self.h_ctype.bind(py).clone().into_any(),
                        ],
                    );
                    let hash = murmur2(m.case_id.as_bytes());
                    let t = PyTuple::new_bound(
                        py,
                        [
                            key.into_any(),
                            val.into_any(),
                            headers.into_any(),
                            PyString::new_bound(py, &m.event_id).into_any(),
                            hash.into_py(py).into_bound(py),
                        ],
                    );
                    out.append(t)?;
                }
                None => out.append(py.None())?,
            }
        }
        Ok(out)
    }
}

struct Ctx {
    today_china: i32,
    now_us: i64,
    recorded_at_us: i64,
}

struct Mapped {
    case_id: String,
    event_id: String,
    occurred_day: i32,
}

// ------------------------------------------------------------------------------ row

/// Python's str.strip() for text without control characters (checked before): Rust's
/// White_Space set equals CPython's isspace() apart from U+001C..U+001F.
fn pystrip(s: &str) -> &str {
    s.trim_matches(char::is_whitespace)
}

impl Plan {
    fn scan_raw(&self, raw: &[u8]) -> bool {
        // false = doubt. Controls (apart from the line end), 4-byte GB18030 sequences and
        // 2-byte codes the decoders disagree on. (A quote byte is always a quote: GB18030
        // trail bytes are 0x30..0x39 and 0x40..0xFE.)
        let mut end = raw.len();
        if raw.ends_with(b"\r\n") {
            end -= 2;
        } else if raw.ends_with(b"\n") || raw.ends_with(b"\r") {
            end -= 1;
        }
        let mut i = 0;
        while i < end {
            let b = raw[i];
            if b < 0x80 {
                if b < 0x20 || b == 0x7f {
                    return false;
                }
                i += 1;
            } else if b == 0x80 || b == 0xff || i + 1 >= end {
                return false;
            } else {
                let t = raw[i + 1];
                if (0x30..=0x39).contains(&t) || self.gb_doubt[((b as usize) << 8) | t as usize] {
                    return false;
                }
                i += 2;
            }
        }
        true
    }

    /// The UTF-8 counterpart of `scan_raw`: false = doubt. Controls (apart from the line
    /// end), and any character a GB18030 row the core maps could not hold, so that a UTF-8
    /// row meets exactly the characters the GB18030 path is held to.
    fn scan_utf8(&self, text: &str) -> bool {
        let line = text.strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .or_else(|| text.strip_suffix('\r'))
            .unwrap_or(text);
        line.chars().all(|c| {
            let code = c as usize;
            if code < 0x80 {
                code >= 0x20 && code != 0x7f
            } else {
                code <= 0xffff && self.utf8_allowed[code]
            }
        })
    }

    fn row(&self, raw: &[u8], reference: &str, ctx: &Ctx, out: &mut Vec<u8>, js: &mut String) -> Option<Mapped> {
        if raw.len() > self.max_field_chars {
            return None;
        }
        let text: std::borrow::Cow<str> = if self.utf8_allowed.is_empty() {
            if !self.scan_raw(raw) {
                return None;
            }
            encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(raw)?
        } else {
            // strict, as Python's utf-8 codec: no overlong forms, no surrogates
            let text = std::str::from_utf8(raw).ok()?;
            if !self.scan_utf8(text) {
                return None;
            }
            std::borrow::Cow::Borrowed(text)
        };
        let mut line: &str = &text;
        if let Some(s) = line.strip_suffix("\r\n") {
            line = s;
        } else if let Some(s) = line.strip_suffix('\n').or_else(|| line.strip_suffix('\r')) {
            line = s;
        }
        if line.is_empty() {
            return None;
        }
        if raw.len() > 65_536 && raw.contains(&b'"') {
            return None; // the csv module's own field limit could refuse a quoted cell
        }
        let mut cells: [&str; 128] = [""; 128];
        let count = split_cells(line, self.delim, &mut cells)?;
        if count != self.ncols {
            return None;
        }
        // field rules
        let mut vals: Vec<V> = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            vals.push(self.rule_value(rule, &cells, ctx)?);
        }
        // plausibility order (mapper._check_order): a later day before an earlier one is
        // refused by Python; checked only when both sides hold a date or an instant
        for &(later, earlier) in &self.order {
            if let (Some(l), Some(e)) = (china_day(&vals[later]), china_day(&vals[earlier])) {
                if l < e {
                    return None;
                }
            }
        }
        // keys
        let mut case_number = "";
        for &r in &self.number_rules {
            match &vals[r] {
                V::Str(s) if !s.is_empty() => {
                    case_number = s;
                    break;
                }
                V::Null | V::Str(_) => {}
                _ => return None,
            }
        }
        if case_number.is_empty() || case_number.chars().any(char::is_whitespace) {
            return None;
        }
        let mut case_unit: &str = &self.unit;
        if let Some(u) = self.unit_rule {
            match &vals[u] {
                V::Str(s) if !s.is_empty() => case_unit = s,
                V::Null => {}
                _ => return None,
            }
        }
        if !case_unit.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return None;
        }
        let mut natural = String::with_capacity(64);
        for (k, &r) in self.natural_rules.iter().enumerate() {
            if k > 0 {
                natural.push('|');
            }
            match &vals[r] {
                V::Str(s) => natural.push_str(s),
                V::Null => {}
                _ => return None,
            }
        }
        let case_id = uuid5(&self.case_prefix, &[case_unit, "|", case_number]);
        js.clear();
        self.content_json(&vals, js);
        let hash = hex(&Sha256::digest(js.as_bytes()));
        let event_id = uuid5(&self.event_prefix, &[&self.source, "|", &natural, "|", &hash]);
        // validation + Avro
        out.extend_from_slice(&self.prefix);
        let mut occurred_day = None;
        for f in &self.fields {
            let v: V = match f.hdr {
                Hdr::EventId => V::Str(&event_id),
                Hdr::CaseId => V::Str(&case_id),
                Hdr::SourceUnit => V::Str(&self.unit),
                Hdr::SourceSystem => V::Str(&self.source_system),
                Hdr::SourceRecord => V::Str(reference),
                Hdr::ConnectorId => V::Str(&self.connector_id),
                Hdr::RecordedAt => match f.rule.map(|r| &vals[r]) {
                    None | Some(V::Null) => V::Micros(ctx.recorded_at_us),
                    Some(v) => v.clone(),
                },
                Hdr::None => {
                    if f.kind == Kind::ArrayRecord {
                        self.write_group(f, &vals, ctx, out)?;
                        continue;
                    }
                    match f.rule {
                        Some(r) => vals[r].clone(),
                        None => V::Null,
                    }
                }
            };
            if f.kind == Kind::Ts && occurred_day.is_none() && f.checks.contains(&Check::PastInstant) {
                match v {
                    V::Ts(d) => occurred_day = Some(d),
                    _ => return None,
                }
            }
            write_field(f, v, ctx, out)?;
        }
        Some(Mapped { case_id, event_id, occurred_day: occurred_day? })
    }

    fn rule_value<'a>(&'a self, rule: &'a Rule, cells: &[&'a str], ctx: &Ctx) -> Option<V<'a>> {
        let _ = ctx;
        let mut cell = "";
        for &c in &rule.cols {
            let s = pystrip(cells[c]);
            if !s.is_empty() {
                cell = s;
                break;
            }
        }
        if cell.is_empty() {
            if rule.required {
                return None; // refused by Python: the Python path decides
            }
            return Some(v_of(&rule.empty));
        }
        if let Some(sep) = &rule.split {
            let mut items = vec![];
            for part in cell.split(sep.as_str()) {
                let part = pystrip(part);
                if part.is_empty() {
                    continue;
                }
                match self.convert(rule, part)? {
                    V::Str(s) => items.push(s),
                    _ => return None,
                }
            }
            return Some(V::List(items));
        }
        self.convert(rule, cell)
    }

    fn convert<'a>(&'a self, rule: &'a Rule, text: &'a str) -> Option<V<'a>> {
        if let Some(known) = &rule.known {
            if !known.contains(text) {
                return None; // not a code of the list: refused by Python
            }
        }
        if let Some(codes) = &rule.codes {
            return match codes.get(text) {
                Some(v) => Some(V::Str(v)),
                None => rule.fallback.as_deref().map(V::Str),
            };
        }
        match rule.conv {
            Conv::Text => Some(V::Str(text)),
            Conv::Fen => {
                let fen = wan_yuan_to_fen(text)?;
                if fen > self.ceiling_fen {
                    return None;
                }
                Some(V::Int(fen))
            }
            Conv::Date | Conv::DateStart => {
                let d = parse_date(text).or_else(|| parse_slash_date(text))?;
                if d < self.earliest_days {
                    return None;
                }
                if rule.conv == Conv::DateStart {
                    // China had summer time until 1991: midnight's offset is +08:00 after it
                    if d < days_from_civil(1992, 1, 1) {
                        return None;
                    }
                    Some(V::Ts(d))
                } else {
                    Some(V::Date(d))
                }
            }
            Conv::DateTime => {
                let (d, seconds) = parse_datetime(text)?;
                // China had summer time until 1991: the offset is +08:00 from 1992 on
                if d < self.earliest_days || d < days_from_civil(1992, 1, 1) {
                    return None;
                }
                Some(V::Micros(day_micros(d) + seconds * 1_000_000))
            }
            Conv::Decimal => plain_decimal(text).map(V::Str),
        }
    }

    fn content_json(&self, vals: &[V], js: &mut String) {
        js.push('{');
        let mut first = true;
        for e in &self.json {
            match e {
                JsonEntry::One(name, r) => {
                    if !matches!(vals[*r], V::Null) {
                        json_member(js, &mut first, name);
                        json_val(js, &vals[*r]);
                    }
                }
                JsonEntry::Either(name, primary, then) => {
                    let chosen = match primary {
                        Some(r) if !matches!(vals[*r], V::Null) => Some(*r),
                        _ if !matches!(vals[*then], V::Null) => Some(*then),
                        _ => None,
                    };
                    if let Some(r) = chosen {
                        json_member(js, &mut first, name);
                        json_val(js, &vals[r]);
                    }
                }
                JsonEntry::Group(name, subs) => {
                    if subs.iter().all(|(_, r)| matches!(vals[*r], V::Null)) {
                        continue;
                    }
                    json_member(js, &mut first, name);
                    js.push_str("[{");
                    let mut first_sub = true;
                    for (sub, r) in subs {
                        if !matches!(vals[*r], V::Null) {
                            json_member(js, &mut first_sub, sub);
                            json_val(js, &vals[*r]);
                        }
                    }
                    js.push_str("}]");
                }
            }
        }
        js.push('}');
    }

    fn write_group(&self, f: &Field, vals: &[V], ctx: &Ctx, out: &mut Vec<u8>) -> Option<()> {
        let present = f.sub.iter().any(|s| s.rule.is_some_and(|r| !matches!(vals[r], V::Null)));
        if !present {
            // the list is absent from the payload: the model's default, if any
            if !f.has_default || !matches!(f.default, Cv::EmptyList) {
                return None;
            }
            out.push(0);
            return Some(());
        }
        for c in &f.checks {
            if let Check::MinLen(m) = c {
                if *m > 1 {
                    return None;
                }
            }
        }
        let mut subvals: Vec<V> = Vec::with_capacity(f.sub.len());
        for s in &f.sub {
            subvals.push(s.rule.map_or(V::Null, |r| vals[r].clone()));
        }
        // Party's model validator: a RESIDENT_ID number must have a valid check character
        for &(t, n) in &f.resident_pairs {
            let ty = match &subvals[t] {
                V::Null => v_of(&f.sub[t].default),
                v => v.clone(),
            };
            if let (V::Str("RESIDENT_ID"), V::Str(num)) = (&ty, &subvals[n]) {
                // a lower-case x is written X by the validator: Python writes that row
                if !valid_resident_id(num, ctx.today_china) || num.contains('x') {
                    return None;
                }
            }
        }
        if f.is_first_named {
            // PenaltyCaseRecorded._first_party_is_named: parties[0].name.strip()
            match subvals.iter().zip(&f.sub).next() {
                Some((V::Str(s), _)) if !pystrip(s).is_empty() => {}
                _ => return None,
            }
        }
        out.push(2); // one item
        for (s, v) in f.sub.iter().zip(subvals) {
            write_field(s, v, ctx, out)?;
        }
        out.push(0);
        Some(())
    }
}

fn write_field(f: &Field, v: V, ctx: &Ctx, out: &mut Vec<u8>) -> Option<()> {
    let v = match v {
        V::Null => {
            if !f.has_default {
                return None;
            }
            v_of(&f.default)
        }
        v => v,
    };
    if let V::Null = v {
        if !f.opt {
            return None;
        }
        out.push(0);
        return Some(());
    }
    for c in &f.checks {
        let ok = match (c, &v) {
            (Check::UnitCode, V::Str(s)) => valid_credit_code(s),
            (Check::PartyCreditCode, V::Str(s)) => *s == "00000000000000000X" || valid_credit_code(s),
            (Check::PastDate, V::Date(d)) => *d < ctx.today_china - 1,
            (Check::PastInstant, V::Ts(d)) => day_micros(*d) < ctx.now_us - 86_400_000_000,
            (Check::NonNegative, V::Int(i)) => *i >= 0,
            (Check::DivisionCode, V::Str(s)) => s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) && is_province(&s.as_bytes()[..2]),
            (Check::ResidentId, V::Str(s)) => valid_resident_id(s, ctx.today_china) && !s.contains('x'),
            // _check_decimal (^-?\d+(\.\d+)?$ on the stripped text, which it returns):
            // held to ASCII digits, the text unchanged
            (Check::Decimal, V::Str(s)) => is_plain_decimal(s),
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    if f.opt {
        out.push(2);
    }
    match (f.kind, v) {
        (Kind::Str, V::Str(s)) => {
            zigzag(out, s.len() as i64);
            out.extend_from_slice(s.as_bytes());
        }
        (Kind::Long, V::Int(i)) => zigzag(out, i),
        (Kind::Date, V::Date(d)) => zigzag(out, d as i64),
        (Kind::Ts, V::Ts(d)) => zigzag(out, day_micros(d)),
        (Kind::Ts, V::Micros(m)) => zigzag(out, m),
        (Kind::Enum, V::Str(s)) => zigzag(out, *f.symbols.get(s)?),
        (Kind::ArrayEnum, V::List(items)) => {
            if !items.is_empty() {
                zigzag(out, items.len() as i64);
                for s in items {
                    zigzag(out, *f.symbols.get(s)?);
                }
            }
            out.push(0);
        }
        (Kind::ArrayEnum, V::EmptyList) => out.push(0),
        _ => return None, // another type: pydantic might coerce it; Python decides
    }
    Some(())
}

// ------------------------------------------------------------------------------ pieces

fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn day_micros(d: i32) -> i64 {
    (d as i64) * 86_400_000_000 - 8 * 3600 * 1_000_000
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146097 + doe - 719468) as i32
}

fn civil_from_days(z: i32) -> (i64, i64, i64) {
    let z = z as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-M(M)-D(D)` in ASCII digits, a real calendar day (what strptime's first format
/// accepts of such text); anything else: doubt.
fn parse_date(t: &str) -> Option<i32> {
    let mut parts = t.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
        || !(y.bytes().chain(m.bytes()).chain(d.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if y < 1 || !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(m - 1) as usize];
    if d > dim {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// The cells of one record, as `next(csv.reader([text]))` (the excel dialect) gives them,
/// for records whose quotes are plain: a cell is unquoted and holds no quote, or is
/// wholly quoted (`"a,b"`, the delimiter right after the closing quote) and holds no
/// quote inside (an escaped `""` is doubted, as is a quote anywhere else). No control
/// character reaches here (scan_raw), so no line break is inside a quoted cell.
fn split_cells<'a>(line: &'a str, delim: u8, cells: &mut [&'a str; 128]) -> Option<usize> {
    let b = line.as_bytes();
    let mut count = 0;
    let mut i = 0;
    loop {
        if count >= cells.len() {
            return None;
        }
        if i < b.len() && b[i] == b'"' {
            let start = i + 1;
            let close = start + b[start..].iter().position(|&c| c == b'"')?;
            if close + 1 < b.len() && b[close + 1] != delim {
                return None; // an escaped quote, or text after the closing quote
            }
            cells[count] = &line[start..close];
            count += 1;
            if close + 1 >= b.len() {
                return Some(count);
            }
            i = close + 2;
        } else {
            let end = i + b[i..].iter().position(|&c| c == delim).unwrap_or(b.len() - i);
            if b[i..end].contains(&b'"') {
                return None;
            }
            cells[count] = &line[i..end];
            count += 1;
            if end >= b.len() {
                return Some(count);
            }
            i = end + 1;
        }
    }
}

/// `YYYY/MM/DD` in ASCII digits, a real calendar day: what strptime's second default
/// format (`%Y/%m/%d`) reads of such text once the first (`%Y-%m-%d`) failed.
fn parse_slash_date(t: &str) -> Option<i32> {
    let b = t.as_bytes();
    if b.len() != 10 || b[4] != b'/' || b[7] != b'/' {
        return None;
    }
    if ![0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&k| b[k].is_ascii_digit()) {
        return None;
    }
    parse_date(&format!("{}-{}-{}", &t[..4], &t[5..7], &t[8..]))
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` in ASCII digits, a real day and time (what
/// `datetime.fromisoformat` reads of such text): (day, seconds into it). Anything else
/// (other formats, fractions of a second, a zone): doubt.
fn parse_datetime(t: &str) -> Option<(i32, i64)> {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 && b.len() != 19 {
        return None;
    }
    // `YYYY/MM/DD` (and with a time): no ISO form, the strptime fallbacks read the same
    // day and time (`%Y/%m/%d %H:%M:%S`, or `%Y/%m/%d` at midnight)
    let sep = b[4];
    if !((sep == b'-' || sep == b'/') && b[7] == sep && digits(0..4) && digits(5..7) && digits(8..10)) {
        return None;
    }
    let d = if sep == b'-' { parse_date(&t[..10])? } else { parse_slash_date(&t[..10])? };
    if b.len() == 10 {
        return Some((d, 0));
    }
    if !(b[10] == b' ' && digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19)) {
        return None;
    }
    let (h, m, s): (i64, i64, i64) = (t[11..13].parse().ok()?, t[14..16].parse().ok()?, t[17..19].parse().ok()?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some((d, h * 3600 + m * 60 + s))
}

/// `format(Decimal(text).normalize(), "f")` for plain ASCII `digits[.digits]` text of at
/// most 20 characters (within the context's 28 digits): leading zeros and trailing
/// fraction zeros dropped, always a slice of the text. Anything else: doubt.
fn plain_decimal(t: &str) -> Option<&str> {
    if t.len() > 20 || !is_plain_decimal(t) {
        return None;
    }
    let (int, frac) = match t.split_once('.') {
        Some((a, b)) => (a, b),
        None => (t, ""),
    };
    let lead = int.len() - int.trim_start_matches('0').len();
    let start = lead.min(int.len() - 1); // keep one zero of an all-zero integer part
    let frac = frac.trim_end_matches('0');
    let end = if frac.is_empty() { int.len() } else { int.len() + 1 + frac.len() };
    Some(&t[start..end])
}

/// ASCII `digits` or `digits.digits`.
fn is_plain_decimal(t: &str) -> bool {
    let (int, frac) = match t.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (t, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Python's mapper._day: a date's day, an instant's day in China time; None otherwise.
fn china_day(v: &V) -> Option<i32> {
    match v {
        V::Date(d) | V::Ts(d) => Some(*d),
        V::Micros(m) => Some((m + 8 * 3600 * 1_000_000).div_euclid(86_400_000_000) as i32),
        _ => None,
    }
}

/// `Decimal(text) * 1_000_000` as an exact non-negative integer, for plain ASCII
/// `digits[.digits]` text; anything else (signs, exponents, separators): doubt.
fn wan_yuan_to_fen(t: &str) -> Option<i64> {
    if t.len() > 40 {
        return None;
    }
    let (int, frac) = match t.split_once('.') {
        Some((a, b)) => (a, b),
        None => (t, ""),
    };
    if int.is_empty() || (t.contains('.') && frac.is_empty()) {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut fen: i128 = 0;
    for b in int.bytes() {
        fen = fen * 10 + (b - b'0') as i128;
        if fen > 1_000_000_000_000_000 {
            return None;
        }
    }
    fen *= 1_000_000;
    for (k, b) in frac.bytes().enumerate() {
        let digit = (b - b'0') as i128;
        if k < 6 {
            fen += digit * 10i128.pow(5 - k as u32);
        } else if digit != 0 {
            return None; // a fraction of a fen: refused by Python
        }
    }
    i64::try_from(fen).ok()
}

const CREDIT_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// hub.identity.PROVINCE_CODES: the GB/T 2260 province-level codes (first two digits).
fn is_province(p: &[u8]) -> bool {
    if p.len() != 2 || !p.iter().all(u8::is_ascii_digit) {
        return false;
    }
    matches!((p[0] - b'0') * 10 + (p[1] - b'0'), 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82)
}

/// is_valid_credit_code for text that is already upper case (lower case: doubt): the
/// alphabet, a registration department other than 0, a 6-digit division part, the check.
fn valid_credit_code(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 || b[0] == b'0' || !b[2..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut total = 0u32;
    for (i, c) in b.iter().enumerate() {
        let Some(v) = CREDIT_ALPHABET.iter().position(|x| x == c) else { return false };
        if i < 17 {
            total += v as u32 * CREDIT_WEIGHTS[i];
        }
    }
    CREDIT_ALPHABET[((31 - total % 31) % 31) as usize] == b[17]
}

const RESIDENT_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// is_valid_resident_id (which upper-cases first: a trailing x is accepted): ASCII
/// digits, a province address code (or 83), a real birth date from 1900, the check.
/// A birth date within a day of today (China) is doubted, as past dates are: Python
/// judges it against its own clock.
fn valid_resident_id(s: &str, today_china: i32) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !(is_province(&b[..2]) || &b[..2] == b"83") {
        return false;
    }
    let Some(born) = parse_date(&format!("{}-{}-{}", &s[6..10], &s[10..12], &s[12..14])) else {
        return false;
    };
    if born < days_from_civil(1900, 1, 1) || born >= today_china - 1 {
        return false;
    }
    let total: u32 = b[..17].iter().zip(RESIDENT_WEIGHTS).map(|(c, w)| (c - b'0') as u32 * w).sum();
    let check = b"10X98765432"[(total % 11) as usize];
    b[17].to_ascii_uppercase() == check && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize]);
        s.push(DIGITS[(b & 15) as usize]);
    }
    String::from_utf8(s).unwrap()
}

fn uuid5(prefix: &Sha1, parts: &[&str]) -> String {
    let mut h = prefix.clone();
    for p in parts {
        h.update(p.as_bytes());
    }
    let t = hex(&h.finalize());
    let variant = b"89ab"[(u8::from_str_radix(&t[16..17], 16).unwrap() & 3) as usize] as char;
    let mut u = String::with_capacity(36);
    u.push_str(&t[..8]);
    u.push('-');
    u.push_str(&t[8..12]);
    u.push_str("-5");
    u.push_str(&t[13..16]);
    u.push('-');
    u.push(variant);
    u.push_str(&t[17..20]);
    u.push('-');
    u.push_str(&t[20..32]);
    u
}

fn murmur2(key: &[u8]) -> i64 {
    const M: u32 = 0x5bd1_e995;
    let len = key.len();
    let mut h: u32 = 0x9747_b28c ^ len as u32;
    let chunks = key.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    match tail.len() {
        3 => {
            h ^= (tail[2] as u32) << 16;
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    (h & 0x7fff_ffff) as i64
}

/// The BMP characters a UTF-8 row may hold: those a two-byte GB18030 code the decoders
/// agree on reads as (what `scan_raw` lets through), so every character the core meets
/// in a UTF-8 row is one the GB18030 tests hold it to.
fn utf8_characters(gb_doubt: &[bool]) -> Vec<bool> {
    let mut allowed = vec![false; 65536];
    for lead in 0x81u8..=0xfe {
        for trail in 0x40u8..=0xfe {
            if trail == 0x7f || gb_doubt[((lead as usize) << 8) | trail as usize] {
                continue;
            }
            let pair = [lead, trail];
            if let Some(text) = encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(&pair) {
                let mut chars = text.chars();
                if let (Some(c), None) = (chars.next(), chars.next()) {
                    if (c as usize) < 0x10000 && (c as usize) >= 0x80 {
                        allowed[c as usize] = true;
                    }
                }
            }
        }
    }
    allowed
}

/// An object member's key and colon, with the comma before every member but the first.
fn json_member(js: &mut String, first: &mut bool, name: &str) {
    if !*first {
        js.push(',');
    }
    *first = false;
    json_str(js, name);
    js.push(':');
}

fn json_str(js: &mut String, s: &str) {
    js.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\') {
        js.push_str(s);
        js.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => js.push_str("\\\""),
            '\\' => js.push_str("\\\\"),
            c => js.push(c), // controls never get here (doubted in scan_raw)
        }
    }
    js.push('"');
}

fn json_val(js: &mut String, v: &V) {
    match v {
        V::Str(s) => json_str(js, s),
        V::Int(i) => {
            let _ = write!(js, "{i}");
        }
        V::Date(d) => {
            let (y, m, dd) = civil_from_days(*d);
            let _ = write!(js, "\"{y:04}-{m:02}-{dd:02}\"");
        }
        V::Ts(d) => {
            let (y, m, dd) = civil_from_days(*d);
            let _ = write!(js, "\"{y:04}-{m:02}-{dd:02} 00:00:00+08:00\"");
        }
        V::Micros(m) => {
            // str() of an aware datetime in Asia/Shanghai (+08:00 from 1992 on), whole seconds
            let local = m + 8 * 3600 * 1_000_000;
            let (y, mo, dd) = civil_from_days(local.div_euclid(86_400_000_000) as i32);
            let s = local.rem_euclid(86_400_000_000) / 1_000_000;
            let _ = write!(js, "\"{y:04}-{mo:02}-{dd:02} {:02}:{:02}:{:02}+08:00\"", s / 3600, s / 60 % 60, s % 60);
        }
        V::List(items) => {
            js.push('[');
            for (k, s) in items.iter().enumerate() {
                if k > 0 {
                    js.push(',');
                }
                json_str(js, s);
            }
            js.push(']');
        }
        V::EmptyList => js.push_str("[]"),
        V::Null => js.push_str("null"),
    }
}

fn ce_time(d: i32) -> String {
    let (y, m, dd) = civil_from_days(d);
    format!("{y:04}-{m:02}-{dd:02}T00:00:00+08:00")
}

/// Code points Rust's `char::is_whitespace` (this strip) accepts.
#[pyfunction]
fn whitespace_chars() -> Vec<u32> {
    (0..0x110000u32).filter_map(char::from_u32).filter(|c| c.is_whitespace()).map(|c| c as u32).collect()
}

/// This GB18030 decode of a byte string (None when it refuses it), to compare
/// with Python's codec.
#[pyfunction]
fn decode_gb18030(raw: &[u8]) -> Option<String> {
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(raw)
        .map(|c| c.into_owned())
}

#[pymodule]
fn _rowpath(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Plan>()?;
    m.add_function(wrap_pyfunction!(decode_gb18030, m)?)?;
    m.add_function(wrap_pyfunction!(whitespace_chars, m)?)?;
    Ok(())
}
