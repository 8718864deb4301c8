//! `meta` rule expressions: Perl-style boolean and arithmetic expressions over other rules.
//!
//! A rule name stands for its hit count (0 or 1, more for `tflags multiple`). Operators and
//! precedence follow Perl: `!` and unary `-` bind tightest, then `* /`, `+ -`, comparisons
//! `< <= > >= == !=`, then `&&`, then `||`. A meta rule hits when its value is non-zero.

/// A parsed meta expression; rule references are names until resolved to indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A number literal.
    Num(f64),
    /// A rule reference, by name; `index` is filled when the rule set is finished.
    Rule {
        /// The referenced rule's name.
        name: String,
        /// Its index in the rule set, or `None` if it is undefined or unsupported (value 0).
        index: Option<usize>,
    },
    /// `!e`
    Not(Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// A binary operation.
    Bin(Op, Box<Expr>, Box<Expr>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Or,
    And,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(&'static str),
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let n: f64 = s[start..i]
                .parse()
                .map_err(|_| format!("bad number '{}'", &s[start..i]))?;
            out.push(Tok::Num(n));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Name(s[start..i].to_owned()));
            continue;
        }
        let two = s.get(i..i + 2).unwrap_or("");
        let op2 = ["&&", "||", "<=", ">=", "==", "!="]
            .into_iter()
            .find(|o| *o == two);
        if let Some(o) = op2 {
            out.push(Tok::Op(o));
            i += 2;
            continue;
        }
        let tok = match c {
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'!' => Tok::Op("!"),
            b'<' => Tok::Op("<"),
            b'>' => Tok::Op(">"),
            b'+' => Tok::Op("+"),
            b'-' => Tok::Op("-"),
            b'*' => Tok::Op("*"),
            b'/' => Tok::Op("/"),
            _ => {
                return Err(format!(
                    "unexpected character '{}' in meta expression",
                    s[i..].chars().next().unwrap_or('?')
                ));
            }
        };
        out.push(tok);
        i += 1;
    }
    Ok(out)
}

/// Parses a meta expression.
pub(crate) fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err("empty meta expression".to_owned());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {:?} in meta expression", p.toks[p.pos]));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

/// Nesting limit: a meta expression deeper than this is rejected rather than risk the stack.
const MAX_DEPTH: usize = 200;

impl Parser {
    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.eat("||") {
            l = Expr::Bin(Op::Or, Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.cmp()?;
        while self.eat("&&") {
            l = Expr::Bin(Op::And, Box::new(l), Box::new(self.cmp()?));
        }
        Ok(l)
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.add()?;
        for (s, op) in [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(s) {
                return Ok(Expr::Bin(op, Box::new(l), Box::new(self.add()?)));
            }
        }
        Ok(l)
    }

    fn add(&mut self) -> Result<Expr, String> {
        let mut l = self.mul()?;
        loop {
            if self.eat("+") {
                l = Expr::Bin(Op::Add, Box::new(l), Box::new(self.mul()?));
            } else if self.eat("-") {
                l = Expr::Bin(Op::Sub, Box::new(l), Box::new(self.mul()?));
            } else {
                return Ok(l);
            }
        }
    }

    fn mul(&mut self) -> Result<Expr, String> {
        let mut l = self.unary(0)?;
        loop {
            if self.eat("*") {
                l = Expr::Bin(Op::Mul, Box::new(l), Box::new(self.unary(0)?));
            } else if self.eat("/") {
                l = Expr::Bin(Op::Div, Box::new(l), Box::new(self.unary(0)?));
            } else {
                return Ok(l);
            }
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH || self.pos > 100_000 {
            return Err("meta expression nests too deeply".to_owned());
        }
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary(depth + 1)?)));
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Num(n))
            }
            Some(Tok::Name(name)) => {
                self.pos += 1;
                Ok(Expr::Rule { name, index: None })
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let depth_guard = self.toks[self.pos..]
                    .iter()
                    .take_while(|t| **t == Tok::LParen)
                    .count();
                if depth + depth_guard > MAX_DEPTH {
                    return Err("meta expression nests too deeply".to_owned());
                }
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::RParen) {
                    return Err("missing ')' in meta expression".to_owned());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(t) => Err(format!("unexpected {t:?} in meta expression")),
            None => Err("meta expression ends too early".to_owned()),
        }
    }
}

impl Expr {
    /// Calls `f` on every rule reference.
    pub(crate) fn for_each_ref_mut(&mut self, f: &mut dyn FnMut(&str, &mut Option<usize>)) {
        match self {
            Expr::Num(_) => {}
            Expr::Rule { name, index } => f(name, index),
            Expr::Not(e) | Expr::Neg(e) => e.for_each_ref_mut(f),
            Expr::Bin(_, a, b) => {
                a.for_each_ref_mut(f);
                b.for_each_ref_mut(f);
            }
        }
    }

