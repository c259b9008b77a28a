//! A token issuer for the request-level tests: an ES256 key of its own, its JWKS document, and
//! tokens signed with it (or forged, expired, for another audience).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

const KEY_ID: &str = "oda-e2e";

pub struct Issuer {
    pub issuer: String,
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Issuer {
    pub fn new(issuer: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key generated");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key read");
        Issuer { issuer: issuer.to_owned(), key, rng }
    }

    /// The JWKS document with the public key.
    pub fn jwks(&self) -> String {
        // An uncompressed P-256 point: 0x04 || X (32 bytes) || Y (32 bytes).
        let point = self.key.public_key().as_ref();
        json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KEY_ID,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]})
        .to_string()
    }

    /// A valid token for `audience`, expiring in an hour.
    pub fn token(&self, audience: &str) -> String {
        self.sign(&self.claims(audience, 3600))
    }

    /// A token that expired a minute ago (beyond Envoy's default 60 s clock skew).
    pub fn expired(&self, audience: &str) -> String {
        self.sign(&self.claims(audience, -120))
    }

    /// A token whose signature is not the issuer's (claims changed after signing).
    pub fn forged(&self, audience: &str) -> String {
        let token = self.token(audience);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = self.claims(audience, 3600);
        claims["sub"] = json!("somebody-else");
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    }

    fn claims(&self, audience: &str, expires_in: i64) -> Value {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
        json!({"iss": self.issuer, "sub": "e2e-client", "aud": audience, "iat": now - 5, "exp": now + expires_in})
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": KEY_ID});
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.key.sign(&self.rng, input.as_bytes()).expect("signed");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}
