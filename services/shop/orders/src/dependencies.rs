//! The users and products services, as orders sees them: does this user exist, does this
//! product exist. Every call is bounded by the client's timeouts; anything but a clear
//! 200/404 counts as the dependency being down.

use reqwest::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    #[error("user {0} does not exist")]
    UnknownUser(i64),
    #[error("product {0} does not exist")]
    UnknownProduct(i64),
    #[error("{0}")]
    Down(String),
}

#[derive(Debug, Clone, Copy)]
pub enum Service {
    Users,
    Products,
}

impl Service {
    /// The service's name, also its path prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Products => "products",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dependencies {
    http: reqwest::Client,
    users_url: String,
    products_url: String,
}

impl Dependencies {
    pub fn new(http: reqwest::Client, users_url: &str, products_url: &str) -> Self {
        Self {
            http,
            users_url: users_url.to_owned(),
            products_url: products_url.to_owned(),
        }
    }

    fn base(&self, service: Service) -> &str {
        match service {
            Service::Users => &self.users_url,
            Service::Products => &self.products_url,
        }
    }

    /// `Ok(true)` when the resource exists, `Ok(false)` on 404.
    async fn exists(&self, service: Service, id: i64) -> Result<bool, DependencyError> {
        let url = format!("{}/{}/{id}", self.base(service), service.name());
        let response = self.http.get(&url).send().await.map_err(|err| {
            let what = if err.is_timeout() {
                "did not answer in time"
            } else {
                "is unreachable"
            };
            DependencyError::Down(format!(
                "the {} service {what} ({url}: {err})",
                service.name()
            ))
        })?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(DependencyError::Down(format!(
                "the {} service answered {status} for {url}",
                service.name()
            ))),
        }
    }

    pub async fn check_user(&self, id: i64) -> Result<(), DependencyError> {
        match self.exists(Service::Users, id).await? {
            true => Ok(()),
            false => Err(DependencyError::UnknownUser(id)),
        }
    }

    pub async fn check_product(&self, id: i64) -> Result<(), DependencyError> {
        match self.exists(Service::Products, id).await? {
            true => Ok(()),
            false => Err(DependencyError::UnknownProduct(id)),
        }
    }

    /// The service's own readiness endpoint, `/<name>/ready` under its base URL.
    pub fn ready_url(&self, service: Service) -> String {
        format!("{}/{}/ready", self.base(service), service.name())
    }
}
