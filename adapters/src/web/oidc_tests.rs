//! The relying party's checks that need no provider.
use super::*;

#[test]
fn the_challenge_is_the_s256_of_the_verifier() {
    let p = Pkce::new();
    assert_eq!(p.verifier.len(), 43);
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(p.verifier.as_bytes()));
    assert_eq!(p.challenge, expected);
    assert_ne!(random_token(), random_token());
}

#[tokio::test]
async fn a_token_signed_with_a_shared_secret_or_none_is_refused_before_any_key_is_fetched() {
    let oidc = Oidc::new(Client {
        issuer: "http://127.0.0.1:9".into(),
        client_id: "baton".into(),
        client_secret: "s".into(),
        redirect_uri: "http://127.0.0.1:8080/web/callback".into(),
        scopes: vec![],
    });
    let claims = serde_json::json!({"sub": "mallory", "nonce": "n", "aud": "baton", "iss": "x", "exp": 4_000_000_000u64});
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"s"),
    )
    .unwrap();
    let e = oidc.verify(&hs, "n").await.unwrap_err();
    assert!(e.0.contains("HS256"), "{e}");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let e = oidc.verify(&none, "n").await.unwrap_err();
    assert!(e.0.contains("not a JWT"), "{e}");
}
