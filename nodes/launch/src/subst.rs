//! Substitutions of the launch XML frontend: `$(var NAME)`, `$(env NAME [DEFAULT])`, …
//!
//! The parser follows the grammar of `launch/frontend/grammar.lark` in ros2/launch: a template
//! is text with embedded `$(NAME ARG ...)`; arguments are separated by single spaces and may be
//! single- or double-quoted templates themselves; a backslash makes the next character literal.
//! Evaluation happens in [`crate::parse`], which knows the launch context.

/// One piece of a template: literal text or a substitution.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text (escapes already removed).
    Text(String),
    /// `$(name arg arg ...)`; each argument is itself a template.
    Subst {
        /// Substitution name, e.g. `var`, `env`, `find-pkg-share`.
        name: String,
        /// Arguments, each a template.
        args: Vec<Vec<Part>>,
    },
}

/// Where quoting stands while parsing a nested argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

impl Quote {
    fn char(self) -> Option<char> {
        match self {
            Quote::None => None,
            Quote::Single => Some('\''),
            Quote::Double => Some('"'),
        }
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
}

/// Parses a template (an attribute value) into parts.
///
/// Errors are human-readable strings naming the position; the caller adds file and line.
pub fn parse_template(src: &str) -> Result<Vec<Part>, String> {
    let mut p = Parser {
        chars: src.chars().collect(),
        pos: 0,
        src,
    };
    let parts = p.template(Quote::None)?;
    if p.pos != p.chars.len() {
        return Err(p.err("unexpected character"));
    }
    Ok(parts)
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!(
            "{what} at column {} of substitution template \"{}\"",
            self.pos + 1,
            self.src
        )
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_subst(&self) -> bool {
        self.peek() == Some('$') && self.chars.get(self.pos + 1) == Some(&'(')
    }

    /// Top-level (or quoted) template: text fragments and substitutions until the end or the
    /// closing quote.
    fn template(&mut self, quote: Quote) -> Result<Vec<Part>, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == quote.char() {
                break;
            }
            if self.at_subst() {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(self.substitution(quote)?);
                continue;
            }
            self.pos += 1;
            if c == '\\' {
                match self.peek() {
                    Some(next) => {
                        text.push(next);
                        self.pos += 1;
                    }
                    None => text.push('\\'),
                }
            } else {
                text.push(c);
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(parts)
    }

    /// `$(` IDENTIFIER (` ` arguments)? `)`
    fn substitution(&mut self, quote: Quote) -> Result<Part, String> {
        self.pos += 2; // "$("
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = if self.pos == start {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric() || c == '_' || c == '-'
            };
            if !ok {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a substitution name after '$('"));
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let mut args = Vec::new();
        loop {
            match self.peek() {
                Some(')') => {
                    self.pos += 1;
                    return Ok(Part::Subst { name, args });
                }
                Some(' ') => {
                    self.pos += 1;
                    args.push(self.value(quote)?);
                }
                Some(_) => return Err(self.err("expected ' ' or ')' in substitution")),
                None => return Err(self.err("unterminated substitution (missing ')')")),
            }
        }
    }

    /// One argument: parts up to a space or ')' or, unquoted only, a quoted template.
    fn value(&mut self, quote: Quote) -> Result<Vec<Part>, String> {
        if quote == Quote::None {
            if let Some(q @ ('\'' | '"')) = self.peek() {
                let inner = if q == '\'' {
                    Quote::Single
                } else {
                    Quote::Double
                };
                self.pos += 1;
                let parts = self.template(inner)?;
                if self.peek() != Some(q) {
                    return Err(self.err("unterminated quoted argument"));
                }
                self.pos += 1;
                return Ok(parts);
            }
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if self.at_subst() {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(self.substitution(quote)?);
                continue;
            }
            let stop = c == ' '
                || c == '('
                || c == ')'
                || match quote {
                    Quote::None => c == '\'' || c == '"',
                    Quote::Single => c == '\'',
                    Quote::Double => c == '"',
                };
            if stop {
                break;
            }
            self.pos += 1;
            if c == '\\' {
                match self.peek() {
                    Some(next) => {
                        text.push(next);
                        self.pos += 1;
                    }
                    None => text.push('\\'),
                }
            } else {
                text.push(c);
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        if parts.is_empty() {
            return Err(self.err("empty substitution argument"));
        }
        Ok(parts)
    }
}

/// Splits a command line template into arguments the way launch's
/// `ExecuteProcess._parse_cmdline` does: literal text is split like a POSIX shell (`shlex`),
/// a substitution's value is never split and joins the text directly around it.
///
/// The closure evaluates one substitution.
pub fn split_cmdline<F>(parts: &[Part], mut eval: F) -> Result<Vec<String>, String>
where
    F: FnMut(&Part) -> Result<String, String>,
{
    let mut result: Vec<String> = Vec::new();
    let mut arg: Option<String> = None;
    for part in parts {
        match part {
            Part::Text(text) => {
                let tokens = shlex::split(text)
                    .ok_or_else(|| format!("unbalanced quotes in command line text \"{text}\""))?;
                let Some(first) = tokens.first() else {
                    // Only spaces: ends the current argument.
                    if let Some(a) = arg.take() {
                        result.push(a);
                    }
                    continue;
                };
                if text.starts_with(char::is_whitespace) {
                    if let Some(a) = arg.take() {
                        result.push(a);
                    }
                }
                arg.get_or_insert_with(String::new).push_str(first);
                if tokens.len() > 1 {
                    if let Some(a) = arg.take() {
                        result.push(a);
                    }
                    result.extend(tokens[1..tokens.len() - 1].iter().cloned());
                    arg = tokens.last().cloned();
                }
                if text.ends_with(char::is_whitespace) {
                    if let Some(a) = arg.take() {
                        result.push(a);
                    }
                }
            }
            Part::Subst { .. } => {
                let value = eval(part)?;
                arg.get_or_insert_with(String::new).push_str(&value);
            }
        }
    }
    if let Some(a) = arg {
        result.push(a);
    }
    Ok(result)
}

/// A value of the small Python subset that `$(eval ...)` accepts here.
#[derive(Debug, Clone, PartialEq)]
enum PyValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    None,
}

impl PyValue {
    fn truthy(&self) -> bool {
        match self {
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::None => false,
        }
    }

    /// Python's `str()` of the value.
    fn to_py_string(&self) -> String {
        match self {
            PyValue::Bool(true) => "True".into(),
            PyValue::Bool(false) => "False".into(),
            PyValue::Int(i) => i.to_string(),
            PyValue::Float(f) => format!("{f:?}"),
            PyValue::Str(s) => s.clone(),
            PyValue::None => "None".into(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Bool(b) => Some(f64::from(u8::from(*b))),
            PyValue::Int(i) => Some(*i as f64),
            PyValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    fn py_eq(&self, other: &PyValue) -> bool {
        match (self.as_f64(), other.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(PyValue),
    Op(&'static str),
    Not,
    And,
    Or,
    LParen,
    RParen,
}

fn tokenize(expr: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated string in eval expression {expr}")),
                    Some(&ch) if ch == c => break,
                    Some('\\') => {
                        if let Some(&n) = chars.get(i + 1) {
                            s.push(n);
                        }
                        i += 2;
                        continue;
                    }
                    Some(&ch) => s.push(ch),
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Lit(PyValue::Str(s)));
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if "=!<>".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = match two.as_str() {
                "==" => "==",
                "!=" => "!=",
                "<=" => "<=",
                ">=" => ">=",
                _ if c == '<' => "<",
                _ if c == '>' => ">",
                _ => return Err(format!("unsupported operator in eval expression {expr}")),
            };
            i += op.len();
            out.push(Tok::Op(op));
        } else if c.is_ascii_digit() || c == '-' || c == '.' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if let Ok(v) = word.parse::<i64>() {
                out.push(Tok::Lit(PyValue::Int(v)));
            } else if let Ok(v) = word.parse::<f64>() {
                out.push(Tok::Lit(PyValue::Float(v)));
            } else {
                return Err(format!("bad number '{word}' in eval expression {expr}"));
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(match word.as_str() {
                "True" => Tok::Lit(PyValue::Bool(true)),
                "False" => Tok::Lit(PyValue::Bool(false)),
                "None" => Tok::Lit(PyValue::None),
                "not" => Tok::Not,
                "and" => Tok::And,
                "or" => Tok::Or,
                _ => {
                    return Err(format!(
                        "eval expression {expr} uses '{word}': edgefuse launch evaluates only \
                         literals, comparisons, not/and/or and parentheses"
                    ))
                }
            });
        } else {
            return Err(format!(
                "unsupported character '{c}' in eval expression {expr}"
            ));
        }
    }
    Ok(out)
}

struct EvalParser {
    toks: Vec<Tok>,
    pos: usize,
}

impl EvalParser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn or(&mut self) -> Result<PyValue, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = if left.truthy() { left } else { right };
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<PyValue, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            let right = self.not()?;
            left = if left.truthy() { right } else { left };
        }
        Ok(left)
    }
    fn not(&mut self) -> Result<PyValue, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            let v = self.not()?;
            return Ok(PyValue::Bool(!v.truthy()));
        }
        self.comparison()
    }
    fn comparison(&mut self) -> Result<PyValue, String> {
        let left = self.atom()?;
        let Some(Tok::Op(op)) = self.peek().cloned() else {
            return Ok(left);
        };
        self.pos += 1;
        let right = self.atom()?;
        let result = match op {
            "==" => left.py_eq(&right),
            "!=" => !left.py_eq(&right),
            _ => {
                let ord = match (&left, &right) {
                    (PyValue::Str(a), PyValue::Str(b)) => a.partial_cmp(b),
                    _ => match (left.as_f64(), right.as_f64()) {
                        (Some(a), Some(b)) => a.partial_cmp(&b),
                        _ => None,
                    },
                }
                .ok_or_else(|| format!("cannot compare {left:?} and {right:?}"))?;
                match op {
                    "<" => ord.is_lt(),
                    ">" => ord.is_gt(),
                    "<=" => ord.is_le(),
                    _ => ord.is_ge(),
                }
            }
        };
        Ok(PyValue::Bool(result))
    }
    fn atom(&mut self) -> Result<PyValue, String> {
        match self.next() {
            Some(Tok::Lit(v)) => Ok(v),
            Some(Tok::LParen) => {
                let v = self.or()?;
                if self.next() != Some(Tok::RParen) {
                    return Err("missing ')' in eval expression".into());
                }
                Ok(v)
            }
            other => Err(format!("unexpected {other:?} in eval expression")),
        }
    }
}

/// Evaluates the Python subset of `$(eval EXPR)` that launch files need for conditions:
/// string, number and boolean literals, `==` `!=` `<` `>` `<=` `>=`, `not`, `and`, `or` and
/// parentheses. Returns Python's `str()` of the result (`True`, `False`, ...).
pub fn eval_python_subset(expr: &str) -> Result<String, String> {
    let toks = tokenize(expr)?;
    let mut p = EvalParser { toks, pos: 0 };
    let v = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "unexpected trailing tokens in eval expression {expr}"
        ));
    }
    Ok(v.to_py_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn text(s: &str) -> Part {
        Part::Text(s.into())
    }

    #[test]
    fn parses_nested_and_quoted_substitutions() {
        let parts = parse_template("a $(env HOME '/x y') $(var n)b").unwrap();
        assert_eq!(
            parts,
            vec![
                text("a "),
                Part::Subst {
                    name: "env".into(),
                    args: vec![vec![text("HOME")], vec![text("/x y")]]
                },
                text(" "),
                Part::Subst {
                    name: "var".into(),
                    args: vec![vec![text("n")]]
                },
                text("b"),
            ]
        );
        let parts = parse_template("$(eval '\"$(var record)\" != \"\"')").unwrap();
        let Part::Subst { name, args } = &parts[0] else {
            panic!()
        };
        assert_eq!(name, "eval");
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].len(), 3);
        assert!(parse_template("$(var x").is_err());
        assert!(parse_template("$(var)").is_ok());
        assert_eq!(parse_template("\\$(x)").unwrap(), vec![text("$(x)")]);
    }

    #[test]
    fn splits_command_lines_like_launch() {
        let parts = parse_template("replay $(var bag) --rate $(var rate)").unwrap();
        let out = split_cmdline(&parts, |p| match p {
            Part::Subst { args, .. } => match &args[0][0] {
                Part::Text(t) if t == "bag" => Ok("/b a g".into()),
                _ => Ok("2.0".into()),
            },
            Part::Text(_) => unreachable!(),
        })
        .unwrap();
        assert_eq!(out, vec!["replay", "/b a g", "--rate", "2.0"]);
        let parts = parse_template("sh -c 'echo hi; exit 3'").unwrap();
        let out = split_cmdline(&parts, |_| Ok(String::new())).unwrap();
        assert_eq!(out, vec!["sh", "-c", "echo hi; exit 3"]);
        let parts = parse_template("$(var a)/x y$(var a) z").unwrap();
        let out = split_cmdline(&parts, |_| Ok("A".into())).unwrap();
        assert_eq!(out, vec!["A/x", "yA", "z"]);
    }

    #[test]
    fn evaluates_simple_python() {
        assert_eq!(eval_python_subset("\"out\" != \"\"").unwrap(), "True");
        assert_eq!(eval_python_subset("\"\" != \"\"").unwrap(), "False");
        assert_eq!(
            eval_python_subset("not (1 == 1.0) or 'a' < 'b'").unwrap(),
            "True"
        );
        assert_eq!(eval_python_subset("2 > 3 and True").unwrap(), "False");
        assert!(eval_python_subset("__import__('os')").is_err());
    }
}
