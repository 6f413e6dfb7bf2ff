//! Optional location of sign-ins from a MaxMind-format database (`SWITCHBOARD_GEOIP_DB`).
//! No file configured means no location, never an error.

use std::net::IpAddr;

use maxminddb::{Reader, geoip2};

pub struct GeoIp {
    reader: Option<Reader<Vec<u8>>>,
}

impl GeoIp {
    pub fn disabled() -> Self {
        Self { reader: None }
    }

    /// Opens the database at `path`; a missing or unreadable file is logged and ignored.
    pub fn open(path: Option<&str>) -> Self {
        let Some(path) = path.filter(|p| !p.trim().is_empty()) else {
            return Self::disabled();
        };
        match Reader::open_readfile(path) {
            Ok(reader) => Self {
                reader: Some(reader),
            },
            Err(err) => {
                tracing::warn!(%path, error = %err, "GeoIP database not usable; sign-ins get no location");
                Self::disabled()
            }
        }
    }

    /// "City, Country" (or whatever part is known) for an address.
    pub fn locate(&self, ip: &str) -> Option<String> {
        let reader = self.reader.as_ref()?;
        let ip: IpAddr = ip.parse().ok()?;
        let found = reader.lookup(ip).ok()?;
        let city: geoip2::City = found.decode().ok()??;
        let parts: Vec<&str> = [
            city.city.names.english,
            city.country.names.english.or(city.country.iso_code),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_database_means_no_location() {
        assert_eq!(GeoIp::open(None).locate("8.8.8.8"), None);
        assert_eq!(
            GeoIp::open(Some("/nonexistent/GeoLite2-City.mmdb")).locate("8.8.8.8"),
            None
        );
    }
}
