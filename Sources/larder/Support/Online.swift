import LarderOnline

extension Configuration {
    /// The online store at `redisURL`: one Redis server, or a Redis Cluster.
    ///
    /// - Parameter poolSize: connections to the server, or to each primary of a cluster.
    func onlineStore(poolSize: Int) throws -> OnlineStore {
        let url: OnlineRedisURL
        do {
            url = try OnlineRedisURL(redisURL)
        } catch {
            throw ConfigurationError("the Redis URL '\(redisURL)' is invalid: \(error)")
        }
        return OnlineStore(redis: url.client(poolSize: poolSize))
    }
}
