//! A grid's outline as GeoJSON (RFC 7946): a Polygon or MultiPolygon in longitude/latitude,
//! rings closed, at most 10,000 points. Kept as the checked JSON text.

use serde_json::Value;

use super::RegistryRuleError;

const MAX_POINTS: usize = 10_000;

/// A checked GeoJSON geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary(String);

fn point_ok(p: &Value) -> bool {
    match p.as_array().map(Vec::as_slice) {
        Some([lon, lat, ..]) => matches!(
            (lon.as_f64(), lat.as_f64()),
            (Some(lon), Some(lat)) if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
        ),
        _ => false,
    }
}

/// A linear ring: at least four points, first equals last.
fn ring_ok(ring: &Value, points: &mut usize) -> bool {
    let Some(ring) = ring.as_array() else {
        return false;
    };
    *points += ring.len();
    ring.len() >= 4 && ring.iter().all(point_ok) && ring.first() == ring.last()
}

fn polygon_ok(polygon: &Value, points: &mut usize) -> bool {
    polygon
        .as_array()
        .is_some_and(|rings| !rings.is_empty() && rings.iter().all(|r| ring_ok(r, points)))
}

impl Boundary {
    pub fn parse(value: &Value) -> Result<Boundary, RegistryRuleError> {
        let mut points = 0;
        let coordinates = value.get("coordinates");
        let ok = match (value.get("type").and_then(Value::as_str), coordinates) {
            (Some("Polygon"), Some(c)) => polygon_ok(c, &mut points),
            (Some("MultiPolygon"), Some(c)) => c
                .as_array()
                .is_some_and(|ps| !ps.is_empty() && ps.iter().all(|p| polygon_ok(p, &mut points))),
            _ => false,
        };
        if !ok || points > MAX_POINTS {
            return Err(RegistryRuleError::BoundaryFormat);
        }
        Ok(Boundary(value.to_string()))
    }

    pub fn as_json(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn polygons_must_be_closed_and_on_earth() {
        let square = json!({ "type": "Polygon", "coordinates": [[[114.3, 22.7], [114.4, 22.7], [114.4, 22.8], [114.3, 22.7]]] });
        assert!(Boundary::parse(&square).is_ok());
        let open = json!({ "type": "Polygon", "coordinates": [[[114.3, 22.7], [114.4, 22.7], [114.4, 22.8], [114.3, 22.8]]] });
        assert!(Boundary::parse(&open).is_err());
        let off = json!({ "type": "Polygon", "coordinates": [[[214.3, 22.7], [114.4, 22.7], [114.4, 22.8], [214.3, 22.7]]] });
        assert!(Boundary::parse(&off).is_err());
        assert!(
            Boundary::parse(&json!({ "type": "Point", "coordinates": [114.3, 22.7] })).is_err()
        );
    }
}
