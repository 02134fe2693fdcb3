//! A1111's prompt syntax, parsed the way its `prompt_parser.py` parses it, in its order:
//!
//! 1. [`extra_networks`]: `<lora:name:weight>`-style tags are cut out of the text.
//! 2. [`split_and`]: the text splits on `AND` into sub-prompts, each with an optional
//!    trailing `:weight` (composable diffusion).
//! 3. [`schedules`]: prompt editing `[from:to:when]` and alternation `[a|b]` turn each
//!    sub-prompt into the texts in force up to given steps.
//! 4. [`parse_attention`]: emphasis `(x)`, `(x:1.3)`, `[x]`, escapes and `BREAK` turn
//!    each scheduled text into fragments with weights.
//!
//! The quirks are A1111's and are kept on purpose, because users' prompts were tuned
//! against them: unbalanced brackets still weigh what follows them, a stray `)` is text, a
//! lone backslash vanishes, a prompt the scheduling grammar cannot read is used verbatim,
//! and a step at the boundary `when` still uses the `from` text.

use serde::Serialize;

use crate::{Result, TokenizerError};

/// `(x)` multiplies by this, `[x]` divides by it.
pub const EMPHASIS: f64 = 1.1;
/// The text and weight A1111 gives a `BREAK` in attention.
pub const BREAK: (&str, f64) = ("BREAK", -1.0);

/// One `<kind:arg:arg…>` tag, e.g. `<lora:name:0.8>` → kind `lora`, args `["name", "0.8"]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtraNetwork {
    pub kind: String,
    pub args: Vec<String>,
}

impl ExtraNetwork {
    pub fn name(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Cuts out every `<kind:args>` tag (A1111's `<(\w+):([^>]+)>`), returning the text
/// without them and the tags in order.
pub fn extra_networks(prompt: &str) -> (String, Vec<ExtraNetwork>) {
    let mut text = String::with_capacity(prompt.len());
    let mut found = Vec::new();
    let mut rest = prompt;
    while let Some(at) = rest.find('<') {
        text.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let kind_len: usize = tail
            .chars()
            .take_while(|&c| is_word(c))
            .map(char::len_utf8)
            .sum();
        let after_kind = &tail[kind_len..];
        let tag = (kind_len > 0 && after_kind.starts_with(':'))
            .then(|| after_kind[1..].find('>').filter(|&n| n > 0))
            .flatten();
        match tag {
            Some(n) => {
                found.push(ExtraNetwork {
                    kind: tail[..kind_len].to_string(),
                    args: after_kind[1..1 + n].split(':').map(str::to_string).collect(),
                });
                rest = &after_kind[1 + n + 1..];
            }
            None => {
                text.push('<');
                rest = tail;
            }
        }
    }
    text.push_str(rest);
    (text, found)
}

/// Where `word` occurs with a word boundary on both sides (`\bword\b`).
fn word_matches(text: &str, word: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find(word) {
        let at = from + rel;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            out.push(at);
            from = at + word.len();
        } else {
            from = at + 1;
        }
    }
    out
}

/// Splits on `AND` (A1111's `\bAND\b`) into `(text, weight)`: a trailing `:number` is the
/// weight (1 when absent), and trailing whitespace is dropped.
pub fn split_and(prompt: &str) -> Vec<(String, f64)> {
    let mut parts = Vec::new();
    let mut start = 0;
    for at in word_matches(prompt, "AND") {
        parts.push(&prompt[start..at]);
        start = at + 3;
    }
    parts.push(&prompt[start..]);
    parts.into_iter().map(subprompt_weight).collect()
}

/// A1111's `^(.*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$`.
fn subprompt_weight(part: &str) -> (String, f64) {
    let trimmed = part.trim_end();
    if let Some(colon) = trimmed.rfind(':') {
        let number = trimmed[colon + 1..].trim_start();
        if is_and_weight(number) {
            if let Ok(w) = number.parse::<f64>() {
                return (trimmed[..colon].trim_end().to_string(), w);
            }
        }
    }
    (trimmed.to_string(), 1.0)
}

fn is_and_weight(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        // `\d+`
        None => !s.is_empty() && digits(s),
        // `\d+\.` or `\d*\.\d+`
        Some((int, frac)) => digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()),
    }
}

