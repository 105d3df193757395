import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderTestSupport
import Testing
import Yams

@testable import LarderServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The catalog against a running service (real SQLite file, real Redis): its pages at `/ui`
/// and its JSON at `/v1/catalog`, over the example repository with ingested, pushed and
/// materialized data.
@Suite struct CatalogTests {
    /// A service over the example repository: driver_stats ingested from a file three and
    /// four hours before the clock (driver_hourly_stats is then older than its 2-hour ttl),
    /// trips pushed ten and twenty minutes before, both views materialized up to the clock;
    /// then two late driver_stats rows and an incremental run of driver_hourly_stats.
    static func populated(apiToken: String? = nil) async throws -> ServerHarness {
        let server = try await ServerHarness(apiToken: apiToken)
        let stats = try server.directory.write(
            "stats.csv",
            IngestFixtures.header + "\n"
                + [(1001, -240, 0.25), (1002, -240, 0.5), (1001, -180, 0.75)].map { id, minutes, rate in
                    "\(id),\(server.at(minutes: Int64(minutes))),,\(rate),0.9,12"
                }.joined(separator: "\n") + "\n")
        _ = try await server.offline.ingest(source: "driver_stats", file: stats)
        let trips = [(-10, 12.5, 4.0), (-20, 30.0, 10.0)].map { minutes, fare, km in
            #"{"driver_id": 1001, "event_timestamp": "\#(server.at(minutes: Int64(minutes)))", "fare": \#(fare), "distance_km": \#(km)}"#
        }
        let pushed = try await server.post("/v1/push", #"{"source": "trips", "rows": [\#(trips.joined(separator: ","))]}"#, token: apiToken)
        #expect(pushed.status == 200, "\(pushed.text)")
        for view in [Features.driverHourlyStats, Features.driverTrips] {
            let summary = try await server.offline.materialize(view, mode: .range(start: nil, end: server.now))
            // As `larder materialize` does after each run.
            try await AggregationStatistics.record(for: view, run: summary, offline: server.offline)
        }
        // Two older rows arrive late: an incremental run of driver_hourly_stats.
        let late = try server.directory.write(
            "late.csv",
            IngestFixtures.header + "\n"
                + [(1003, -200, 0.125), (1004, -190, 0.875)].map { id, minutes, rate in
                    "\(id),\(server.at(minutes: Int64(minutes))),,\(rate),0.5,3"
                }.joined(separator: "\n") + "\n")
        _ = try await server.offline.ingest(source: "driver_stats", file: late)
        _ = try await server.offline.materialize(Features.driverHourlyStats, mode: .incremental(end: server.now))
        return server
    }

    func object(_ reply: ServerHarness.Reply) throws -> [String: Any] {
        try #require(reply.json as? [String: Any], "\(reply.status): \(reply.text.prefix(500))")
    }

    // MARK: Pages

    @Test func theHomePageShowsCountsActivityAndViewsNeedingAttention() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        let page = try await server.get("/ui")
        #expect(page.status == 200)
        let html = page.text
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        // Counts: 1 entity, 2 sources, 2 feature views, 1 on-demand view, 10 features, 1 service.
        for count in [
            "<span class=\"n\">1</span><span class=\"l\">entities", "<span class=\"n\">2</span><span class=\"l\">sources",
            "<span class=\"n\">2</span><span class=\"l\">feature views", "<span class=\"n\">1</span><span class=\"l\">on-demand views",
            "<span class=\"n\">10</span><span class=\"l\">features", "<span class=\"n\">1</span><span class=\"l\">feature services",
        ] {
            #expect(html.contains(count), "\(count)")
        }
        // The header: home link and the search form.
        #expect(html.contains(#"<a class="home" href="/ui">"#))
        #expect(html.contains(#"<form class="search" method="get" action="/ui/search""#))
        // driver_hourly_stats' newest materialized event is 3 hours old, its ttl 2 hours.
        #expect(html.contains(#"<span class="status">expired</span><a href="/ui/views/driver_hourly_stats">driver_hourly_stats</a>"#))
        #expect(!html.contains(#"<a href="/ui/views/driver_trips">driver_trips</a>: "#), "driver_trips is fresh")
        // Seven definitions added by the one apply; each view's newest run.
        #expect(html.components(separatedBy: "<td>added</td>").count - 1 == 7)
        #expect(
            html.contains(
                #"<td><a href="/ui/views/driver_trips">driver_trips</a></td><td class="num">v1</td><td class="num">2</td><td>full</td>"#))
        #expect(
            html.contains(
                #"<td><a href="/ui/views/driver_hourly_stats">driver_hourly_stats</a></td><td class="num">v1</td><td class="num">2</td><td>incremental</td>"#
            ))
        for link in [
            "/ui/entities/driver", "/ui/sources/driver_stats", "/ui/sources/trips", "/ui/views/transformed_conv_rate",
            "/ui/services/driver_ranking",
        ] {
            #expect(html.contains("href=\"\(link)\""), "\(link)")
        }
        // No script anywhere, and the policy forbids any.
        #expect(!html.contains("<script"))
    }

