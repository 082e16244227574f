//! The `reqwest-middleware` middleware.

use http::Extensions;
use http::header::AUTHORIZATION;
use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use super::{Origins, Proofs};
use crate::error::Error;
use crate::managed::ManagedToken;
use crate::token::AccessToken;

/// Attaches `Authorization: Bearer <token>` from a [`ManagedToken`] to requests for the
/// given origins, and to no others. A request that already has an `Authorization` header is
/// left alone. A DPoP-bound token goes as `Authorization: DPoP <token>` with a fresh proof
/// (`htm`, `htu`, `ath`, and the origin's last `DPoP-Nonce`) signed by the manager's
/// [`DpopKey`](crate::DpopKey); a 401 `use_dpop_nonce` is answered by sending the request once
/// more with the nonce.
///
/// On a 401 from the API, when the token sent is still the current one, it renews the token
/// once (one renewal for every request that got the same 401) and sends the request again,
/// once; a request whose body can't be cloned (a stream) is not sent again.
///
/// ```no_run
/// # async fn run(token: jwtguard_client::ManagedToken) -> Result<(), Box<dyn std::error::Error>> {
/// use jwtguard_client::BearerMiddleware;
///
/// let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(BearerMiddleware::new(token, ["https://orders.example.com"])?)
///     .build();
/// let answer = http.get("https://orders.example.com/v1/orders").send().await?;
/// # let _ = answer; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BearerMiddleware {
    token: ManagedToken,
    origins: Origins,
    proofs: Proofs,
}

impl BearerMiddleware {
    /// A middleware sending `token` to `origins` (URLs; their scheme, host and port count).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when no origin is given, one is not a
    /// URL, or one is plain `http` to a host other than loopback.
    pub fn new<I, S>(token: ManagedToken, origins: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            token,
            origins: Origins::parse(origins)?,
            proofs: Proofs::default(),
        })
    }

    /// Puts `token` on `request`: `Authorization`, and for a DPoP-bound token a fresh proof
    /// for this request (with the origin's last nonce).
    fn authorize(&self, request: &mut Request, token: &AccessToken) -> Result<(), Error> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, token.authorization().clone());
        let method = request.method().as_str().to_owned();
        if let Some(proof) = self
            .proofs
            .header(&self.token, token, &method, request.url())?
        {
            request.headers_mut().insert("dpop", proof);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Middleware for BearerMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if !self.origins.allows(request.url()) || request.headers().contains_key(AUTHORIZATION) {
            return next.run(request, extensions).await;
        }
        let token = self
            .token
            .get()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        self.authorize(&mut request, &token)
            .map_err(reqwest_middleware::Error::middleware)?;
        let url = request.url().clone();
        let again = request.try_clone();
        let response = next.clone().run(request, extensions).await?;
        let nonce_asked = token.is_dpop()
            && self
                .proofs
                .keep_nonce(&url, response.status().as_u16(), response.headers());
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(mut again) = again else {
            return Ok(response);
        };
        let token = if nonce_asked {
            tracing::debug!("the API asked for a DPoP nonce; sending once more with it");
            token
        } else {
            match self.token.renew_rejected(&token).await {
                Ok(renewed) if !renewed.is(token.expose()) => renewed,
                // No other token to try: the API's answer stands.
                _ => return Ok(response),
            }
        };
        tracing::debug!("the API refused the request; sending once more");
        self.authorize(&mut again, &token)
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(again, extensions).await
    }
}