/// A piece of a prompt after the scheduling grammar has read it.
#[derive(Debug, Clone)]
enum Node {
    Text(String),
    /// `[before:after:when]`; `when` is the raw number as written.
    Scheduled {
        before: Vec<Node>,
        after: Vec<Node>,
        when: String,
    },
    Alternate(Vec<Vec<Node>>),
}

/// A recursive-descent reading of A1111's lark grammar:
///
/// ```text
/// start: (prompt | /[][():]/+)*
/// prompt: (emphasized | scheduled | alternate | plain | WHITESPACE)*
/// emphasized: "(" prompt ")" | "(" prompt ":" prompt ")" | "[" prompt "]"
/// scheduled: "[" [prompt ":"] prompt ":" [WHITESPACE] NUMBER [WHITESPACE] "]"
/// alternate: "[" prompt ("|" [prompt])+ "]"
/// plain: /([^\\\[\]():|]|\\.)+/
/// ```
///
/// Where a bracket can open a construct it does (the grammar's preferred reading);
/// inside a construct every bracket must be balanced, and at the top level an
/// unmatched one is kept as text.
struct Grammar<'a> {
    s: &'a [char],
}

impl Grammar<'_> {
    fn start(&self) -> Option<Vec<Node>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.s.len() {
            if let Some(j) = self.item(i, &mut out) {
                i = j;
                continue;
            }
            match self.s[i] {
                c @ ('[' | ']' | '(' | ')' | ':') => {
                    out.push(Node::Text(c.to_string()));
                    i += 1;
                }
                _ => return None,
            }
        }
        Some(out)
    }

    fn prompt(&self, mut i: usize) -> (Vec<Node>, usize) {
        let mut out = Vec::new();
        while let Some(j) = self.item(i, &mut out) {
            i = j;
        }
        (out, i)
    }

    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    /// One emphasized, scheduled, alternate or plain item at `i`, appended to `out`;
    /// returns the position after it.
    fn item(&self, i: usize, out: &mut Vec<Node>) -> Option<usize> {
        match self.at(i)? {
            '(' => {
                let (first, j) = self.prompt(i + 1);
                let mut nodes = vec![Node::Text("(".into())];
                nodes.extend(first);
                let end = match self.at(j)? {
                    ')' => j,
                    ':' => {
                        let (second, k) = self.prompt(j + 1);
                        if self.at(k)? != ')' {
                            return None;
                        }
                        nodes.push(Node::Text(":".into()));
                        nodes.extend(second);
                        k
                    }
                    _ => return None,
                };
                nodes.push(Node::Text(")".into()));
                out.extend(nodes);
                Some(end + 1)
            }
            '[' => self.square(i, out),
            ']' | ')' | ':' | '|' => None,
            _ => {
                let mut j = i;
                let mut text = String::new();
                while let Some(c) = self.at(j) {
                    match c {
                        '\\' => {
                            let next = self.at(j + 1)?;
                            text.push(c);
                            text.push(next);
                            j += 2;
                        }
                        '[' | ']' | '(' | ')' | ':' | '|' => break,
                        _ => {
                            text.push(c);
                            j += 1;
                        }
                    }
                }
                out.push(Node::Text(text));
                Some(j)
            }
        }
    }

    fn square(&self, i: usize, out: &mut Vec<Node>) -> Option<usize> {
        let (first, j) = self.prompt(i + 1);
        match self.at(j)? {
            ']' => {
                out.push(Node::Text("[".into()));
                out.extend(first);
                out.push(Node::Text("]".into()));
                Some(j + 1)
            }
            '|' => {
                let mut options = vec![first];
                let mut j = j;
                while self.at(j) == Some('|') {
                    let (option, k) = self.prompt(j + 1);
                    options.push(option);
                    j = k;
                }
                if self.at(j)? != ']' {
                    return None;
                }
                out.push(Node::Alternate(options));
                Some(j + 1)
            }
            ':' => {
                if let Some((when, end)) = self.number_then_close(j + 1) {
                    out.push(Node::Scheduled {
                        before: Vec::new(),
                        after: first,
                        when,
                    });
                    return Some(end);
                }
                let (second, k) = self.prompt(j + 1);
                if self.at(k)? != ':' {
                    return None;
                }
                let (when, end) = self.number_then_close(k + 1)?;
                out.push(Node::Scheduled {
                    before: first,
                    after: second,
                    when,
                });
                Some(end)
            }
            _ => None,
        }
    }

    /// `[WHITESPACE] SIGNED_NUMBER [WHITESPACE] "]"` at `i`: the number and the position
    /// after the bracket.
    fn number_then_close(&self, mut i: usize) -> Option<(String, usize)> {
        let skip_ws = |mut i: usize| {
            while self.at(i).is_some_and(char::is_whitespace) {
                i += 1;
            }
            i
        };
        i = skip_ws(i);
        let start = i;
        let digits = |mut i: usize| {
            let from = i;
            while self.at(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            (i, i > from)
        };
        if matches!(self.at(i), Some('+' | '-')) {
            i += 1;
        }
        let (j, int) = digits(i);
        i = j;
        let mut frac = false;
        if self.at(i) == Some('.') {
            let (j, f) = digits(i + 1);
            if int || f {
                i = j;
                frac = f || int;
            }
        }
        if !int && !frac {
            return None;
        }
        if matches!(self.at(i), Some('e' | 'E')) {
            let mut k = i + 1;
            if matches!(self.at(k), Some('+' | '-')) {
                k += 1;
            }
            let (j, exp) = digits(k);
            if exp {
                i = j;
            }
        }
        let number: String = self.s[start..i].iter().collect();
        let end = skip_ws(i);
        (self.at(end)? == ']').then_some((number, end + 1))
    }
}

