//! Building SQL at run time for three dialects: placeholders (`$n` for
//! PostgreSQL, `?` elsewhere), identifier quoting (`timestamp` is a keyword)
//! and binding a list of typed parameters to any driver's query.

use crate::Driver;

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    I64(i64),
    I32(i32),
    Text(String),
    Bytes(Vec<u8>),
}

/// SQL text plus its parameters, placeholders numbered for the dialect.
#[derive(Debug)]
pub(crate) struct Sql {
    pub driver: Driver,
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub fn new(driver: Driver) -> Sql {
        Sql {
            driver,
            text: String::new(),
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `param`.
    pub fn arg(&mut self, param: Param) -> &mut Sql {
        self.params.push(param);
        if self.driver == Driver::Postgres {
            let n = self.params.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }

    /// `(?, ?, …)` for an `IN` list.
    pub fn list(&mut self, params: impl IntoIterator<Item = Param>) -> &mut Sql {
        self.text.push('(');
        for (i, param) in params.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.arg(param);
        }
        self.text.push(')');
        self
    }
}

/// The quoted `timestamp` column for `driver`.
pub(crate) fn ts(driver: Driver) -> &'static str {
    match driver {
        Driver::MySql => "`timestamp`",
        _ => "\"timestamp\"",
    }
}

/// `sqlx::query(&sql.text)` with every parameter bound.
macro_rules! bound {
    ($sql:expr) => {{
        let sql: &$crate::sql::Sql = $sql;
        let mut query = sqlx::query(&sql.text);
        for param in &sql.params {
            query = match param {
                $crate::sql::Param::I64(v) => query.bind(*v),
                $crate::sql::Param::I32(v) => query.bind(*v),
                $crate::sql::Param::Text(v) => query.bind(v.as_str()),
                $crate::sql::Param::Bytes(v) => query.bind(v.as_slice()),
            };
        }
        query
    }};
}
pub(crate) use bound;