    @Test func theFeaturePageShowsItsSourceCodeServicesAndHistory() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        let page = try await server.get("/ui/features/driver_trips/fare_per_km")
        #expect(page.status == 200)
        let html = page.text
        #expect(html.contains("<h1>fare_per_km</h1>"))
        #expect(html.contains("Fare per kilometre of the trip (distances under 100 m count as 100 m)"))
        // The declaring call as written in features/Trips.swift, escaped.
        #expect(html.contains("<pre><code>Feature(\n    &quot;fare_per_km&quot;, from: Trips.fare, Trips.distanceKm,"), "\(html)")
        #expect(html.contains("{ fare, km in fare / max(km, 0.1) }"))
        #expect(html.contains(#"<a href="/ui/services/driver_ranking">driver_ranking</a>"#))
        #expect(html.contains(#"<a href="/ui/features/driver_trips/fare_per_km_max_24h">driver_trips:fare_per_km_max_24h</a>"#))
        #expect(html.contains(#"<a class="tag" href="/ui/search?tag=unit%3DEUR%2Fkm">unit=EUR/km</a>"#))
        #expect(html.contains(#"<a href="/ui/sources/trips">fare</a>"#), "column inputs link to the source")
        #expect(html.contains("ranking@example.com"), "the view's owner, as the feature has none")
        #expect(html.contains("<td class=\"num\">v1</td><td>added</td>"))

        let onDemand = try await server.get("/ui/features/transformed_conv_rate/conv_rate_plus_val2").text
        #expect(onDemand.contains("{ rate, add in rate + Double(add) }"))
        #expect(onDemand.contains(#"<a href="/ui/features/driver_hourly_stats/conv_rate">driver_hourly_stats:conv_rate</a>"#))
        #expect(onDemand.contains("val_to_add_2 <code>int64</code> <span class=\"muted\">request field</span>"))

        let aggregation = try await server.get("/ui/features/driver_trips/fare_sum_24h").text
        #expect(aggregation.contains("sum of column fare over 1d, hop 1h"))
        #expect(aggregation.contains("None: an aggregation is declared by its function"))