/// The step a `when` stands for: a number with a `.` is a fraction of the steps, one
/// without is a step number; never past the last step.
fn resolve_when(when: &str, steps: u32) -> i64 {
    let v: f64 = when.parse().unwrap_or(0.0);
    let v = if when.contains('.') {
        v * f64::from(steps)
    } else {
        v
    };
    // Python's int() truncates; the clamp keeps absurd exponents finite.
    (v.clamp(-1e15, 1e15).trunc() as i64).min(i64::from(steps))
}

fn collect_steps(nodes: &[Node], steps: u32, out: &mut Vec<u32>) {
    for node in nodes {
        match node {
            Node::Text(_) => {}
            Node::Scheduled {
                before,
                after,
                when,
            } => {
                let at = resolve_when(when, steps);
                if at >= 1 {
                    out.push(at as u32);
                }
                collect_steps(before, steps, out);
                collect_steps(after, steps, out);
            }
            Node::Alternate(options) => {
                out.extend(1..=steps);
                for option in options {
                    collect_steps(option, steps, out);
                }
            }
        }
    }
}

fn render(nodes: &[Node], step: u32, steps: u32, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Scheduled {
                before,
                after,
                when,
            } => {
                let chosen = if i64::from(step) <= resolve_when(when, steps) {
                    before
                } else {
                    after
                };
                render(chosen, step, steps, out);
            }
            Node::Alternate(options) => {
                let pick = (step as usize - 1) % options.len();
                render(&options[pick], step, steps, out);
            }
        }
    }
}

/// The texts of one (sub-)prompt over a run of `steps`: `(end_step, text)` pairs, each
/// text in force for the steps up to and including its `end_step`.
pub fn schedules(prompt: &str, steps: u32) -> Vec<(u32, String)> {
    let steps = steps.max(1);
    let chars: Vec<char> = prompt.chars().collect();
    let Some(tree) = (Grammar { s: &chars }).start() else {
        return vec![(steps, prompt.to_string())];
    };
    let mut ends = vec![steps];
    collect_steps(&tree, steps, &mut ends);
    ends.sort_unstable();
    ends.dedup();
    ends.into_iter()
        .map(|step| {
            let mut text = String::new();
            render(&tree, step, steps, &mut text);
            (step, text)
        })
        .collect()
}

