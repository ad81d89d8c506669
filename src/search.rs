//! The search language of the superadmin lists (`?q=`): `field:value`, `*` wildcards, quoted
//! phrases, bare words, `AND`/`OR`/`NOT` and parentheses, parsed into an AST, then translated
//! into a parameterized SQL condition. Pure: no I/O; user text only ever becomes a bind value.
//!
//! Grammar (a hand-written recursive descent; keywords match in any case, quote them to
//! search for the word itself):
//!
//! ```text
//! query    = [ or ] EOF
//! or       = and { "OR" and }
//! and      = unary { [ "AND" ] unary }      adjacent terms are ANDed
//! unary    = "NOT" unary | primary
//! primary  = "(" or ")" | term
//! term     = [ field ":" ] ( word | "quoted phrase" )
//! ```

use std::fmt;

/// A query longer than this (in characters) is refused before parsing.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Bounds the recursion of the parser and the size of the SQL it leads to.
const MAX_DEPTH: usize = 32;
const MAX_TERMS: usize = 64;

/// A parsed query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

/// One condition: a value (with `*` wildcards) that a field, or any field, must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// `None` for a bare word or phrase: it may occur anywhere in any text field.
    pub field: Option<&'static str>,
    pub value: String,
}

/// Why a query could not be parsed; `position` counts characters from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for SyntaxError {}

/// What a list can be searched by: the field names a query may use, each with the SQL
/// expression it compares, and the expressions a bare word is looked for in.
pub struct Schema {
    pub fields: &'static [(&'static str, &'static str)],
    pub text_columns: &'static [&'static str],
}

/// Parses `query` against the fields of `schema`; `None` for a blank query (everything).
pub fn parse(query: &str, schema: &Schema) -> Result<Option<Expr>, SyntaxError> {
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(SyntaxError {
            position: MAX_QUERY_CHARS + 1,
            message: format!("the query is longer than {MAX_QUERY_CHARS} characters"),
        });
    }
    let tokens = tokenize(query)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        end: chars + 1,
        schema,
        depth: 0,
        terms: 0,
    };
    if parser.peek().is_none() {
        return Ok(None);
    }
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(Some(expr)),
        Some(token) => Err(token.unexpected()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    And,
    Or,
    Not,
    /// A word or phrase, with the field named before its colon.
    Term {
        field: Option<(String, usize)>,
        value: String,
        quoted: bool,
    },
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    position: usize,
}

impl Token {
    fn unexpected(&self) -> SyntaxError {
        let what = match &self.kind {
            Kind::Open => "'('".to_owned(),
            Kind::Close => "')'".to_owned(),
            Kind::And => "AND".to_owned(),
            Kind::Or => "OR".to_owned(),
            Kind::Not => "NOT".to_owned(),
            Kind::Term { .. } => "term".to_owned(),
        };
        SyntaxError {
            position: self.position,
            message: format!("unexpected {what}"),
        }
    }
}

fn tokenize(query: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let position = at + 1;
        match chars[at] {
            c if c.is_whitespace() => at += 1,
            '(' => {
                tokens.push(Token {
                    kind: Kind::Open,
                    position,
                });
                at += 1;
            }
            ')' => {
                tokens.push(Token {
                    kind: Kind::Close,
                    position,
                });
                at += 1;
            }
            '"' => {
                let (value, next) = quoted(&chars, at)?;
                at = next;
                tokens.push(Token {
                    kind: Kind::Term {
                        field: None,
                        value,
                        quoted: true,
                    },
                    position,
                });
            }
            _ => {
                let start = at;
                while at < chars.len() && !ends_word(chars[at]) {
                    at += 1;
                }
                let word: String = chars[start..at].iter().collect();
                if let Some((field, rest)) = word.split_once(':') {
                    if field.is_empty() {
                        return Err(SyntaxError {
                            position,
                            message: "expected a field name before ':'".to_owned(),
                        });
                    }
                    let value_position = start + field.chars().count() + 2;
                    let (value, quoted_value) = if !rest.is_empty() {
                        (rest.to_owned(), false)
                    } else if chars.get(at) == Some(&'"') {
                        let (value, next) = quoted(&chars, at)?;
                        at = next;
                        (value, true)
                    } else {
                        return Err(SyntaxError {
                            position: value_position,
                            message: format!("expected a value after '{field}:'"),
                        });
                    };
                    tokens.push(Token {
                        kind: Kind::Term {
                            field: Some((field.to_owned(), position)),
                            value,
                            quoted: quoted_value,
                        },
                        position,
                    });
                    continue;
                }
                let kind = match word.to_ascii_uppercase().as_str() {
                    "AND" => Kind::And,
                    "OR" => Kind::Or,
                    "NOT" => Kind::Not,
                    _ => Kind::Term {
                        field: None,
                        value: word,
                        quoted: false,
                    },
                };
                tokens.push(Token { kind, position });
            }
        }
    }
    Ok(tokens)
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

