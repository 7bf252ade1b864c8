//! Reading a column of any driver's row as the JSON value the searcher
//! answers with. Columns added by later Go migrations may be NULL in old
//! rows, so every column is read as optional and defaults to empty/zero.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::DbError;

pub(crate) fn text<'r, R>(row: &'r R, column: &str) -> Result<String, DbError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(row
        .try_get::<Option<String>, _>(column)?
        .unwrap_or_default())
}

pub(crate) fn int64<'r, R>(row: &'r R, column: &str) -> Result<i64, DbError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i32>: Decode<'r, R::Database> + Type<R::Database>,
{
    // A database made by another tool may use a narrower integer type.
    match row.try_get::<Option<i64>, _>(column) {
        Ok(value) => Ok(value.unwrap_or_default()),
        Err(err) => match row.try_get::<Option<i32>, _>(column) {
            Ok(value) => Ok(value.map(i64::from).unwrap_or_default()),
            Err(_) => Err(err.into()),
        },
    }
}

pub(crate) fn int32<'r, R>(row: &'r R, column: &str) -> Result<i32, DbError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    Option<i32>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    // GORM maps Go's `int` to bigint on some databases.
    match row.try_get::<Option<i32>, _>(column) {
        Ok(value) => Ok(value.unwrap_or_default()),
        Err(err) => match row.try_get::<Option<i64>, _>(column) {
            Ok(value) => Ok(value.unwrap_or_default() as i32),
            Err(_) => Err(err.into()),
        },
    }
}

pub(crate) fn bytes<'r, R>(row: &'r R, column: &str) -> Result<Vec<u8>, DbError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    Option<Vec<u8>>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(row
        .try_get::<Option<Vec<u8>>, _>(column)?
        .unwrap_or_default())
}