/// Splits a text run on `BREAK` (A1111's `\s*\bBREAK\b\s*`), whitespace around it
/// included.
fn split_break(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for at in word_matches(text, "BREAK") {
        if at < start {
            continue;
        }
        let before = text[start..at].trim_end_matches(char::is_whitespace);
        parts.push(before);
        start = at + BREAK.0.len();
        start += text[start..].len() - text[start..].trim_start().len();
    }
    parts.push(&text[start..]);
    parts
}

/// Emphasis: the text as `(fragment, weight)` pairs, neighbours with equal weights
/// merged, a `BREAK` as `("BREAK", -1)`.
pub fn parse_attention(text: &str) -> Result<Vec<(String, f64)>> {
    let mut res: Vec<(String, f64)> = Vec::new();
    let mut round: Vec<usize> = Vec::new();
    let mut square: Vec<usize> = Vec::new();
    let multiply = |res: &mut Vec<(String, f64)>, from: usize, m: f64| {
        for item in &mut res[from..] {
            item.1 *= m;
        }
    };
    let push_text = |res: &mut Vec<(String, f64)>, t: &str| {
        for (i, part) in split_break(t).into_iter().enumerate() {
            if i > 0 {
                res.push((BREAK.0.to_string(), BREAK.1));
            }
            res.push((part.to_string(), 1.0));
        }
    };
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match c {
            '\\' => {
                let next = rest[1..].chars().next();
                match next {
                    Some(e @ ('(' | ')' | '[' | ']' | '\\')) => {
                        res.push((e.to_string(), 1.0));
                        rest = &rest[2..];
                    }
                    // A backslash that escapes nothing is dropped.
                    _ => {
                        res.push((String::new(), 1.0));
                        rest = &rest[1..];
                    }
                }
            }
            '(' => {
                round.push(res.len());
                rest = &rest[1..];
            }
            '[' => {
                square.push(res.len());
                rest = &rest[1..];
            }
            ':' => match weight_close(rest) {
                Some((weight, len)) => {
                    match round.pop() {
                        Some(from) => {
                            let w: f64 = weight.parse().map_err(|_| {
                                TokenizerError(format!(
                                    "prompt: the emphasis weight `{weight}` is not a number; write it like (word:1.2)"
                                ))
                            })?;
                            multiply(&mut res, from, w);
                        }
                        None => push_text(&mut res, &rest[..len]),
                    }
                    rest = &rest[len..];
                }
                None => {
                    push_text(&mut res, ":");
                    rest = &rest[1..];
                }
            },
            ')' => {
                match round.pop() {
                    Some(from) => multiply(&mut res, from, EMPHASIS),
                    None => push_text(&mut res, ")"),
                }
                rest = &rest[1..];
            }
            ']' => {
                match square.pop() {
                    Some(from) => multiply(&mut res, from, 1.0 / EMPHASIS),
                    None => push_text(&mut res, "]"),
                }
                rest = &rest[1..];
            }
            _ => {
                let end = rest
                    .find(['\\', '(', ')', '[', ']', ':'])
                    .unwrap_or(rest.len());
                push_text(&mut res, &rest[..end]);
                rest = &rest[end..];
            }
        }
    }
    for from in round {
        multiply(&mut res, from, EMPHASIS);
    }
    for from in square {
        multiply(&mut res, from, 1.0 / EMPHASIS);
    }
    if res.is_empty() {
        res.push((String::new(), 1.0));
    }
    let mut merged: Vec<(String, f64)> = Vec::with_capacity(res.len());
    for (t, w) in res {
        match merged.last_mut() {
            Some(last) if last.1 == w => last.0.push_str(&t),
            _ => merged.push((t, w)),
        }
    }
    Ok(merged)
}

/// `:\s*([+-]?[.\d]+)\s*\)` at the start of `s`: the weight and the match length.
fn weight_close(s: &str) -> Option<(&str, usize)> {
    let after_colon = &s[1..];
    let ws = after_colon.len() - after_colon.trim_start().len();
    let body = &after_colon[ws..];
    let sign = usize::from(body.starts_with(['+', '-']));
    let digits = body[sign..]
        .find(|c: char| !(c == '.' || c.is_ascii_digit()))
        .unwrap_or(body.len() - sign);
    if digits == 0 {
        return None;
    }
    let weight = &body[..sign + digits];
    let tail = &body[sign + digits..];
    let ws2 = tail.len() - tail.trim_start().len();
    tail[ws2..]
        .starts_with(')')
        .then_some((weight, 1 + ws + sign + digits + ws2 + 1))
}

