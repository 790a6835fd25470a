//! The admin Lambda: Hangar's JSON API and dashboard behind a Function URL
//! (IAM auth). Outside Lambda it serves them on 127.0.0.1.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_admin::run().await
}
