//! The configured webhooks: added, listed and removed.

use super::*;

impl WebhookStore {
    /// Adds a webhook told about `on` (for `machine`'s runs only, if given); answers it with
    /// its generated signing secret.
    pub fn add(
        &self,
        url: &str,
        on: HookEvent,
        machine: Option<&str>,
        format: HookFormat,
    ) -> Result<CreatedWebhook, WebhookError> {
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.chars().any(char::is_whitespace)
        {
            return Err(WebhookError::Invalid {
                what: format!("URL {url:?}: give an http:// or https:// URL"),
            });
        }
        let machine_key = machine.map(|m| stpt_core::machine_key(m.trim()));
        let secret: String = random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let created_at = Timestamp::now().as_micros();
        let new = NewWebhookRow {
            url,
            on_event: on.as_str(),
            machine_key: machine_key.as_deref(),
            format: format.as_str(),
            secret: &secret,
            created_at,
        };
        let id = on_backend!(&self.pool => WebhookError, insert_webhook(&new))?;
        Ok(CreatedWebhook {
            webhook: Webhook {
                id,
                url: url.to_owned(),
                on_event: on.as_str().to_owned(),
                machine: machine_key,
                format: format.as_str().to_owned(),
                created_at,
            },
            secret,
        })
    }

    /// Every webhook, by id.
    pub fn list(&self) -> Result<Vec<Webhook>, WebhookError> {
        Ok(on_backend!(&self.pool => WebhookError, all_webhooks())?
            .into_iter()
            .map(Webhook::from)
            .collect())
    }

    /// Removes a webhook and its undelivered notifications; answers whether there was one.
    pub fn remove(&self, id: i64) -> Result<bool, WebhookError> {
        Ok(on_backend!(&self.pool => WebhookError, delete_webhook(id))? > 0)
    }
}