/// What the parser made of a prompt, in A1111's terms (`ra-daemon prompt parse`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedPrompt {
    #[serde(rename = "and")]
    pub parts: Vec<SubPrompt>,
    pub extra_networks: Vec<ExtraNetwork>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubPrompt {
    pub text: String,
    pub weight: f64,
    pub schedules: Vec<Scheduled>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scheduled {
    pub end_step: u32,
    pub text: String,
    #[serde(serialize_with = "attention_json")]
    pub attention: Vec<(String, f64)>,
}

/// Python prints A1111's BREAK weight as the integer -1; everything else as a float.
fn attention_json<S: serde::Serializer>(
    attention: &[(String, f64)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(attention.len()))?;
    for (text, weight) in attention {
        if (text.as_str(), *weight) == BREAK {
            seq.serialize_element(&(text, -1i32))?;
        } else {
            seq.serialize_element(&(text, weight))?;
        }
    }
    seq.end()
}

impl ParsedPrompt {
    /// The whole pipeline for a run of `steps`.
    pub fn parse(prompt: &str, steps: u32) -> Result<Self> {
        let (text, extra_networks) = extra_networks(prompt);
        let parts = split_and(&text)
            .into_iter()
            .map(|(text, weight)| {
                let schedules = schedules(&text, steps)
                    .into_iter()
                    .map(|(end_step, text)| {
                        let attention = parse_attention(&text)?;
                        Ok(Scheduled {
                            end_step,
                            text,
                            attention,
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(SubPrompt {
                    text,
                    weight,
                    schedules,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            parts,
            extra_networks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(text: &str) -> Vec<(String, f64)> {
        parse_attention(text).unwrap()
    }

    fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(t, w)| (t.to_string(), *w)).collect()
    }

    #[test]
    fn emphasis_multiplies_in_closing_order() {
        assert_eq!(att("a (b) c"), pairs(&[("a ", 1.0), ("b", 1.1), (" c", 1.0)]));
        assert_eq!(att("((b))"), pairs(&[("b", 1.1 * 1.1)]));
        assert_eq!(att("[b]"), pairs(&[("b", 1.0 / 1.1)]));
        assert_eq!(att("(b:1.3)"), pairs(&[("b", 1.3)]));
        assert_eq!(att("\\(b\\)"), pairs(&[("(b)", 1.0)]));
        assert_eq!(att("a)"), pairs(&[("a)", 1.0)]));
        assert_eq!(att("(a"), pairs(&[("a", 1.1)]));
        assert_eq!(att(""), pairs(&[("", 1.0)]));
        assert_eq!(
            att("a BREAK b"),
            pairs(&[("a", 1.0), ("BREAK", -1.0), ("b", 1.0)])
        );
        assert!(parse_attention("(a:1.2.3)").is_err());
    }

    #[test]
    fn scheduling_and_alternation() {
        assert_eq!(
            schedules("a [b:c:10] d", 20),
            vec![(10, "a b d".into()), (20, "a c d".into())]
        );
        assert_eq!(schedules("[b:c:0.5]", 20)[0], (10, "b".into()));
        assert_eq!(
            schedules("[a|b]", 3),
            vec![(1, "a".into()), (2, "b".into()), (3, "a".into())]
        );
        // Unreadable by the grammar: used as written.
        assert_eq!(schedules("a | b", 20), vec![(20, "a | b".into())]);
    }

    #[test]
    fn and_splits_with_weights_and_tags_are_cut() {
        assert_eq!(
            split_and("a AND b:0.5 AND c"),
            vec![("a".into(), 1.0), (" b".into(), 0.5), (" c".into(), 1.0)]
        );
        let (text, nets) = extra_networks("a <lora:x:0.8> b <bad>");
        assert_eq!(text, "a  b <bad>");
        assert_eq!(nets[0].args, vec!["x", "0.8"]);
    }
}