/// The phrase of the quote opening at `open` (`\"` and `\\` escape), and where it ends.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize), SyntaxError> {
    let mut value = String::new();
    let mut at = open + 1;
    while at < chars.len() {
        match chars[at] {
            '"' => {
                if value.trim().is_empty() {
                    return Err(SyntaxError {
                        position: open + 1,
                        message: "empty phrase".to_owned(),
                    });
                }
                return Ok((value, at + 1));
            }
            '\\' if matches!(chars.get(at + 1), Some('"' | '\\')) => {
                value.push(chars[at + 1]);
                at += 2;
            }
            c => {
                value.push(c);
                at += 1;
            }
        }
    }
    Err(SyntaxError {
        position: open + 1,
        message: "unterminated quote".to_owned(),
    })
}

struct Parser<'s> {
    tokens: Vec<Token>,
    next: usize,
    /// The position just past the query, where "unexpected end" points.
    end: usize,
    schema: &'s Schema,
    depth: usize,
    terms: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn end_error(&self, expected: &str) -> SyntaxError {
        SyntaxError {
            position: self.end,
            message: format!("unexpected end of query, expected {expected}"),
        }
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut operands = vec![self.and()?];
        while self.peek().is_some_and(|token| token.kind == Kind::Or) {
            self.next += 1;
            operands.push(self.and()?);
        }
        Ok(flatten(operands, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut operands = vec![self.unary()?];
        loop {
            match self.peek().map(|token| &token.kind) {
                Some(Kind::And) => {
                    self.next += 1;
                    operands.push(self.unary()?);
                }
                Some(Kind::Not | Kind::Open | Kind::Term { .. }) => operands.push(self.unary()?),
                Some(Kind::Or | Kind::Close) | None => break,
            }
        }
        Ok(flatten(operands, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let position = self.peek().map_or(self.end, |token| token.position);
            return Err(SyntaxError {
                position,
                message: format!("the query nests deeper than {MAX_DEPTH} levels"),
            });
        }
        let result = self.primary();
        self.depth -= 1;
        result
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let token = self.advance().ok_or_else(|| self.end_error("a term"))?;
        match token.kind {
            Kind::Not => Ok(Expr::Not(Box::new(self.unary()?))),
            Kind::Open => {
                if self.peek().is_some_and(|next| next.kind == Kind::Close) {
                    return Err(SyntaxError {
                        position: token.position,
                        message: "empty parentheses".to_owned(),
                    });
                }
                let inner = self.or()?;
                match self.advance() {
                    Some(Token {
                        kind: Kind::Close, ..
                    }) => Ok(inner),
                    Some(other) => Err(other.unexpected()),
                    None => Err(SyntaxError {
                        position: token.position,
                        message: "unclosed '('".to_owned(),
                    }),
                }
            }
            Kind::Term {
                field,
                value,
                quoted,
            } => self.term(field, value, quoted, token.position),
            Kind::Close | Kind::And | Kind::Or => Err(token.unexpected()),
        }
    }

    fn term(
        &mut self,
        field: Option<(String, usize)>,
        value: String,
        quoted: bool,
        position: usize,
    ) -> Result<Expr, SyntaxError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(SyntaxError {
                position,
                message: format!("the query has more than {MAX_TERMS} terms"),
            });
        }
        let field = match field {
            None => None,
            Some((name, at)) => Some(self.field(&name, at)?),
        };
        let value = if quoted {
            value
        } else {
            value.trim().to_owned()
        };
        Ok(Expr::Term(Term { field, value }))
    }

    fn field(&self, name: &str, position: usize) -> Result<&'static str, SyntaxError> {
        self.schema
            .fields
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(known, _)| *known)
            .ok_or_else(|| SyntaxError {
                position,
                message: format!(
                    "unknown field '{name}' (known: {})",
                    self.schema
                        .fields
                        .iter()
                        .map(|(known, _)| *known)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

fn flatten(mut operands: Vec<Expr>, combine: fn(Vec<Expr>) -> Expr) -> Expr {
    if operands.len() == 1 {
        operands.remove(0)
    } else {
        combine(operands)
    }
}

/// A SQL condition with `$n` placeholders and the values to bind to them, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub sql: String,
    pub binds: Vec<String>,
}

/// Translates `expr` into a condition whose placeholders start at `$first`. Only the
/// schema's own column expressions and fixed keywords enter the SQL text; every value is a
/// bind, compared with `lower(coalesce(column, '')) like lower($n) escape '\'` (portable
/// across SQLite and PostgreSQL), `%` and `_` in values escaped so they match themselves.
pub fn to_sql(expr: &Expr, schema: &Schema, first: usize) -> Condition {
    let mut condition = Condition {
        sql: String::new(),
        binds: Vec::new(),
    };
    write_sql(expr, schema, first, &mut condition);
    condition
}

fn write_sql(expr: &Expr, schema: &Schema, first: usize, out: &mut Condition) {
    match expr {
        Expr::And(operands) | Expr::Or(operands) => {
            let joiner = if matches!(expr, Expr::And(_)) {
                " and "
            } else {
                " or "
            };
            out.sql.push('(');
            for (index, operand) in operands.iter().enumerate() {
                if index > 0 {
                    out.sql.push_str(joiner);
                }
                write_sql(operand, schema, first, out);
            }
            out.sql.push(')');
        }
        Expr::Not(inner) => {
            out.sql.push_str("(not ");
            write_sql(inner, schema, first, out);
            out.sql.push(')');
        }
        Expr::Term(term) => {
            let (columns, pattern): (Vec<&str>, String) = match term.field {
                Some(field) => {
                    let column = schema
                        .fields
                        .iter()
                        .find(|(name, _)| *name == field)
                        .map_or("null", |(_, column)| *column);
                    (vec![column], like_pattern(&term.value))
                }
                None => (
                    schema.text_columns.to_vec(),
                    format!("%{}%", like_pattern(&term.value)),
                ),
            };
            let placeholder = format!("${}", first + out.binds.len());
            out.binds.push(pattern);
            out.sql.push('(');
            for (index, column) in columns.iter().enumerate() {
                if index > 0 {
                    out.sql.push_str(" or ");
                }
                out.sql.push_str(&format!(
                    "lower(coalesce({column}, '')) like lower({placeholder}) escape '\\'"
                ));
            }
            out.sql.push(')');
        }
    }
}

/// A LIKE pattern matching `value` literally except that `*` matches any run of characters.
fn like_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '%' | '_' => {
                pattern.push('\\');
                pattern.push(c);
            }
            '*' => pattern.push('%'),
            c => pattern.push(c),
        }
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        fields: &[("id", "id"), ("name", "name"), ("email", "email")],
        text_columns: &["name", "email"],
    };

    fn term(field: Option<&'static str>, value: &str) -> Expr {
        Expr::Term(Term {
            field,
            value: value.to_owned(),
        })
    }

    fn parsed(query: &str) -> Expr {
        parse(query, &SCHEMA).unwrap().unwrap()
    }

    fn error(query: &str) -> SyntaxError {
        parse(query, &SCHEMA).unwrap_err()
    }

    #[test]
    fn blank_query_matches_everything() {
        assert_eq!(parse("   ", &SCHEMA).unwrap(), None);
    }

    #[test]
    fn field_terms_words_and_phrases() {
        assert_eq!(parsed("name:acme"), term(Some("name"), "acme"));
        assert_eq!(parsed("NAME:Acme*"), term(Some("name"), "Acme*"));
        assert_eq!(
            parsed("name:\"acme corp\""),
            term(Some("name"), "acme corp")
        );
        assert_eq!(parsed("\"acme corp\""), term(None, "acme corp"));
        assert_eq!(parsed("id:acc_01:x"), term(Some("id"), "acc_01:x"));
        assert_eq!(parsed(r#""say \"hi\"""#), term(None, "say \"hi\""));
    }

    #[test]
    fn adjacent_terms_are_anded_and_and_binds_tighter_than_or() {
        assert_eq!(
            parsed("a b OR c AND d"),
            Expr::Or(vec![
                Expr::And(vec![term(None, "a"), term(None, "b")]),
                Expr::And(vec![term(None, "c"), term(None, "d")]),
            ])
        );
    }

    #[test]
    fn not_and_parentheses() {
        assert_eq!(
            parsed("not (a or name:b) c"),
            Expr::And(vec![
                Expr::Not(Box::new(Expr::Or(vec![
                    term(None, "a"),
                    term(Some("name"), "b")
                ]))),
                term(None, "c"),
            ])
        );
        assert_eq!(
            parsed("NOT NOT a"),
            Expr::Not(Box::new(Expr::Not(Box::new(term(None, "a")))))
        );
    }

    #[test]
    fn keywords_can_be_searched_for_when_quoted() {
        assert_eq!(parsed("\"or\""), term(None, "or"));
    }

    #[test]
    fn malformed_queries_name_the_position() {
        assert_eq!(
            error("(a"),
            SyntaxError {
                position: 1,
                message: "unclosed '('".into()
            }
        );
        assert_eq!(error("a )").position, 3);
        assert_eq!(error("a AND").position, 6);
        assert_eq!(error("OR a").position, 1);
        assert_eq!(error("a \"open").position, 3);
        assert_eq!(error("name:").position, 6);
        assert_eq!(error("x nope:1").position, 3);
        assert!(error("x nope:1").message.contains("unknown field 'nope'"));
        assert_eq!(error("()").position, 1);
        assert_eq!(error(":x").position, 1);
        assert_eq!(error("a OR OR b").position, 6);
        assert_eq!(error("ä (").position, 4);
        assert_eq!(error("\"\"").message, "empty phrase");
        assert_eq!(
            error("a AND").to_string(),
            "unexpected end of query, expected a term at position 6"
        );
    }

    #[test]
    fn deep_nesting_and_long_queries_are_refused() {
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert!(error(&deep).message.contains("nests deeper"));
        let long = "a ".repeat(600);
        assert!(error(&long).message.contains("longer than"));
        let many = "a ".repeat(100);
        assert!(error(&many).message.contains("more than 64 terms"));
    }

    #[test]
    fn translation_binds_values_and_escapes_like_metacharacters() {
        let condition = to_sql(&parsed("name:50%_off* OR NOT \"o'brien\""), &SCHEMA, 3);
        assert_eq!(
            condition.sql,
            "((lower(coalesce(name, '')) like lower($3) escape '\\') or \
             (not (lower(coalesce(name, '')) like lower($4) escape '\\' or \
             lower(coalesce(email, '')) like lower($4) escape '\\')))"
        );
        assert_eq!(condition.binds, vec!["50\\%\\_off%", "%o'brien%"]);
    }

    #[test]
    fn user_text_never_enters_the_sql() {
        let condition = to_sql(&parsed("name:\"'; drop table users; --\" x"), &SCHEMA, 1);
        assert!(!condition.sql.contains("drop"));
        assert_eq!(condition.binds.len(), 2);
    }
}