        let passthrough = try await server.get("/ui/features/driver_hourly_stats/conv_rate").text
        #expect(passthrough.contains("None: the value is the source column’s, unchanged."))
        #expect(passthrough.contains(#"<a href="/ui/features/transformed_conv_rate/conv_rate_plus_val1">"#))
    }

    /// A row feature after two runs: the newest run's summary, its histogram, and drift by run
    /// against the first; an aggregation's over the values served at its run's end.
    @Test func theFeaturePageShowsStatisticsHistogramAndDrift() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        let detail = try object(try await server.get("/v1/catalog/features/driver_hourly_stats/conv_rate"))
        let statistics = try #require(detail["statistics"] as? [String: Any])
        let latest = try #require(statistics["latest"] as? [String: Any])
        // The five ingested rates: 0.25, 0.5, 0.75, then 0.125 and 0.875 late.
        #expect(latest["count"] as? Int == 5)
        #expect(latest["null_count"] as? Int == 0)
        #expect(latest["min"] as? Double == 0.125 && latest["max"] as? Double == 0.875)
        #expect(latest["mean"] as? Double == 0.5)
        let run = try #require((statistics["run"] as? [String: Any])?["id"] as? Int)
        let reference = try #require((statistics["reference"] as? [String: Any])?["run"] as? Int)
        #expect(run > reference)
        let bins = try #require(statistics["histogram"] as? [[String: Any]])
        #expect(bins.compactMap { $0["count"] as? Int }.reduce(0, +) == 5)
        let drift = try #require(statistics["drift"] as? [[String: Any]])
        #expect(drift.compactMap { $0["run"] as? Int } == [run, reference])
        #expect(drift.last?["population_stability_index"] as? Double == 0)
        #expect((drift.first?["population_stability_index"] as? Double ?? 0) > 0)

        let html = try await server.get("/ui/features/driver_hourly_stats/conv_rate").text
        for stat in [("count", "5"), ("nulls", "0"), ("min", "0.125"), ("max", "0.875"), ("mean", "0.5"), ("distinct", "5")] {
            #expect(html.contains("<span class=\"k\">\(stat.0)</span><span class=\"v\">\(stat.1)</span>"), "\(stat)")
        }
        #expect(html.contains("<th class=\"num\">p50</th>"))
        let histogram = try #require(
            html.range(of: #"<svg[^>]*aria-label="Histogram of conv_rate after run \#(run)".*?</svg>"#, options: .regularExpression))
        #expect(html[histogram].components(separatedBy: "<rect class=\"bar\"").count - 1 == bins.count)
        let driftPlot = try #require(
            html.range(of: #"<svg[^>]*aria-label="Drift of conv_rate against the reference run".*?</svg>"#, options: .regularExpression))
        #expect(html[driftPlot].components(separatedBy: "<circle class=\"point\"").count - 1 == 2)
        #expect(html[driftPlot].contains("<polyline class=\"line\""))
        #expect(html.contains("<tr><td class=\"num\">\(reference)</td>"))
        #expect(html.contains("Drift is measured against run \(reference) (the first run with statistics"))

        // trips_1h at driver_trips' run end: one driver, with 2 trips in the hour.
        let trips = try object(try await server.get("/v1/catalog/features/driver_trips/trips_1h"))
        let tripsLatest = try #require((trips["statistics"] as? [String: Any])?["latest"] as? [String: Any])
        #expect(tripsLatest["count"] as? Int == 1 && tripsLatest["max"] as? Int == 2)
        // On-demand features have none, and no section.
        #expect(try object(try await server.get("/v1/catalog/features/transformed_conv_rate/conv_rate_plus_val1"))["statistics"] == nil)
        #expect(!(try await server.get("/ui/features/transformed_conv_rate/conv_rate_plus_val1").text.contains("id=\"statistics\"")))
    }

    @Test func theViewPageDrawsLineageAndFreshness() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        let html = try await server.get("/ui/views/driver_hourly_stats").text
        #expect(html.contains("<h1>driver_hourly_stats</h1>"))
        #expect(html.contains(#"<a href="/ui/entities/driver">driver</a> <span class="muted">keyed by driver_id (int64)</span>"#))
        #expect(html.contains(#"<dt>Time to live</dt><dd>2h</dd>"#))
        #expect(html.contains("<span class=\"status\">expired</span>"))
        // The lineage graph: a box per definition, each a link, and an arrow per edge.
        let lineage = try #require(
            html.range(of: #"<svg[^>]*class="lineage".*?</svg>"#, options: .regularExpression).map { String(html[$0]) })
        for link in [
            "/ui/sources/driver_stats", "/ui/views/driver_hourly_stats", "/ui/views/transformed_conv_rate", "/ui/services/driver_ranking",
        ] {
            #expect(lineage.contains("<a href=\"\(link)\""), "\(link)")
        }
        #expect(lineage.components(separatedBy: "class=\"edge\"").count - 1 == 4)  // source→view, view→odv, view→service, odv→service
        #expect(lineage.contains(#"<g class="node current">"#))
        // Freshness: the range, the watermark, and a plot of the run.
        #expect(html.contains("<dt>Watermark</dt><dd>source rows up to <code>_seq</code> 5</dd>"))
        #expect(html.contains("<dt>Newest materialized event</dt><dd>\(CatalogPages.time(server.at(minutes: -180))) (3h old)</dd>"))
        let plot = try #require(
            html.range(of: #"<svg[^>]*aria-label="Freshness after each materialization run".*?</svg>"#, options: .regularExpression))
        #expect(html[plot].components(separatedBy: "<circle class=\"point\"").count - 1 == 2)
        #expect(html[plot].contains("newest event age"))

        let onDemand = try await server.get("/ui/views/transformed_conv_rate").text
        #expect(onDemand.contains("<div class=\"kind\">on-demand view</div>"))
        #expect(onDemand.contains(#"<a href="/ui/features/driver_hourly_stats/conv_rate">driver_hourly_stats:conv_rate</a>"#))
        #expect(!onDemand.contains("id=\"freshness\""))
    }

    @Test func theServicePageGivesACurlThatWorks() async throws {
        let server = try await Self.populated(apiToken: "s3cret")
        defer { Task { await server.stop() } }
        let html = try await session(server, "GET", "/ui/services/driver_ranking", cookie: "s3cret").body
        #expect(html.contains("<td class=\"num muted\">10</td><td><a href=\"/ui/features/driver_trips/fare_per_km_max_24h\">"))
        #expect(html.contains("curl -sS -X POST &#39;http://127.0.0.1:\(server.port)/v1/features&#39;"))
        #expect(html.contains("-H &quot;Authorization: Bearer $LARDER_API_TOKEN&quot;"))

        let detail = try object(try await server.request("GET", "/v1/catalog/services/driver_ranking", token: "s3cret"))
        // A materialized driver's key, and every request field the on-demand features read.
        let body = try #require(detail["request"] as? String)
        #expect(
            body == #"{"service": "driver_ranking", "entities": [{"driver_id": 1001}], "request": {"val_to_add": 0, "val_to_add_2": 0}}"#)
        let answer = try await server.post("/v1/features", body, token: "s3cret")
        #expect(answer.status == 200, "\(answer.text)")
        let row = try #require(((answer.json as? [String: Any])?["rows"] as? [[String: Any]])?.first?["features"] as? [String: Any])
        #expect((row["trips_1h"] as? [String: Any])?["value"] as? Int == 2)
        // The curl runs as printed, with the token from the environment.
        let curl = try #require(detail["curl"] as? String)
        let output = try await onDedicatedThread { () throws -> String in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", curl]
            process.environment = ["LARDER_API_TOKEN": "s3cret", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(output.contains(#""trips_1h":{"value":2,"status":"present""#), "\(output)")
    }

    @Test func theSourcePageShowsSchemaIngestsAndRows() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        let html = try await server.get("/ui/sources/driver_stats").text
        #expect(html.contains("<dt>Rows</dt><dd>5</dd>"))
        #expect(
            html.contains("<tr><td><code>event_timestamp</code></td><td><code>timestamp</code></td><td>no</td><td>event time</td></tr>"))
        #expect(html.contains("<tr><td><code>created</code></td><td><code>timestamp</code></td><td>yes</td><td>created time</td></tr>"))
        #expect(html.contains("<tr><td><code>driver_id</code></td><td><code>int64</code></td><td>no</td><td>join key</td></tr>"))
        #expect(html.contains("<td><code>\(server.directory.file("stats.csv"))</code></td><td class=\"num\">3</td>"))
        #expect(html.contains("<td>1–3</td>"))
        #expect(html.contains("<td><code>\(server.directory.file("late.csv"))</code></td><td class=\"num\">2</td>"))
        #expect(html.contains("<td>4–5</td>"))
        let trips = try object(try await server.get("/v1/catalog/sources/trips"))
        #expect(trips["row_count"] as? Int == 2)
        let ingests = try #require(trips["ingests"] as? [[String: Any]])
        #expect(ingests.count == 1)
        #expect(ingests.first?["file"] as? String == "push")
        #expect(ingests.first?["first_seq"] as? Int == 1 && ingests.first?["last_seq"] as? Int == 2)

        let entity = try await server.get("/ui/entities/driver").text
        #expect(entity.contains("<tr><td><code>driver_id</code></td><td><code>int64</code></td></tr>"))
        #expect(entity.contains(#"<a href="/ui/views/driver_hourly_stats">driver_hourly_stats</a>"#))
        #expect(entity.contains(#"<a href="/ui/views/driver_trips">driver_trips</a>"#))
    }

    @Test func searchFindsFeaturesByTextTagOwnerAndType() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        func found(_ query: String) async throws -> [String] {
            let reply = try await server.get("/v1/catalog/features" + query)
            #expect(reply.status == 200, "\(query): \(reply.text)")
            return ((reply.json as? [String: Any])?["features"] as? [[String: Any]] ?? []).compactMap { $0["reference"] as? String }
        }
        #expect(try await found("?search=SHARE") == ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"])
        #expect(try await found("?tag=unit%3Dratio") == ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"])
        // The view's tag counts for its features; every condition must hold.
        #expect(try await found("?tag=team=ranking&type=int64") == ["driver_hourly_stats:avg_daily_trips"])
        #expect(try await found("?tag=team=ranking&tag=unit=trips&search=day") == ["driver_hourly_stats:avg_daily_trips"])
        #expect(try await found("?owner=ranking%40example.com").count == 8)  // the views' owner; the on-demand view has none
        #expect(try await found("?type=int64") == ["driver_hourly_stats:avg_daily_trips", "driver_trips:trips_1h"])
        #expect(try await found("").count == 10)
        #expect(try await found("?search=nothing+like+this").isEmpty)
        // Other definitions by the same text (driver_stats' description: "... from the trips warehouse").
        let definitions = (try object(try await server.get("/v1/catalog/features?search=trips"))["definitions"] as? [[String: Any]])?
            .compactMap { $0["name"] as? String }
        #expect(definitions == ["driver_stats", "trips", "driver_hourly_stats", "driver_trips"])
        // Refused filters.
        for bad in ["?type=float", "?tag=novalue"] {
            let reply = try await server.get("/v1/catalog/features" + bad)
            #expect(reply.status == 400, "\(bad): \(reply.text)")
            #expect(reply.errorMessage != nil)
        }

        let page = try await server.get("/ui/search?q=share&type=double").text
        #expect(page.contains("<p class=\"muted\">2 features.</p>"))
        #expect(page.contains(#"<td><a href="/ui/features/driver_hourly_stats/conv_rate">conv_rate</a></td>"#))
        #expect(page.contains(#"<input type="search" name="q" value="share" placeholder="Search features""#))
        #expect(page.contains(#"<option value="double" selected>double</option>"#))
        let tagged = try await server.get("/ui/search?tag=unit%3Dtrips").text
        #expect(tagged.contains(#"<span class="tag">unit=trips <a href="/ui/search" aria-label="Remove tag unit=trips">×</a></span>"#))
        #expect(tagged.contains("<p class=\"muted\">1 feature.</p>"))
        #expect(try await server.get("/ui/search?type=float").status == 400)
    }

    // MARK: Links

    /// From `/ui`, follows every link to this host, once each: every one answers 200 with a
    /// page, and pages of every kind are reached, every feature's among them.
    @Test func everyLinkFromTheHomePageAnswers200() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        var queue = ["/ui"]
        var seen: Set<String> = ["/ui"]
        var failures: [String] = []
        while !queue.isEmpty {
            let path = queue.removeFirst()
            let reply = try await server.get(path)
            guard reply.status == 200 else {
                failures.append("\(path): \(reply.status)")
                continue
            }
            for link in Self.links(in: reply.text) {
                let target = link.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                guard !target.isEmpty, target.hasPrefix("/"), !target.hasPrefix("//"), seen.insert(target).inserted else { continue }
                queue.append(target)
            }
        }
        #expect(failures.isEmpty, "\(failures)")
        for prefix in ["/ui/features/", "/ui/views/", "/ui/services/", "/ui/sources/", "/ui/entities/", "/ui/search"] {
            #expect(seen.contains { $0.hasPrefix(prefix) }, "no page under \(prefix)")
        }
        for feature in Features.repository.allFeatures {
            #expect(seen.contains("/ui/features/\(feature.view)/\(feature.feature)"), "\(feature.reference)")
        }
        // Home, search, 10 features, 3 views, a service, 2 sources, an entity, and searches by tag.
        #expect(seen.count > 20, "\(seen.count) pages")
    }

    /// The `href` values of a page (SVG's links included), their entities decoded.
    static func links(in html: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: #"href="([^"]*)""#)
        return pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)).compactMap { match in
            Range(match.range(at: 1), in: html).map {
                html[$0].replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&#39;", with: "'")
                    .replacingOccurrences(of: "&quot;", with: "\"")
            }
        }
    }

    // MARK: Unknown names

    @Test func unknownNamesAre404PagesAndJSONErrors() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        for path in [
            "/ui/views/nope", "/ui/features/driver_trips/nope", "/ui/features/nope/x", "/ui/services/nope", "/ui/sources/nope",
            "/ui/entities/nope", "/ui/no/such/page",
        ] {
            let reply = try await session(server, "GET", path)
            #expect(reply.status == 404, "\(path)")
            #expect(reply.headers["content-type"]?.hasPrefix("text/html") == true, "\(path)")
            #expect(reply.body.contains("<h1>Not found</h1>"), "\(path)")
        }
        #expect(
            try await server.get("/ui/views/nope").text.contains(
                "unknown view &#39;nope&#39;; known views: driver_hourly_stats, driver_trips, transformed_conv_rate"))
        #expect(try await server.get("/ui/features/driver_trips/nope").text.contains("view driver_trips has no feature &#39;nope&#39;"))
        for (path, message) in [
            ("/v1/catalog/views/nope", "unknown view 'nope'"), ("/v1/catalog/features/driver_trips/nope", "has no feature 'nope'"),
            ("/v1/catalog/features/nope/x", "unknown view 'nope'"), ("/v1/catalog/services/nope", "unknown feature service 'nope'"),
            ("/v1/catalog/sources/nope", "unknown source 'nope'"), ("/v1/catalog/entities/nope", "unknown entity 'nope'"),
        ] {
            let reply = try await server.get(path)
            #expect(reply.status == 404, "\(path)")
            #expect(reply.errorMessage?.contains(message) == true, "\(path): \(reply.text)")
        }
    }

    // MARK: JSON

    @Test func theJSONRoutesAnswerTheCatalog() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        let home = try object(try await server.get("/v1/catalog"))
        #expect(
            home["counts"] as? [String: Int] == [
                "entities": 1, "sources": 2, "feature_views": 2, "on_demand_views": 1, "features": 10, "services": 1,
            ])
        #expect((home["recent_applies"] as? [Any])?.count == 7)
        #expect(
            (home["recent_runs"] as? [[String: Any]])?.compactMap { $0["view"] as? String }.sorted() == [
                "driver_hourly_stats", "driver_trips",
            ])
        let alerts = try #require(home["stale_views"] as? [[String: Any]])
        #expect(alerts.count == 1)
        #expect(alerts.first?["view"] as? String == "driver_hourly_stats" && alerts.first?["status"] as? String == "expired")

        let feature = try object(try await server.get("/v1/catalog/features/driver_trips/fare_per_km"))
        #expect((feature["feature"] as? [String: Any])?["tags"] as? [String: String] == ["unit": "EUR/km"])
        #expect(feature["services"] as? [String] == ["driver_ranking"])
        #expect(feature["read_by"] as? [String] == ["driver_trips:fare_per_km_max_24h"])
        #expect((feature["code"] as? String)?.hasSuffix("{ fare, km in fare / max(km, 0.1) }") == true)
        #expect((feature["code_hash"] as? String)?.count == 16)
        #expect((feature["history"] as? [[String: Any]])?.first?["change"] as? String == "added")

        let view = try object(try await server.get("/v1/catalog/views/driver_hourly_stats"))
        let lineage = try #require(view["lineage"] as? [String: Any])
        #expect(
            (lineage["nodes"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [
                "source:driver_stats", "feature_view:driver_hourly_stats", "on_demand_view:transformed_conv_rate",
                "feature_service:driver_ranking",
            ])
        #expect((lineage["edges"] as? [[String: String]])?.count == 4)
        let materialization = try #require(view["materialization"] as? [String: Any])
        #expect(materialization["newest_event"] as? String == server.at(minutes: -180))
        #expect(materialization["newest_event_age_seconds"] as? Double == 10_800)
        #expect(materialization["seq_watermark"] as? Int == 5)
        #expect(view["ttl_seconds"] as? Double == 7200)
        // Both runs, newest first, with their freshness and statistics.
        let runs = try #require(view["runs"] as? [[String: Any]])
        #expect(runs.map { $0["rows"] as? Int } == [2, 3])
        #expect(runs.map { $0["incremental"] as? Bool } == [true, false])
        #expect(runs.allSatisfy { $0["newest_event"] as? String == server.at(minutes: -180) })
        let statistics = try #require(view["statistics"] as? [String: Any])
        #expect((statistics["runs"] as? [Any])?.count == 2)
        #expect(
            (statistics["features"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == [
                "conv_rate", "acc_rate", "avg_daily_trips",
            ])
        #expect(try object(try await server.get("/v1/catalog/views/transformed_conv_rate"))["statistics"] == nil)
    }

    /// Every `/v1/catalog` path of schemas/openapi.yaml answers, and its answer has every
    /// member the documented schema requires (at the top level and one level down) and no
    /// member it does not document.
    @Test func theOpenAPIDocumentDescribesTheCatalogRoutes() async throws {
        let server = try await Self.populated()
        defer { Task { await server.stop() } }
        let specURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schemas/openapi.yaml")
        let spec = try #require(try Yams.load(yaml: String(contentsOf: specURL, encoding: .utf8)) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: [String: Any]])
        let schemas = try #require((spec["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
        func resolve(_ schema: [String: Any]) -> [String: Any] {
            guard let ref = schema["$ref"] as? String else { return schema }
            return schemas[String(ref.split(separator: "/").last ?? "")] ?? [:]
        }
        let examples = [
            "/v1/catalog": "/v1/catalog", "/v1/catalog/features": "/v1/catalog/features",
            "/v1/catalog/features/{view}/{feature}": "/v1/catalog/features/driver_trips/fare_per_km",
            "/v1/catalog/views/{name}": "/v1/catalog/views/driver_trips",
            "/v1/catalog/services/{name}": "/v1/catalog/services/driver_ranking",
            "/v1/catalog/sources/{name}": "/v1/catalog/sources/trips", "/v1/catalog/entities/{name}": "/v1/catalog/entities/driver",
        ]
        let documented = paths.keys.filter { $0.hasPrefix("/v1/catalog") }
        #expect(Set(documented) == Set(examples.keys))
        for (template, path) in examples {
            let answer = try object(try await server.get(path))
            let get = paths[template]?["get"] as? [String: Any]
            let ok = (get?["responses"] as? [String: Any])?["200"] as? [String: Any]
            let content = (ok?["content"] as? [String: Any])?["application/json"] as? [String: Any]
            let schema = resolve(try #require(content?["schema"] as? [String: Any], "\(template)"))
            let required = schema["required"] as? [String] ?? []
            #expect(!required.isEmpty, "\(template)")
            for member in required { #expect(answer[member] != nil, "\(template): \(member)") }
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for member in answer.keys { #expect(properties[member] != nil, "\(template): \(member) is not documented") }
            for (member, property) in properties {
                let inner = resolve(property)
                guard let value = answer[member] as? [String: Any], let innerRequired = inner["required"] as? [String] else { continue }
                for key in innerRequired { #expect(value[key] != nil, "\(template): \(member).\(key)") }
            }
        }
    }

    // MARK: Login

    struct RawReply {
        var status: Int
        var headers: [String: String]
        var setCookie: [String]
        var body: String
    }

    /// One request over a raw socket (redirects are not followed), with `cookie` as the
    /// session cookie and `token` as the bearer header when given.
    func session(
        _ server: ServerHarness, _ method: String, _ path: String, cookie: String? = nil, token: String? = nil, form: String? = nil
    ) async throws -> RawReply {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nConnection: close\r\n"
        if let cookie { request += "Cookie: theme=dark; larder_session=\(cookie)\r\n" }
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        if let form {
            request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
        } else {
            request += "Content-Length: 0\r\n\r\n"
        }
        let port = server.port
        let raw = request
        let answer = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: LoopbackSocket.exchange(port: port, request: raw, timeout: 10) { _ in false } ?? "")
            }
        }
        guard let end = answer.range(of: "\r\n\r\n") else { throw RawFailure(answer: answer) }
        let lines = answer[..<end.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        var cookies: [String] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "set-cookie" { cookies.append(value) }
            headers[name] = value
        }
        return RawReply(status: status, headers: headers, setCookie: cookies, body: String(answer[end.upperBound...]))
    }

    struct RawFailure: Error, CustomStringConvertible {
        var answer: String
        var description: String { "not an HTTP answer: \(answer.prefix(200))" }
    }

    @Test func withATokenThePagesNeedTheLoginCookieWhichOnlyTheyAccept() async throws {
        let server = try await Self.populated(apiToken: "s3cret")
        defer { Task { await server.stop() } }
        // Without credentials: to the login form, remembering the page.
        let home = try await session(server, "GET", "/ui")
        #expect(home.status == 303)
        #expect(home.headers["location"] == "/ui/login")
        let view = try await session(server, "GET", "/ui/views/driver_trips?x=1")
        #expect(view.status == 303)
        #expect(view.headers["location"] == "/ui/login?next=%2Fui%2Fviews%2Fdriver_trips%3Fx%3D1")
        // An unknown page tells nothing either.
        #expect(try await session(server, "GET", "/ui/views/nope").status == 303)
        let form = try await session(server, "GET", "/ui/login?next=%2Fui%2Fviews%2Fdriver_trips")
        #expect(form.status == 200)
        #expect(form.body.contains(#"<input id="token" type="password" name="token""#))
        #expect(form.body.contains(#"<input type="hidden" name="next" value="/ui/views/driver_trips">"#))
        #expect(!form.body.contains("action=\"/ui/search\""), "no search box before signing in")

        // A wrong token: the form again, 401, a message, no cookie.
        let wrong = try await session(server, "POST", "/ui/login", form: "token=s3cre&next=%2Fui")
        #expect(wrong.status == 401)
        #expect(wrong.body.contains("That is not a token this service accepts."))
        #expect(wrong.setCookie.isEmpty)

        // The right one: the cookie, and back to the page asked for.
        let right = try await session(server, "POST", "/ui/login", form: "token=s3cret&next=%2Fui%2Fviews%2Fdriver_trips")
        #expect(right.status == 303)
        #expect(right.headers["location"] == "/ui/views/driver_trips")
        #expect(right.setCookie == ["larder_session=s3cret; HttpOnly; SameSite=Strict; Path=/"])

        let signedIn = try await session(server, "GET", "/ui/views/driver_trips", cookie: "s3cret")
        #expect(signedIn.status == 200)
        #expect(signedIn.body.contains("<h1>driver_trips</h1>"))
        #expect(signedIn.body.contains(#"<form class="logout" method="post" action="/ui/logout">"#))
        #expect(try await session(server, "GET", "/ui", cookie: "s3cre").status == 303)
        #expect(try await session(server, "GET", "/ui", token: "s3cret").status == 200)
        #expect(try await session(server, "GET", "/ui/views/nope", cookie: "s3cret").status == 404)

        // The cookie opens the pages only: never the API, which a cross-site request could reach.
        let lookup = #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1001}]}"#
        var request = "POST /v1/features HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: larder_session=s3cret\r\n"
        request += "Content-Type: application/json\r\nContent-Length: \(lookup.utf8.count)\r\n\r\n\(lookup)"
        let port = server.port
        let raw = request
        let withCookie = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: LoopbackSocket.exchange(port: port, request: raw, timeout: 10) { _ in false } ?? "")
            }
        }
        #expect(withCookie.hasPrefix("HTTP/1.1 401"), "\(withCookie.prefix(200))")
        #expect(try await session(server, "GET", "/v1/catalog", cookie: "s3cret").status == 401)
        #expect(try await session(server, "GET", "/v1/catalog", token: "s3cret").status == 200)
        #expect(try await server.post("/v1/features", lookup, token: "s3cret").status == 200)

        // Only local pages to go to next; a body over the limit is refused; logging out clears it.
        let away = try await session(server, "POST", "/ui/login", form: "token=s3cret&next=https%3A%2F%2Fevil.example%2F")
        #expect(away.headers["location"] == "/ui")
        let slashes = try await session(server, "POST", "/ui/login", form: "token=s3cret&next=%2F%2Fevil.example")
        #expect(slashes.headers["location"] == "/ui")
        let large = try await session(server, "POST", "/ui/login", form: "token=" + String(repeating: "a", count: 10_000))
        #expect(large.status == 413)
        let out = try await session(server, "POST", "/ui/logout", cookie: "s3cret")
        #expect(out.status == 303)
        #expect(out.headers["location"] == "/ui/login")
        #expect(out.setCookie == ["larder_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"])
    }

    @Test func withoutATokenThePagesAreOpen() async throws {
        let server = try await ServerHarness()
        defer { Task { await server.stop() } }
        let home = try await session(server, "GET", "/ui")
        #expect(home.status == 200)
        #expect(home.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        #expect(!home.body.contains("action=\"/ui/logout\""))
        let login = try await session(server, "GET", "/ui/login")
        #expect(login.status == 303 && login.headers["location"] == "/ui")
        // Nothing materialized or ingested yet: the pages say so.
        #expect(home.body.contains("<span class=\"status\">not-materialized</span>"))
        let source = try await session(server, "GET", "/ui/sources/trips")
        #expect(source.body.contains("Nothing ingested yet"))
    }

    // MARK: Escaping

    enum Hostile {
        static let key = Column<Int64>("k")
        static let value = Column<Double>("v")
        static let entity = Entity("thing", joinKeys: [key], description: "<b>bold</b> & co")
        static let source = Source("events", columns: [key, value], description: "\"quoted\" 'single'")
        static let view = FeatureView(
            "hostile", entity: entity, source: source, ttl: .hours(1), description: "<script>alert('view')</script>",
            owner: "<img src=x onerror=alert(1)>", tags: ["x\"><script>alert(2)</script>": "<i>"]
        ) {
            Feature(value, description: "</td><script>alert('feature')</script>")
        }
        static let service = FeatureService("svc", description: "<svg onload=alert(3)>") { view }
        static let repository = FeatureRepository {
            entity
            source
            view
            service
        }
    }

    @Test func everyTextIsEscaped() async throws {
        let server = try await ServerHarness(repository: Hostile.repository)
        defer { Task { await server.stop() } }
        for path in [
            "/ui", "/ui/views/hostile", "/ui/features/hostile/v", "/ui/services/svc", "/ui/sources/events", "/ui/entities/thing",
            "/ui/search?q=alert", "/ui/search?q=%3Cscript%3E", "/ui/views/%3Cscript%3E",
        ] {
            let html = try await server.get(path).text
            #expect(!html.contains("<script"), "\(path)")
            #expect(!html.contains("<img"), "\(path)")
            #expect(!html.contains("<svg onload"), "\(path)")
            #expect(!html.contains("<b>bold"), "\(path)")
            #expect(!html.contains("\"quoted\""), "\(path)")
        }
        let view = try await server.get("/ui/views/hostile").text
        #expect(view.contains("&lt;script&gt;alert(&#39;view&#39;)&lt;/script&gt;"))
        #expect(view.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(view.contains("x&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;=&lt;i&gt;"))
        #expect(
            try await server.get("/ui/features/hostile/v").text.contains("&lt;/td&gt;&lt;script&gt;alert(&#39;feature&#39;)&lt;/script&gt;")
        )
        #expect(try await server.get("/ui/search?q=%3Cscript%3E").text.contains("value=\"&lt;script&gt;\""))
    }

    @Test func plotsEscapeTheirText() {
        let bars = SVGPlot.bars(
            [.init(label: "<script>", value: 3), .init(label: "a&b", value: 1)], title: "T<>", xLabel: "x\"", yLabel: "y'")
        #expect(!bars.contains("<script"))
        #expect(bars.contains("&lt;script&gt;"))
        #expect(bars.contains("a&amp;b"))
        #expect(bars.contains("aria-label=\"T&lt;&gt;\""))
        #expect(bars.components(separatedBy: "<rect class=\"bar\"").count - 1 == 2)
        let line = SVGPlot.line(
            [.init(x: 0, y: 1, label: "</svg><script>"), .init(x: 1, y: 2, label: "b")], title: "t", xLabel: "x", yLabel: "y",
            xTick: { "\($0)<" }, yTick: { "\($0)" })
        #expect(!line.contains("<script"))
        #expect(line.contains("&lt;/svg&gt;&lt;script&gt;"))
        #expect(line.contains("<polyline class=\"line\""))
        #expect(SVGPlot.ticks(0, 10) == [0, 2, 4, 6, 8, 10])
        #expect(SVGPlot.ticks(0, 37) == [0, 10, 20, 30, 40])
        #expect(SVGPlot.ticks(0, 0.37) == [0, 0.1, 0.2, 0.3, 0.4])
        #expect(SVGPlot.durationTicks(0, 10_818) == [0, 3600, 7200, 10_800, 14_400])
        #expect(SVGPlot.durationTicks(0, 90) == [0, 20, 40, 60, 80, 100])
    }
}
