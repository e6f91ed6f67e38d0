//! `/gateways`: every gateway gancho speaks, with how it proves a webhook
//! authentic and where the seller pastes the URL and the token (pt-BR), for
//! the admin UI. The facts live in each adapter's `setup`.

use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, ListOut};
use crate::app::AppState;
use crate::inbound::gateways::{self, Proof, SecretSource};
use crate::model::GatewayKind;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_gateways))
}

#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(example = json!({"gateway": "hotmart", "name": "Hotmart", "formats": "webhook 2.0.0 (JSON); legacy postback v1 (form)", "proof": "header_token", "proof_detail": "X-HOTMART-HOTTOK header, else the body's hottok (v1)", "token_in_url": false, "secret": "from_gateway", "where_to_paste": "Na Hotmart, vá em Ferramentas > Webhook (API e notificações) > Cadastrar Webhook. Dê um nome, cole a URL do gancho, escolha a versão 2.0.0, os produtos e os eventos, e salve. Depois copie o Hottok de verificação (aba Autenticação) para o gancho.", "takes_api_key": false}))]
pub struct GatewayOut {
    /// The value of `gateway` in keys and inbound URLs, and of `?gateway=`.
    pub gateway: GatewayKind,
    /// The gateway's name as sellers know it.
    pub name: String,
    pub formats: String,
    pub proof: Proof,
    /// Where the proof travels and what it is compared with.
    pub proof_detail: String,
    /// The URL pasted into the gateway must end in `token=<the key's secret>`.
    pub token_in_url: bool,
    /// `generated`: create the key without `secret` and paste gancho's into
    /// the gateway; `from_gateway`: paste the gateway's into the key.
    pub secret: SecretSource,
    /// pt-BR: where in the gateway's panel to paste the URL and the token.
    pub where_to_paste: String,
    /// Its key also takes the seller's API key (`api_key`), with which
    /// gancho fetches buyers the webhook names only by id (Asaas).
    pub takes_api_key: bool,
}

/// Every gateway, in `GatewayKind` order; one page (`next_cursor` is always null).
#[utoipa::path(get, path = "/gateways", tag = "inbound",
    responses((status = 200, body = ListOut<GatewayOut>)))]
async fn list_gateways() -> Json<ListOut<GatewayOut>> {
    let items = GatewayKind::ALL
        .into_iter()
        .map(|kind| {
            let s = gateways::adapter(kind).setup();
            GatewayOut {
                gateway: kind,
                name: s.name.into(),
                formats: s.formats.into(),
                proof: s.proof,
                proof_detail: s.proof_detail.into(),
                token_in_url: s.is_token_in_url,
                secret: s.secret,
                where_to_paste: s.where_to_paste.into(),
                takes_api_key: crate::keys::takes_api_key(kind),
            }
        })
        .collect();
    Json(ListOut {
        items,
        next_cursor: None,
    })
}
