//! Each service's tables live in its own schema.

use service_kit::database::connect;

#[tokio::test]
async fn services_get_their_own_schema() -> anyhow::Result<()> {
    let settings = test_support::fresh_database().await?;
    let a = connect(&settings, "service_a").await?;
    let b = connect(&settings, "service_b").await?;
    sqlx::query("CREATE TABLE things (id int)")
        .execute(&a)
        .await?;
    sqlx::query("CREATE TABLE things (id int, name text)")
        .execute(&b)
        .await?;
    sqlx::query("INSERT INTO things VALUES (1)")
        .execute(&a)
        .await?;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM things")
        .fetch_one(&b)
        .await?;
    assert_eq!(count, 0, "service_b sees its own table, not service_a's");
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
        .fetch_one(&a)
        .await?;
    assert_eq!(schema, "service_a");
    Ok(())
}
