//! Rows of another engine imported into an empty database, in one
//! transaction (`posfield-server migrate`): committed whole, or not at all.

use std::collections::BTreeMap;

use tokio_postgres::types::{ToSql, Type};

use super::{PostgresStore, StoreError, described};

/// The most parameters one statement is given (PostgreSQL takes 65,535).
const MAX_PARAMETERS: usize = 30_000;
use crate::store::rows::{POSTGRES_ONLY, TABLES, Value};

/// An import in progress: one connection taken out of the pool, in a
/// transaction that holds every table of the schema locked. Dropped
/// without [`Import::commit`], its connection closes and the server rolls
/// the transaction back.
pub struct Import {
    client: deadpool_postgres::ClientWrapper,
    /// Each table's columns and their types.
    columns: BTreeMap<String, BTreeMap<String, Type>>,
}

impl std::fmt::Debug for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import").field("tables", &self.columns.len()).finish()
    }
}

impl PostgresStore {
    /// Starts an import: a transaction on a connection of its own that
    /// locks every table, checks that the schema has exactly the tables
    /// of [`TABLES`] and [`POSTGRES_ONLY`], and that none holds a row
    /// (otherwise refused, changing nothing).
    pub async fn import(&self) -> Result<Import, StoreError> {
        let object = self.client().await?;
        let client = deadpool_postgres::Object::take(object);
        client.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE").await?;
        let rows = client
            .query(
                "SELECT c.table_name::TEXT, c.column_name::TEXT, c.udt_name::TEXT FROM information_schema.columns c
                 JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
                   AND c.table_name <> 'refinery_schema_history'",
                &[],
            )
            .await?;
        let mut columns: BTreeMap<String, BTreeMap<String, Type>> = BTreeMap::new();
        for row in rows {
            let (table, column, udt): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let ty = match udt.as_str() {
                "int8" => Type::INT8,
                "text" => Type::TEXT,
                "bytea" => Type::BYTEA,
                "bool" => Type::BOOL,
                other => {
                    return Err(StoreError::Engine(format!(
                        "{table}.{column} is of type {other}, which the import does not know"
                    )));
                }
            };
            columns.entry(table).or_default().insert(column, ty);
        }
        let expected = TABLES.iter().chain(POSTGRES_ONLY).copied();
        if let Some(missing) = expected.clone().find(|t| !columns.contains_key(*t)) {
            return Err(StoreError::Engine(format!("the database has no table {missing:?}")));
        }
        if let Some(unknown) = columns.keys().find(|t| !expected.clone().any(|e| e == t.as_str())) {
            return Err(StoreError::Engine(format!(
                "the database has a table {unknown:?} that the migration does not know"
            )));
        }
        let all = TABLES.iter().chain(POSTGRES_ONLY).copied().collect::<Vec<_>>().join(", ");
        client.batch_execute(&format!("LOCK TABLE {all} IN EXCLUSIVE MODE")).await?;
        let import = Import { client, columns };
        for table in TABLES.iter().chain(POSTGRES_ONLY) {
            let rows = import.count(table).await?;
            if rows > 0 {
                return Err(StoreError::Engine(format!(
                    "the database {} is not empty (table {table} holds {rows} rows): migrate only into a new database; nothing was changed",
                    self.shown
                )));
            }
        }
        Ok(import)
    }
}

impl Import {
    /// `table`'s columns, when it is one of the schema's tables the import knows.
    fn table(&self, table: &str) -> Result<(&'static str, &BTreeMap<String, Type>), StoreError> {
        let name = TABLES
            .iter()
            .chain(POSTGRES_ONLY)
            .copied()
            .find(|t| *t == table)
            .ok_or_else(|| StoreError::Engine(format!("no table {table:?} in the migration's list")))?;
        let columns = self
            .columns
            .get(name)
            .ok_or_else(|| StoreError::Engine(format!("the database has no table {name:?}")))?;
        Ok((name, columns))
    }

