import LarderCore

/// Hourly statistics per driver, computed upstream and ingested as they are.
public enum DriverStats {
    public static let convRate = Column<Double>("conv_rate")
    public static let accRate = Column<Double>("acc_rate")
    public static let avgDailyTrips = Column<Int64>("avg_daily_trips")

    public static let source = Source(
        "driver_stats",
        eventTimestamp: "event_timestamp",
        createdTimestamp: "created",
        columns: [driverID, convRate, accRate, avgDailyTrips],
        description: "Hourly driver statistics from the trips warehouse"
    )
}

/// The latest hourly statistics of a driver, valid for two hours.
public let driverHourlyStats = FeatureView(
    "driver_hourly_stats",
    entity: driver,
    source: DriverStats.source,
    ttl: .hours(2),
    description: "Conversion, acceptance and trip volume of a driver, hourly",
    owner: "ranking@example.com",
    tags: ["team": "ranking"]
) {
    Feature(DriverStats.convRate, description: "Share of the driver's offers that became trips, last hour", tags: ["unit": "ratio"])
    Feature(DriverStats.accRate, description: "Share of the driver's offers the driver accepted, last hour", tags: ["unit": "ratio"])
    Feature(DriverStats.avgDailyTrips, description: "Trips per day, averaged over the last 30 days", tags: ["unit": "trips"])
}

/// Request-time adjustments of the conversion rate, from two values the caller sends.
public enum TransformedConvRate {
    public static let valToAdd = RequestField<Int64>("val_to_add")
    public static let valToAdd2 = RequestField<Int64>("val_to_add_2")
    static let convRate = driverHourlyStats.feature("conv_rate", as: Double.self)

    public static let view = OnDemandFeatureView(
        "transformed_conv_rate",
        description: "The conversion rate plus request-time values"
    ) {
        OnDemandFeature("conv_rate_plus_val1", from: convRate, valToAdd) { rate, add in rate + Double(add) }
        OnDemandFeature("conv_rate_plus_val2", from: convRate, valToAdd2) { rate, add in rate + Double(add) }
    }
}
