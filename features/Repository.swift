import LarderCore

/// The model that ranks drivers consumes these features.
public let driverRanking = FeatureService("driver_ranking", description: "Features of the driver ranking model") {
    driverHourlyStats
    TransformedConvRate.view
    driverTrips
}

/// Everything `larder apply` registers. `featureSourceTexts` (embedded by the build) lets
/// fingerprints cover the transformations' code.
public let repository = FeatureRepository(sources: featureSourceTexts) {
    driver
    DriverStats.source
    Trips.source
    driverHourlyStats
    driverTrips
    TransformedConvRate.view
    driverRanking
}
