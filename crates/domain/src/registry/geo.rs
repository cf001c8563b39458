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

    /// Whether a point (longitude, latitude) lies inside the outline: inside an outer ring
    /// and outside that polygon's holes (even-odd rule on each ring).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let Ok(value) = serde_json::from_str::<Value>(&self.0) else {
            return false;
        };
        let polygons: Vec<&Value> = match value.get("type").and_then(Value::as_str) {
            Some("Polygon") => value.get("coordinates").into_iter().collect(),
            Some("MultiPolygon") => value
                .get("coordinates")
                .and_then(Value::as_array)
                .map(|ps| ps.iter().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        polygons.into_iter().any(|polygon| {
            let rings = polygon.as_array().map(Vec::as_slice).unwrap_or_default();
            match rings.split_first() {
                Some((outer, holes)) => {
                    ring_contains(outer, lon, lat)
                        && !holes.iter().any(|h| ring_contains(h, lon, lat))
                }
                None => false,
            }
        })
    }
}

fn coordinates(point: &Value) -> Option<(f64, f64)> {
    Some((point.get(0)?.as_f64()?, point.get(1)?.as_f64()?))
}

/// Ray casting: a ray from the point crosses the ring's edges an odd number of times
/// when the point is inside.
fn ring_contains(ring: &Value, lon: f64, lat: f64) -> bool {
    let points: Vec<(f64, f64)> = ring
        .as_array()
        .map(|r| r.iter().filter_map(coordinates).collect())
        .unwrap_or_default();
    let mut inside = false;
    for edge in points.windows(2) {
        let ((x1, y1), (x2, y2)) = (edge[0], edge[1]);
        if (y1 > lat) != (y2 > lat) && lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1) {
            inside = !inside;
        }
    }
    inside
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

    #[test]
    fn points_inside_outer_rings_and_outside_holes_are_contained() {
        let with_hole = json!({ "type": "Polygon", "coordinates": [
            [[114.0, 22.0], [115.0, 22.0], [115.0, 23.0], [114.0, 23.0], [114.0, 22.0]],
            [[114.4, 22.4], [114.6, 22.4], [114.6, 22.6], [114.4, 22.6], [114.4, 22.4]]
        ] });
        let b = Boundary::parse(&with_hole).unwrap();
        assert!(b.contains(114.2, 22.2));
        assert!(!b.contains(114.5, 22.5), "in the hole");
        assert!(!b.contains(115.5, 22.5), "east of it");
        let multi = json!({ "type": "MultiPolygon", "coordinates": [
            [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
            [[[10.0, 10.0], [11.0, 10.0], [11.0, 11.0], [10.0, 10.0]]]
        ] });
        let m = Boundary::parse(&multi).unwrap();
        assert!(m.contains(10.9, 10.1));
        assert!(!m.contains(5.0, 5.0));
    }
}