    /// Calls `f` on every resolved reference.
    pub(crate) fn for_each_index(&self, f: &mut dyn FnMut(usize)) {
        match self {
            Expr::Num(_) => {}
            Expr::Rule { index, .. } => {
                if let Some(i) = index {
                    f(*i);
                }
            }
            Expr::Not(e) | Expr::Neg(e) => e.for_each_index(f),
            Expr::Bin(_, a, b) => {
                a.for_each_index(f);
                b.for_each_index(f);
            }
        }
    }

    /// Evaluates with `value(i)` giving rule `i`'s hit count.
    pub(crate) fn eval(&self, value: &dyn Fn(usize) -> f64) -> f64 {
        match self {
            Expr::Num(n) => *n,
            Expr::Rule { index, .. } => index.map_or(0.0, value),
            Expr::Not(e) => bool_value(e.eval(value) == 0.0),
            Expr::Neg(e) => -e.eval(value),
            Expr::Bin(op, l, r) => {
                let x = l.eval(value);
                match op {
                    Op::Or if x != 0.0 => x,
                    Op::And if x == 0.0 => x,
                    _ => binary(*op, x, r.eval(value)),
                }
            }
        }
    }

    /// Appends the expression's steps in postfix order.
    fn postfix(&self, out: &mut Vec<Step>) {
        match self {
            Expr::Num(n) => out.push(Step::Num(*n)),
            Expr::Rule { index, .. } => out.push(index.map_or(Step::Num(0.0), Step::Rule)),
            Expr::Not(e) => {
                e.postfix(out);
                out.push(Step::Not);
            }
            Expr::Neg(e) => {
                e.postfix(out);
                out.push(Step::Neg);
            }
            Expr::Bin(op, l, r) => {
                l.postfix(out);
                r.postfix(out);
                out.push(Step::Bin(*op));
            }
        }
    }
}

/// One step of a meta's expression in postfix order ([`Program`]).
#[derive(Debug, Clone, Copy)]
enum Step {
    Num(f64),
    Rule(usize),
    Not,
    Neg,
    Bin(Op),
}

/// The meta rules of a rule set as one flat postfix program, each meta a run of steps: a
/// tree walk through boxed nodes spent about a quarter of a millisecond per message on the
/// stock rules' thousand metas, mostly chasing pointers (SA-FIDELITY.md, session 16). Every
/// operand is evaluated (`&&` and `||` do not skip theirs): the values are pure, so the
/// result is the tree walk's ([`Expr::eval`]) exactly.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    steps: Vec<Step>,
    /// Each meta's rule index and the end of its steps (it starts at the one before's end).
    metas: Vec<(usize, usize)>,
}

impl Program {
    /// The program of `exprs` (rule index, expression), in the order given.
    pub(crate) fn new<'e>(exprs: impl IntoIterator<Item = (usize, &'e Expr)>) -> Self {
        let mut p = Program::default();
        for (i, e) in exprs {
            e.postfix(&mut p.steps);
            p.metas.push((i, p.steps.len()));
        }
        p
    }

    /// Calls `set(i, value)` for each meta `i` that `wanted(i)`, in order, each evaluated with
    /// `value(j)` giving rule `j`'s hit count (the metas before it already set).
    pub(crate) fn run(
        &self,
        wanted: &dyn Fn(usize) -> bool,
        value: &mut dyn FnMut(usize) -> f64,
        set: &mut dyn FnMut(usize, f64),
    ) {
        let mut stack: Vec<f64> = Vec::with_capacity(32);
        let mut start = 0;
        for &(i, end) in &self.metas {
            let steps = &self.steps[start..end];
            start = end;
            if !wanted(i) {
                continue;
            }
            stack.clear();
            for step in steps {
                let v = match *step {
                    Step::Num(n) => n,
                    Step::Rule(j) => value(j),
                    Step::Not => bool_value(stack.pop().unwrap_or(0.0) == 0.0),
                    Step::Neg => -stack.pop().unwrap_or(0.0),
                    Step::Bin(op) => {
                        let y = stack.pop().unwrap_or(0.0);
                        let x = stack.pop().unwrap_or(0.0);
                        binary(op, x, y)
                    }
                };
                stack.push(v);
            }
            set(i, stack.pop().unwrap_or(0.0));
        }
    }
}

fn bool_value(x: bool) -> f64 {
    if x { 1.0 } else { 0.0 }
}

