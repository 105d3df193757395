import LarderCore

/// Completed trips, one event per trip.
public enum Trips {
    public static let fare = Column<Double>("fare")
    public static let distanceKm = Column<Double>("distance_km")

    public static let source = Source(
        "trips",
        eventTimestamp: "event_timestamp",
        columns: [driverID, fare, distanceKm],
        description: "Completed trips"
    )
}

/// Features of a driver's trips. `fare_per_km` is a row transformation: the same compiled
/// closure computes it for training sets and for serving. The aggregations are windowed over
/// the trips (hops: 5 minutes for the 1-hour window, 1 hour for the others), computed by the
/// same Swift code offline and online.
public let driverTrips = FeatureView(
    "driver_trips",
    entity: driver,
    source: Trips.source,
    ttl: .days(1),
    description: "Fares and distances of a driver's trips",
    owner: "ranking@example.com"
) {
    Feature(
        "fare_per_km", from: Trips.fare, Trips.distanceKm,
        description: "Fare per kilometre of the trip (distances under 100 m count as 100 m)", tags: ["unit": "EUR/km"]
    ) { fare, km in fare / max(km, 0.1) }
} aggregations: {
    Aggregate(.count, windows: .hours(1), name: "trips")  // trips_1h
    Aggregate(.sum, of: Trips.fare, windows: .hours(24))  // fare_sum_24h
    Aggregate(.mean, of: Trips.fare, windows: .days(7))  // fare_mean_7d
    Aggregate(.max, of: "fare_per_km", windows: .hours(24))  // fare_per_km_max_24h
}
