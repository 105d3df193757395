import LarderOnline

extension Configuration {
    /// The online store at `redisURL`.
    func onlineStore(poolSize: Int) throws -> OnlineStore {
        let url: RedisURL
        do {
            url = try RedisURL(redisURL)
        } catch {
            throw ConfigurationError("the Redis URL '\(redisURL)' is invalid: \(error)")
        }
        return OnlineStore(client: RedisClient(configuration: .init(url: url, poolSize: poolSize)))
    }
}