/// `x op y`, as Perl computes it in SpamAssassin's metas (division by zero gives 0).
fn binary(op: Op, x: f64, y: f64) -> f64 {
    match op {
        Op::Or => {
            if x != 0.0 {
                x
            } else {
                y
            }
        }
        Op::And => {
            if x == 0.0 {
                x
            } else {
                y
            }
        }
        Op::Lt => bool_value(x < y),
        Op::Le => bool_value(x <= y),
        Op::Gt => bool_value(x > y),
        Op::Ge => bool_value(x >= y),
        Op::Eq => bool_value(x == y),
        Op::Ne => bool_value(x != y),
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => {
            if y == 0.0 {
                0.0
            } else {
                x / y
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, vals: &[(&str, f64)]) -> f64 {
        let mut e = parse(src).expect("parses");
        let names: Vec<&str> = vals.iter().map(|(n, _)| *n).collect();
        e.for_each_ref_mut(&mut |name, idx| *idx = names.iter().position(|n| *n == name));
        let tree = e.eval(&|i| vals[i].1);
        // The flat program gives the tree walk's value.
        let mut flat = f64::NAN;
        Program::new([(0, &e)]).run(&|_| true, &mut |i| vals[i].1, &mut |_, v| flat = v);
        assert!(
            flat == tree || (flat.is_nan() && tree.is_nan()),
            "{src}: {flat} {tree}"
        );
        tree
    }

    #[test]
    fn boolean_and_arithmetic() {
        let v = [("A", 1.0), ("B", 0.0), ("C", 1.0)];
        assert_eq!(eval("A && !B", &v), 1.0);
        assert_eq!(eval("A && B || C", &v), 1.0);
        assert_eq!(eval("(A + B + C) > 1", &v), 1.0);
        assert_eq!(eval("(A + B + C) >= 3", &v), 0.0);
        assert_eq!(eval("A * 2 + C == 3", &v), 1.0);
        assert_eq!(eval("!(A || B)", &v), 0.0);
        assert_eq!(eval("UNKNOWN || B", &v), 0.0);
        assert_eq!(eval("A / B", &v), 0.0);
    }

    fn expr_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            prop::sample::select(vec!["A", "B", "C", "D", "UNDEFINED"]).prop_map(String::from),
            prop::sample::select(vec!["0", "1", "2", "0.5"]).prop_map(String::from),
        ];
        leaf.prop_recursive(5, 40, 2, |inner| {
            let ops = prop::sample::select(vec![
                "&&", "||", "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/",
            ]);
            prop_oneof![
                inner.clone().prop_map(|e| format!("!({e})")),
                inner.clone().prop_map(|e| format!("-({e})")),
                (inner.clone(), ops, inner).prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn the_flat_program_gives_the_tree_walks_value(
            src in expr_text(),
            values in proptest::collection::vec(
                proptest::sample::select(vec![0.0, 1.0, 2.0, 3.0]), 4),
        ) {
            let v = [("A", values[0]), ("B", values[1]), ("C", values[2]), ("D", values[3])];
            eval(&src, &v);
        }
    }

    #[test]
    fn a_header_rule_tagged_multiple_counts_its_matches() {
        // 72_active.cf's `__MANY_HDRS_LCASE` (`__HDRS_LCASE > 1`, maxhits=3), which
        // SpamAssassin 4.0.1 hits on 6 of the first 300 CSDMC2010 messages; a header rule's
        // count was 1 at most. Both cases checked with `spamassassin -L -t --cf`.
        let rules = "header LC ALL =~ /\\n(?:from|subject|to):/sm\n\
                     tflags LC multiple maxhits=3\nmeta MANY LC > 1\nmeta TWO LC == 2\n\
                     meta THREE LC == 3\n";
        let two = "Received: x\nfrom: a@example.com\nsubject: hi\nTo: b@example.com\n\nbody\n";
        assert_eq!(
            crate::rules::tests::hits_now(rules, two),
            ["LC", "MANY", "TWO"]
        );
        let four = "Received: x\nfrom: a@example.com\nsubject: hi\nto: b@example.com\n\
                    cc: c@example.com\nto: d@example.com\n\nbody\n";
        assert_eq!(
            crate::rules::tests::hits_now(rules, four),
            ["LC", "MANY", "THREE"]
        );
        let one = "Received: x\nfrom: a@example.com\nSubject: hi\n\nbody\n";
        assert_eq!(crate::rules::tests::hits_now(rules, one), ["LC"]);
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in ["", "A &&", "(A", "A $ B", "A B", &"(".repeat(500)] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