    /// Inserts `rows` (each the values of `columns`, in order) into
    /// `table`, ids included: the identity columns take the ids given.
    pub async fn insert(
        &self,
        table: &str,
        columns: &[String],
        rows: &[Vec<Value>],
    ) -> Result<(), StoreError> {
        let (table, known) = self.table(table)?;
        let mut types = Vec::with_capacity(columns.len());
        for column in columns {
            let ty = known.get(column).ok_or_else(|| {
                StoreError::Engine(format!("the source's {table}.{column} has no column in the database"))
            })?;
            types.push((column.as_str(), ty.clone()));
        }
        if rows.is_empty() {
            return Ok(());
        }
        let names = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        // Many rows a statement, under PostgreSQL's limit of parameters.
        let per_statement = (MAX_PARAMETERS / types.len().max(1)).max(1);
        for chunk in rows.chunks(per_statement) {
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(chunk.len() * types.len());
            let mut tuples = Vec::with_capacity(chunk.len());
            for row in chunk {
                if row.len() != types.len() {
                    return Err(StoreError::Engine(format!(
                        "a row of {table} has {} values for {} columns",
                        row.len(),
                        types.len()
                    )));
                }
                let first = params.len();
                for (value, (column, ty)) in row.iter().zip(&types) {
                    params.push(param(table, column, ty, value)?);
                }
                let places =
                    (first + 1..=params.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                tuples.push(format!("({places})"));
            }
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            let sql =
                format!("INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE VALUES {}", tuples.join(", "));
            self.client.execute(sql.as_str(), &refs).await.map_err(|e| {
                StoreError::Engine(format!("rows of {table} were not imported: {}", described(&e)))
            })?;
        }
        Ok(())
    }

    /// How many rows `table` holds, in the import's transaction.
    pub async fn count(&self, table: &str) -> Result<u64, StoreError> {
        let (table, _) = self.table(table)?;
        let row = self.client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?;
        Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
    }

    /// Moves every identity column's sequence past the largest id imported,
    /// so the next row a server writes takes a new id.
    pub async fn restart_identities(&self) -> Result<(), StoreError> {
        let rows = self
            .client
            .query(
                "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns
                 WHERE table_schema = current_schema() AND is_identity = 'YES'",
                &[],
            )
            .await?;
        for row in rows {
            let (table, column): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let (table, known) = self.table(&table)?;
            if !known.contains_key(&column) {
                return Err(StoreError::Engine(format!("no column {table}.{column}")));
            }
            self.client
                .execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence($1, $2), max(\"{column}\")) FROM {table}
                         HAVING max(\"{column}\") IS NOT NULL"
                    ),
                    &[&table, &column],
                )
                .await?;
        }
        Ok(())
    }

    /// Commits everything imported.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.client.batch_execute("COMMIT").await?;
        Ok(())
    }
}

/// `value` as the parameter of a column of type `ty`; a value the column
/// cannot take is an error naming both.
fn param(
    table: &str,
    column: &str,
    ty: &Type,
    value: &Value,
) -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
    let refused = || {
        StoreError::Engine(format!(
            "{table}.{column} is {ty} in the database, and cannot take {}",
            value.kind()
        ))
    };
    Ok(match (value, ty) {
        (Value::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (Value::Null, t) if *t == Type::TEXT => Box::new(None::<String>),
        (Value::Null, t) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
        (Value::Null, t) if *t == Type::BOOL => Box::new(None::<bool>),
        (Value::Integer(n), t) if *t == Type::INT8 => Box::new(*n),
        (Value::Integer(n @ (0 | 1)), t) if *t == Type::BOOL => Box::new(*n == 1),
        (Value::Text(s), t) if *t == Type::TEXT => Box::new(s.clone()),
        (Value::Bytes(b), t) if *t == Type::BYTEA => Box::new(b.clone()),
        _ => return Err(refused()),
    })
}
