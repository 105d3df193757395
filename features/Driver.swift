import LarderCore

// The example feature repo: a ride-hailing team ranking drivers. It is the quickstart and
// the fixture the tests share.

/// The join key of a driver.
public let driverID = Column<Int64>("driver_id")

/// A driver of the ride-hailing service.
public let driver = Entity(
    "driver", joinKeys: [driverID], description: "A driver of the ride-hailing service", owner: "ranking@example.com")
